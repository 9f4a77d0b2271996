// The pieces of a request's screen shared by the portal and the desk: its
// data (labelled by the type's fields), the approval chain, the timeline of
// its events, the comment form and the actions the caller may take.
import { memo, useState, type FormEvent, type ReactElement } from "react";
import { Badge, Button, Group, Paper, Stack, Table, Text, Timeline } from "@mantine/core";
import { AutoTextarea } from "../../ui/AutoTextarea";
import { useMe } from "../../api/me";
import { dateTime } from "../../ui/format";
import { Loading } from "../../ui/Loading";
import { FormAlert, QueryError, useFormErrors } from "../../ui/errors";
import {
  approvalsOf,
  useRequestEvents,
  useRequestType,
  useRequestWrites,
  useUsers,
  type ApprovalTask,
  type RequestEvent,
  type ServiceRequest,
} from "./requestsApi";
import { customerSees, eventSentence, humanize, type NameOf } from "./words";

function SectionTitle({ children }: { children: string }) {
  return (
    <Text component="h2" fw={600} size="md" mb="xs">
      {children}
    </Text>
  );
}

/**
 * "you", "the system", a user's name (staff and admins may list users), "the
 * requester", or for others who it was in general.
 */
export function useNameOf(requester?: string): NameOf {
  const me = useMe();
  const mayList = me.user?.role === "staff" || me.user?.role === "admin";
  const users = useUsers(mayList);
  return (id) => {
    if (!id) return "";
    if (id === me.user?.id) return "you";
    if (id === "system") return "the system";
    const u = users.data?.find((x) => x.id === id);
    if (u) return u.name || u.email;
    if (id === requester) return "the requester";
    return me.user?.role === "customer" ? "the service desk" : id;
  };
}

/**
 * A panel of the request, drawn again only when a member of the request it
 * reads (`keys`) or another of its props changed. Every refetch of the
 * request (each live event, and the catch-up read when its subscription
 * starts) gives a new object, since its SLA view carries the server's clock,
 * while its members keep their identity when equal (TanStack Query's
 * structural sharing): without this each refetch drew every panel and form
 * of the screen again, a long task on a slow phone (bench/README.md).
 */
export function memoOn<P extends { request: ServiceRequest }>(
  panel: (props: P) => ReactElement | null,
  keys: Array<keyof ServiceRequest>,
) {
  return memo(panel, (a, b) => {
    const names = Object.keys(b) as Array<keyof P>;
    if (names.length !== Object.keys(a).length) return false;
    if (names.some((k) => k !== "request" && a[k] !== b[k])) return false;
    return keys.every((k) => a.request[k] === b.request[k]);
  });
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** The request's data, labelled as its type's form labels them. */
export const RequestData = memoOn(function RequestData({ request }: { request: ServiceRequest }) {
  const t = useRequestType(request.type).type;
  const data = (request.data ?? {}) as Record<string, unknown>;
  const fields = t?.fields ?? [];
  const known = new Set(fields.map((f) => f.name));
  const rows: [string, string, unknown][] = [
    ...fields.filter((f) => f.name in data).map((f) => [f.name, f.label || humanize(f.name), data[f.name]] as [string, string, unknown]),
    ...Object.keys(data)
      .filter((k) => !known.has(k))
      .map((k) => [k, humanize(k), data[k]] as [string, string, unknown]),
  ];
  return (
    <Paper withBorder p="md">
      <SectionTitle>Details</SectionTitle>
      {rows.length === 0 ? (
        <Text size="sm" c="dimmed">
          No details given.
        </Text>
      ) : (
        <Table variant="vertical" layout="fixed" withRowBorders={false} data-testid="request-data">
          <Table.Tbody>
            {rows.map(([k, label, v]) => (
              <Table.Tr key={k}>
                <Table.Th className="request-data-label">{label}</Table.Th>
                <Table.Td style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere" }} data-field={k}>
                  {show(v)}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Paper>
  );
}, ["type", "data"]);

const decisionWords: Record<string, string> = {
  approved: "Approved",
  rejected: "Rejected",
  delegated: "Delegated",
  closed: "Closed",
};

function taskWho(t: ApprovalTask, nameOf: NameOf): string {
  if (t.assignee.user) return nameOf(t.assignee.user);
  return `any ${t.assignee.role}`;
}

/** The latest approval chain: its status, each level's tasks and decisions. */
export const ApprovalSummary = memoOn(function ApprovalSummary({ request }: { request: ServiceRequest }) {
  const chain = approvalsOf(request);
  const nameOf = useNameOf(request.created_by);
  if (!chain) return null;
  const levels = new Map<number, ApprovalTask[]>();
  for (const t of chain.tasks ?? []) levels.set(t.level, [...(levels.get(t.level) ?? []), t]);
  const color =
    ({ pending: "yellow.5", approved: "teal.9", rejected: "red.9", cancelled: "gray.7" } as Record<string, string>)[
      chain.status
    ] ?? "gray.7";
  return (
    <Paper withBorder p="md" data-testid="approvals">
      <Group justify="space-between" mb="xs">
        <SectionTitle>Approval</SectionTitle>
        <Badge color={color} autoContrast variant="filled" data-testid="approval-status" data-status={chain.status}>
          {chain.status}
        </Badge>
      </Group>
      {chain.pending && (
        <Text size="sm" mb="xs" data-testid="approval-pending">
          Waiting for {humanize(chain.pending.name)}: {chain.pending.approved} of {chain.pending.needed} approval
          {chain.pending.needed === 1 ? "" : "s"}
        </Text>
      )}
      <Stack gap="xs">
        {[...levels.entries()].map(([level, tasks]) => (
          <div key={level}>
            <Text size="sm" fw={600}>
              {humanize(tasks[0]?.name ?? "")}
            </Text>
            {tasks
              .filter((t) => t.decision !== "closed" || tasks.length === 1)
              .map((t, i) => (
              <Text size="sm" key={i}>
                {t.decision ? (
                  <>
                    {decisionWords[t.decision] ?? t.decision} by {nameOf(t.decided_by) || taskWho(t, nameOf)}
                    {t.decided_at ? ` · ${dateTime(t.decided_at)}` : ""}
                    {t.comment ? ` · “${t.comment}”` : ""}
                  </>
                ) : (
                  <>
                    Waiting for {taskWho(t, nameOf)}
                    {t.delegated_from ? ` (delegated by ${nameOf(t.delegated_from)})` : ""}
                  </>
                )}
              </Text>
            ))}
          </div>
        ))}
      </Stack>
    </Paper>
  );
}, ["approvals", "created_by"]);

function eventText(e: RequestEvent): string | null {
  const d = e.data as Record<string, unknown>;
  if ((e.type === "request.commented" || e.type === "request.noted") && typeof d.body === "string") return d.body;
  if (typeof d.comment === "string" && d.comment) return d.comment;
  return null;
}

/** Every step of the request (GET …/events), oldest first, refreshed live with the request. */
export const RequestTimeline = memoOn(function RequestTimeline({ request, full = false }: { request: ServiceRequest; full?: boolean }) {
  const events = useRequestEvents(request.id);
  const nameOf = useNameOf(request.created_by);
  if (events.isError) return <QueryError error={events.error} what="the history" />;
  // the screen is not shown (tests/web/harness/ready.ts) before its history is
  if (events.isPending)
    return (
      <Paper withBorder p="md">
        <SectionTitle>Timeline</SectionTitle>
        <Loading label="Loading the history" />
      </Paper>
    );
  const list = (events.data?.data ?? []).filter((e) => full || customerSees(e.type));
  const items = list
    .map((e) => {
      const d = e.data as Record<string, unknown>;
      // a workflow's own actions (on_enter…) name when they ran, not who
      const by = d.by ?? (d.on ? "system" : (e.meta as Record<string, unknown> | undefined)?.actor);
      const data = { ...(e.data as Record<string, unknown>), by };
      return { e, sentence: eventSentence({ type: e.type, data }, nameOf), text: eventText(e) };
    })
    .filter((x) => x.sentence !== null);
  return (
    <Paper withBorder p="md">
      <SectionTitle>Timeline</SectionTitle>
      <Timeline bulletSize={12} lineWidth={2} active={items.length - 1} data-testid="timeline">
        {items.map(({ e, sentence, text }) => (
          <Timeline.Item key={e.id} title={sentence} data-type={e.type}>
            {e.type === "request.noted" && (
              // only staff are ever sent one (GET …/events, request:<id>): said in words, not colour alone
              <Badge color="yellow.3" autoContrast variant="filled" size="sm" mt={2} data-testid="internal-label">
                Internal — not visible to the requester
              </Badge>
            )}
            {text && (
              <Text size="sm" style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere" }}>
                {text}
              </Text>
            )}
            <Text size="xs" c="dimmed">
              {dateTime(e.at)}
            </Text>
          </Timeline.Item>
        ))}
      </Timeline>
    </Paper>
  );
}, ["id", "created_by"]);

/** Adds a comment (an event on the request, seen by everyone who sees the request). */
export const CommentForm = memoOn(function CommentForm({ request, label = "Add a comment" }: { request: ServiceRequest; label?: string }) {
  const { comment } = useRequestWrites(request.id);
  const errs = useFormErrors();
  const [body, setBody] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    comment.mutate(body, { onSuccess: () => setBody(""), onError: (x) => errs.setError(x) });
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate aria-label="Comment">
        <Stack gap="xs">
          <FormAlert error={errs.error} fields={["body"]} />
          <AutoTextarea
            label={label}
            name="body"
            minRows={2}
            maxLength={4000}
            value={body}
            onChange={(e) => setBody(e.currentTarget.value)}
            error={errs.fieldError("body")}
            data-testid="comment-body"
          />
          <Group justify="flex-end">
            <Button type="submit" loading={comment.isPending} disabled={!body.trim()} data-testid="comment-submit">
              Post comment
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}, ["id"]);

/** The transitions the caller may take now (available_actions), with an optional comment. */
export const ActionsForm = memoOn(function ActionsForm({ request }: { request: ServiceRequest }) {
  const { transition } = useRequestWrites(request.id);
  const errs = useFormErrors();
  const [comment, setComment] = useState("");
  const actions = request.available_actions ?? [];
  if (actions.length === 0) return null;
  const take = (action: string) => {
    errs.clear();
    transition.mutate(
      { action, comment: comment.trim() || undefined, version: request.version },
      { onSuccess: () => setComment(""), onError: (x) => errs.setError(x) },
    );
  };
  return (
    <Paper withBorder p="md" data-testid="actions">
      <form onSubmit={(e) => e.preventDefault()} noValidate aria-label="Actions">
        <Stack gap="xs">
          <SectionTitle>Actions</SectionTitle>
          <FormAlert error={errs.error} fields={["comment"]} />
          <AutoTextarea
            label="Comment with the action (optional)"
            name="comment"
            minRows={1}
            maxLength={2000}
            value={comment}
            onChange={(e) => setComment(e.currentTarget.value)}
            error={errs.fieldError("comment")}
          />
          <Group gap="xs">
            {actions.map((a) => (
              <Button
                key={a}
                variant={a === actions[0] ? "filled" : "default"}
                loading={transition.isPending && transition.variables?.action === a}
                onClick={() => take(a)}
                data-testid={`action-${a}`}
              >
                {humanize(a)}
              </Button>
            ))}
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}, ["id", "available_actions", "version"]);
