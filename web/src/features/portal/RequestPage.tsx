// One request as its requester sees it: state (live), details, approval,
// SLA, the actions they may take, the timeline and comments. Everything
// follows `request:<id>`: an approval, a comment or a move by someone else
// shows without a reload.
import { Anchor, Grid, Group, Stack, Text } from "@mantine/core";
import { Link, useParams } from "react-router-dom";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime } from "../../ui/format";
import { ActionsForm, ApprovalSummary, CommentForm, RequestData, RequestTimeline } from "./RequestParts";
import { SlaPanel } from "./SlaClock";
import { useRequest, useRequestType } from "./requestsApi";
import { StateBadge } from "./words";

export default function RequestPage() {
  const { id = "" } = useParams();
  const q = useRequest(id);
  const type = useRequestType(q.data?.type);
  if (q.isPending)
    return (
      <Loading label="Loading the request" />
    );
  if (q.isError) return <QueryError error={q.error} what="this request" />;
  const r = q.data;
  return (
    <Page title={r.title}>
      <Anchor component={Link} to="/portal/requests">
        ← My requests
      </Anchor>
      <Group gap="sm" aria-live="polite" wrap="wrap">
        <Text>State:</Text>
        <StateBadge request={r} testId="request-state" />
        <Text size="sm" c="dimmed">
          {type.type?.name ?? r.type} · opened {dateTime(r.created_at)}
        </Text>
      </Group>
      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: 7 }} order={{ base: 2, md: 1 }}>
          <Stack gap="md">
            <RequestData request={r} />
            <ApprovalSummary request={r} />
            <RequestTimeline request={r} />
            <CommentForm request={r} />
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }} order={{ base: 1, md: 2 }}>
          <Stack gap="md">
            <ActionsForm request={r} />
            <SlaPanel sla={r.sla} fetchedAt={q.dataUpdatedAt} />
          </Stack>
        </Grid.Col>
      </Grid>
    </Page>
  );
}
