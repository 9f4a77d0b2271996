// "My requests": the caller's own requests, newest first, with their state,
// kept current live: each open request on screen follows `request:<id>`
// (at most MAX_LIVE of them) and a notification about a request (approved,
// commented, …) refreshes the list as well.
import { useState, type FormEvent } from "react";
import { Anchor, Button, Group, NativeSelect, TextInput } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useLive } from "../../live/hooks";
import { CursorTable } from "../../ui/CursorTable";
import { Page } from "../../ui/Page";
import { LiveTopics } from "./LiveTopics";
import { PortalNav } from "./PortalNav";
import { requestColumns } from "./requestColumns";
import { useRequestTypes, useRequests } from "./requestsApi";

const MAX_LIVE = 20;

export default function MyRequestsPage() {
  const [type, setType] = useState("");
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const types = useRequestTypes();
  const qc = useQueryClient();
  const list = useRequests("mine", { type: type || undefined, q: search || undefined, createdBy: "me" });
  const refresh = () => void qc.invalidateQueries({ queryKey: ["requests", "mine"] });
  useLive("notifications", (ev) => {
    const subject = (ev.data as { subject?: { type?: string } }).subject;
    if (ev.type === "notification.created" && subject?.type === "request") refresh();
  });
  const typeName = (t: string) => types.data?.find((x) => x.type === t)?.name ?? t;
  const cols = requestColumns((id) => `/portal/requests/${id}`, typeName, { type: "sm", opened: "sm" });
  const live = list.items.filter((r) => !r.final).slice(0, MAX_LIVE).map((r) => `request:${r.id}`);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSearch(q.trim());
  };
  return (
    <Page title="My requests" actions={<PortalNav />}>
      <LiveTopics topics={live} onEvent={refresh} />
      <form onSubmit={submit} role="search" aria-label="Filter my requests">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <NativeSelect
            label="Type"
            value={type}
            onChange={(e) => setType(e.currentTarget.value)}
            data={[{ value: "", label: "All types" }, ...(types.data ?? []).map((t) => ({ value: t.type, label: t.name }))]}
          />
          <TextInput label="Search" value={q} onChange={(e) => setQ(e.currentTarget.value)} placeholder="Words in the title, details or comments" miw={240} />
          <Button type="submit" variant="default">
            Search
          </Button>
        </Group>
      </form>
      <CursorTable list={list} what="your requests" minWidth={320} testId="my-requests"
        tableProps={{ verticalSpacing: "sm" }}
        columns={[cols.title, cols.type, cols.state, cols.opened]}
        rowProps={(r) => ({ "data-testid": "my-request", "data-id": r.id })}
        rowKey={(r) => r.id}
        empty={
          <>
            No requests{search || type ? " match" : " yet"}. <Anchor component={Link} to="/portal">Open one</Anchor>
          </>
        }
      />
    </Page>
  );
}
