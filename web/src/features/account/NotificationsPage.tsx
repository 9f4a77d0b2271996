// The inbox: newest first with cursor paging, an unread filter, mark one or
// all read; new ones arrive live on the `notifications` topic.
import { Anchor, Badge, Button, Center, Group, Paper, SegmentedControl, Stack, Text } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../../api/client";
import { pageQuery, useCursorList } from "../../api/lists";
import { useMe } from "../../api/me";
import { useLiveQuery } from "../../live/hooks";
import { unreadKey } from "../../app/NotificationBell";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime } from "../../ui/format";
import { subjectPath } from "./links";
import { Loading } from "../../ui/Loading";

interface Notification {
  id: string;
  kind: string;
  category: string;
  title: string;
  body: string;
  link: string | null;
  subject: { type?: string; id?: string } | null;
  read: boolean;
  created_at: string;
}
interface NotificationPage {
  data: Notification[];
  next_cursor: string | null;
}

const listKey = ["notifications", "list"];

function NotificationItem({ n, onRead, role }: { n: Notification; onRead: (id: string) => void; role?: string }) {
  const to = subjectPath(n.subject, role);
  const title = n.title.replace(/^\[[^\]]*\]\s*/, ""); // the e-mail subject's "[Service Flow]" tag
  return (
    <Paper withBorder p="md" component="li" data-testid="notification-item" data-read={n.read}>
      <Group justify="space-between" align="flex-start" wrap="wrap" gap="xs">
        <Stack gap={2} style={{ flex: "1 1 240px" }}>
          <Group gap="xs">
            {!n.read && (
              <Badge color="blue.8" size="sm">
                New
              </Badge>
            )}
            <Text fw={n.read ? 400 : 700}>{to ? <Anchor component={Link} to={to}>{title}</Anchor> : title}</Text>
          </Group>
          <Text size="xs" c="dimmed">
            {dateTime(n.created_at)} · {n.category}
          </Text>
        </Stack>
        {!n.read && (
          <Button size="compact-sm" variant="light" onClick={() => onRead(n.id)} aria-label={`Mark “${title}” as read`}>
            Mark read
          </Button>
        )}
      </Group>
    </Paper>
  );
}

export default function NotificationsPage() {
  const me = useMe();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const unreadOnly = params.get("filter") === "unread";
  const key = [...listKey, unreadOnly ? "unread" : "all"];
  useLiveQuery("notifications", listKey);
  const list = useCursorList({
    queryKey: key,
    fetchPage: (cursor) =>
      unwrap(api.GET("/api/v1/notifications", { params: { query: pageQuery(20, cursor, { unread: unreadOnly ? "true" : undefined }) } })) as Promise<NotificationPage>,
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: listKey });
    void qc.invalidateQueries({ queryKey: unreadKey });
  };
  const markRead = useMutation({
    mutationFn: (id: string) => unwrap(api.POST("/api/v1/notifications/{id}/read", { params: { path: { id } } })),
    onSuccess: refresh,
  });
  const readAll = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/notifications/read-all")),
    onSuccess: refresh,
  });
  const items = list.items;

  return (
    <Page
      title="Notifications"
      actions={
        <Button variant="default" onClick={() => readAll.mutate()} loading={readAll.isPending} data-testid="read-all">
          Mark all read
        </Button>
      }
    >
      <SegmentedControl
        value={unreadOnly ? "unread" : "all"}
        onChange={(v) => setParams(v === "unread" ? { filter: "unread" } : {})}
        data={[
          { label: "All", value: "all" },
          { label: "Unread", value: "unread" },
        ]}
        aria-label="Show"
        w="fit-content"
      />
      {list.isError && <QueryError error={list.error} what="notifications" />}
      {list.isPending ? (
        <Loading label="Loading notifications" />
      ) : items.length === 0 ? (
        <Text role="status">{unreadOnly ? "Nothing unread." : "No notifications yet."}</Text>
      ) : (
        <Stack component="ul" gap="sm" p={0} m={0} style={{ listStyle: "none" }} aria-label="Notifications">
          {items.map((n) => (
            <NotificationItem key={n.id} n={n} role={me.user?.role} onRead={(id) => markRead.mutate(id)} />
          ))}
        </Stack>
      )}
      {list.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>
            Show more
          </Button>
        </Center>
      )}
    </Page>
  );
}
