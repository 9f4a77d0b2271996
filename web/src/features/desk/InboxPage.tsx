// The approvals inbox: the open tasks the caller may decide (GET
// /approvals?assignee=me), newest first, filled live from the `approvals`
// topic as requests arrive at a level; approve, reject or delegate with a
// comment right here.
import { useRef } from "react";
import { Anchor, Badge, Button, Card, Center, Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useLive } from "../../live/hooks";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime } from "../../ui/format";
import { useDeferredData } from "../../app/lazyPage";
import { useRequestTypes, type InboxItem, type RequestType } from "../portal/requestsApi";
import { humanize } from "../portal/words";
import { DecisionForm } from "./DecisionForm";
import { useInbox } from "./deskApi";
import { cursorItems } from "../../api/lists";

/** The first few values of the request, labelled by its type's fields. */
function Summary({ item, type }: { item: InboxItem; type?: RequestType }) {
  const data = item.request.data ?? {};
  const fields = type?.fields ?? [];
  const keys = [...fields.map((f) => f.name).filter((k) => k in data), ...Object.keys(data).filter((k) => !fields.some((f) => f.name === k))];
  if (!keys.length) return null;
  return (
    <Stack gap={2}>
      {keys.slice(0, 4).map((k) => {
        const f = fields.find((x) => x.name === k);
        const v = data[k];
        return (
          <Text size="sm" key={k} lineClamp={2}>
            <Text span fw={600}>
              {f?.label || humanize(k)}:
            </Text>{" "}
            {typeof v === "object" ? JSON.stringify(v) : String(v)}
          </Text>
        );
      })}
    </Stack>
  );
}

export default function InboxPage() {
  const inbox = useInbox();
  const types = useRequestTypes();
  const qc = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refresh = () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void qc.invalidateQueries({ queryKey: ["approvals", "inbox"] });
    }, 150);
  };
  useLive("approvals", refresh, (m) => {
    if (m.kind === "reset" || (m.kind === "subscribed" && !m.resumed)) refresh();
  });
  // drawn with its data in slices, not one long task (app/lazyPage.ts, "deferred")
  const data = useDeferredData(inbox.data);
  const items = cursorItems(data);
  return (
    <Page
      title="Approvals"
      actions={data && <Badge size="lg" variant="outline" data-testid="inbox-count">{items.length} waiting</Badge>}
    >
      {inbox.isError && <QueryError error={inbox.error} what="your approvals" />}
      {!data && !inbox.isError ? (
        <Loading label="Loading your approvals" />
      ) : items.length === 0 ? (
        <Text role="status" data-testid="inbox-empty">
          Nothing waits for your approval. New requests appear here as they arrive.
        </Text>
      ) : (
        <SimpleGrid cols={{ base: 1, lg: 2 }} data-testid="inbox" aria-live="polite">
          {items.map((it) => {
            const type = types.data?.find((t) => t.type === it.request.type);
            return (
              <Card key={`${it.request.id}-${it.chain}-${it.level}`} withBorder padding="md" data-testid="inbox-item" data-request-id={it.request.id}>
                <Stack gap="xs">
                  <Group justify="space-between" wrap="nowrap" align="flex-start">
                    <Title order={2} size="h4">
                      <Anchor component={Link} to={`/desk/requests/${it.request.id}`}>
                        {it.request.title}
                      </Anchor>
                    </Title>
                    <Badge variant="filled" color="yellow.5" autoContrast>
                      {humanize(it.name)}
                    </Badge>
                  </Group>
                  <Text size="xs" c="dimmed">
                    {type?.name ?? it.request.type} · waiting since {dateTime(it.requested_at)}
                    {it.delegated_from ? " · delegated to you" : ""}
                  </Text>
                  <Summary item={it} type={type} />
                  <DecisionForm requestId={it.request.id} title={it.request.title} />
                </Stack>
              </Card>
            );
          })}
        </SimpleGrid>
      )}
      {data && inbox.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void inbox.fetchNextPage()} loading={inbox.isFetchingNextPage}>
            Show more
          </Button>
        </Center>
      )}
    </Page>
  );
}
