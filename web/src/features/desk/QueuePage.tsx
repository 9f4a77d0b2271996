// The queue: every request (workflows:read), filtered by type, state,
// assignee, full-text search and SLA status (GET /requests filters, all
// evaluated by the server, so "Show more" pages through the matches), live
// from `queue:<type>` of the chosen type or of every type. Each row shows
// its most urgent SLA clock, counting down.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Button, Group, NativeSelect, TextInput } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { useMe } from "../../api/me";
import type { LiveMessage } from "../../live/hooks";
import { CursorTable } from "../../ui/CursorTable";
import { Page } from "../../ui/Page";
import { LiveTopics } from "../portal/LiveTopics";
import { useNameOf } from "../portal/RequestParts";
import { SlaBadge } from "../portal/SlaClock";
import { requestColumns } from "../portal/requestColumns";
import { assigneeOf, useRequestTypes, type ServiceRequest } from "../portal/requestsApi";
import { humanize } from "../portal/words";
import { slaFilters, useQueue, useWorkflowStates, type SlaFilter } from "./deskApi";

const assignees = [
  { value: "", label: "Anyone" },
  { value: "me", label: "Me" },
  { value: "unassigned", label: "Unassigned" },
  { value: "role:staff", label: "Staff queue" },
  { value: "role:admin", label: "Admin queue" },
  { value: "role:approver", label: "Approver queue" },
];

const slaLabels: Record<SlaFilter, string> = {
  breached: "Breached",
  warning: "Warning (close to breach)",
  running: "Running",
  paused: "Paused",
  met: "Met or stopped",
  none: "No SLA",
};
const slaChoices = [{ value: "", label: "Any" }, ...slaFilters.map((v) => ({ value: v, label: slaLabels[v] }))];

export default function QueuePage() {
  const me = useMe();
  const [params, setParams] = useSearchParams();
  const f = {
    type: params.get("type") ?? "",
    state: params.get("state") ?? "",
    assignee: params.get("assignee") ?? "",
    q: params.get("q") ?? "",
  };
  const slaParam = params.get("sla") ?? "";
  const sla = (slaFilters as readonly string[]).includes(slaParam) ? (slaParam as SlaFilter) : undefined;
  const [q, setQ] = useState(f.q);
  useEffect(() => setQ(f.q), [f.q]);
  const types = useRequestTypes();
  const states = useWorkflowStates(me.can("desk"));
  const nameOf = useNameOf();
  const filter = {
    type: f.type || undefined,
    state: f.state || undefined,
    assignee: f.assignee || undefined,
    q: f.q || undefined,
    sla,
  };
  const list = useQueue(filter, 50);
  const qc = useQueryClient();

  // a burst of events refetches the queue once
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refresh = () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void qc.invalidateQueries({ queryKey: ["requests", "queue"] });
    }, 200);
  };
  const onMessage = (m: LiveMessage) => {
    if (m.kind === "reset" || (m.kind === "subscribed" && !m.resumed)) refresh();
  };
  // the type's topic, not the state's: a request that leaves the state is news too
  const topics = f.type ? [`queue:${f.type}`] : (types.data ?? []).map((t) => `queue:${t.type}`);

  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    if (k === "type") next.delete("state");
    setParams(next, { replace: true });
  };
  const search = (e: FormEvent) => {
    e.preventDefault();
    set("q", q.trim());
  };

  const stateOptions = f.type
    ? (states.data?.[f.type] ?? [])
    : [...new Set(Object.values(states.data ?? {}).flat())].sort();
  const typeName = (t: string) => types.data?.find((x) => x.type === t)?.name ?? t;
  const fetchedAt = list.dataUpdatedAt;
  const cols = requestColumns((id) => `/desk/requests/${id}`, typeName, { type: "md", opened: "md" });
  const assigneeName = (r: ServiceRequest) => {
    const a = assigneeOf(r);
    return a?.user ? nameOf(a.user) : a?.role ? `${a.role} queue` : "—";
  };

  return (
    <Page title="Desk">
      <LiveTopics topics={topics} onEvent={refresh} onMessage={onMessage} />
      <form onSubmit={search} role="search" aria-label="Filter the queue">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <NativeSelect
            label="Type"
            value={f.type}
            onChange={(e) => set("type", e.currentTarget.value)}
            data={[{ value: "", label: "All types" }, ...(types.data ?? []).map((t) => ({ value: t.type, label: t.name }))]}
            data-testid="filter-type"
          />
          <NativeSelect
            label="State"
            value={f.state}
            onChange={(e) => set("state", e.currentTarget.value)}
            data={[{ value: "", label: "Any state" }, ...stateOptions.map((s) => ({ value: s, label: humanize(s) }))]}
            data-testid="filter-state"
          />
          <NativeSelect
            label="Assignee"
            value={f.assignee}
            onChange={(e) => set("assignee", e.currentTarget.value)}
            data={assignees}
            data-testid="filter-assignee"
          />
          <NativeSelect
            label="SLA"
            value={sla ?? ""}
            onChange={(e) => set("sla", e.currentTarget.value)}
            data={slaChoices}
            data-testid="filter-sla"
          />
          <TextInput label="Search" value={q} onChange={(e) => setQ(e.currentTarget.value)} placeholder="Title, details, comments" miw={200} data-testid="filter-q" />
          <Button type="submit" variant="default">
            Search
          </Button>
        </Group>
      </form>
      <CursorTable list={list} what="the queue" minWidth={500} testId="queue"
        tableProps={{ verticalSpacing: "sm", highlightOnHover: true }}
        columns={[
          cols.title,
          cols.type,
          cols.state,
          { header: "Assignee", cell: assigneeName, visibleFrom: "sm" },
          { header: "SLA", cell: (r) => <SlaBadge sla={r.sla} fetchedAt={fetchedAt} /> },
          cols.opened,
        ]}
        rowProps={(r) => ({ "data-testid": "queue-row", "data-id": r.id })}
        rowKey={(r) => r.id}
        empty="No requests match."
      />
    </Page>
  );
}
