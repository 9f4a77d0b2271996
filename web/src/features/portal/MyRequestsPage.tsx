// "My requests": the caller's own requests, newest first, with their state,
// kept current live: each open request on screen follows `request:<id>`
// (at most MAX_LIVE of them) and a notification about a request (approved,
// commented, …) refreshes the list as well.
import { useState, type FormEvent } from "react";
import { Anchor, Button, Center, Group, NativeSelect, Paper, Table, Text, TextInput } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useLive } from "../../live/hooks";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime } from "../../ui/format";
import { LiveTopics } from "./LiveTopics";
import { PortalNav } from "./PortalNav";
import { useRequestTypes, useRequests } from "./requestsApi";
import { StateBadge } from "./words";

const MAX_LIVE = 20;

export default function MyRequestsPage() {
  const [type, setType] = useState("");
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const types = useRequestTypes();
  const qc = useQueryClient();
  const list = useRequests("mine", { type: type || undefined, q: search || undefined, createdBy: "me" });
  const rows = list.data?.pages.flatMap((p) => p.data) ?? [];
  const refresh = () => void qc.invalidateQueries({ queryKey: ["requests", "mine"] });
  useLive("notifications", (ev) => {
    const subject = (ev.data as { subject?: { type?: string } }).subject;
    if (ev.type === "notification.created" && subject?.type === "request") refresh();
  });
  const typeName = (t: string) => types.data?.find((x) => x.type === t)?.name ?? t;
  const live = rows.filter((r) => !r.final).slice(0, MAX_LIVE).map((r) => `request:${r.id}`);
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
      {list.isError && <QueryError error={list.error} what="your requests" />}
      {list.isPending ? (
        <Loading label="Loading your requests" />
      ) : rows.length === 0 ? (
        <Text role="status">
          No requests{search || type ? " match" : " yet"}. <Anchor component={Link} to="/portal">Open one</Anchor>
        </Text>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }}>
          <Table verticalSpacing="sm" miw={320} data-testid="my-requests">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Request</Table.Th>
                <Table.Th visibleFrom="sm">Type</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th visibleFrom="sm">Opened</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={r.id} data-testid="my-request" data-id={r.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/portal/requests/${r.id}`}>
                      {r.title}
                    </Anchor>
                  </Table.Td>
                  <Table.Td visibleFrom="sm">{typeName(r.type)}</Table.Td>
                  <Table.Td>
                    <StateBadge request={r} />
                  </Table.Td>
                  <Table.Td visibleFrom="sm">{dateTime(r.created_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
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
