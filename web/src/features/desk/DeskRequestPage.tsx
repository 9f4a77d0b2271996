// A request as the desk works it: state, SLA clocks (counting down, red on
// breach, live), the actions the caller may take, assignment, the approval
// decision when the caller has a task, the full timeline (internal notes
// marked as such) and comments or internal notes. Follows `request:<id>`
// (staff also get its internal notes there).
import { Anchor, Grid, Group, Paper, Stack, Text } from "@mantine/core";
import { Link, useParams } from "react-router-dom";
import { useMe } from "../../api/me";
import { useDeferredData } from "../../app/lazyPage";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime } from "../../ui/format";
import { ActionsForm, ApprovalSummary, RequestData, RequestTimeline, useNameOf } from "../portal/RequestParts";
import { SlaPanel } from "../portal/SlaClock";
import { approvalsOf, useRequest, useRequestType } from "../portal/requestsApi";
import { StateBadge } from "../portal/words";
import { AssignmentPanel } from "./AssignmentPanel";
import { DecisionForm } from "./DecisionForm";
import { DeskCommentForm } from "./DeskCommentForm";
import { mayDecide } from "./deskApi";

export default function DeskRequestPage() {
  const { id = "" } = useParams();
  const me = useMe();
  const q = useRequest(id);
  // drawn with its data in slices, not one long task (app/lazyPage.ts, "deferred")
  const r = useDeferredData(q.data);
  const type = useRequestType(r?.type);
  const nameOf = useNameOf(r?.created_by);
  if (q.isError) return <QueryError error={q.error} what="this request" />;
  if (!r)
    return (
      <Loading label="Loading the request" />
    );
  const chain = approvalsOf(r);
  const decide = mayDecide(chain, me.user, r.created_by);
  const agent = me.can("desk");
  // who the server lets write and read internal notes (workflows:read)
  const mayNote = !!me.user && ["staff", "approver", "admin"].includes(me.user.role);
  return (
    <Page title={r.title}>
      <Group gap="md">
        {agent && (
          <Anchor component={Link} to="/desk">
            ← Queue
          </Anchor>
        )}
        <Anchor component={Link} to="/desk/approvals">
          {agent ? "Approvals" : "← Approvals"}
        </Anchor>
      </Group>
      <Group gap="sm" aria-live="polite" wrap="wrap">
        <Text>State:</Text>
        <StateBadge request={r} testId="request-state" />
        <Text size="sm" c="dimmed">
          {type.type?.name ?? r.type} · opened {dateTime(r.created_at)} by {nameOf(r.created_by)} · {r.id}
        </Text>
      </Group>
      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: 7 }} order={{ base: 2, md: 1 }}>
          <Stack gap="md">
            {decide && (
              <Paper withBorder p="md" data-testid="decision">
                <Text component="h2" fw={600} size="md" mb="xs">
                  Your approval: {chain?.pending?.name}
                </Text>
                <DecisionForm requestId={r.id} title={r.title} requester={r.created_by} />
              </Paper>
            )}
            <RequestData request={r} />
            <ApprovalSummary request={r} />
            <RequestTimeline request={r} full />
            <DeskCommentForm request={r} mayNote={mayNote} />
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }} order={{ base: 1, md: 2 }}>
          <Stack gap="md">
            <SlaPanel sla={r.sla} fetchedAt={q.dataUpdatedAt} />
            <ActionsForm request={r} />
            <AssignmentPanel request={r} />
          </Stack>
        </Grid.Col>
      </Grid>
    </Page>
  );
}
