// System: health and readiness, key metrics sampled from /metrics every few
// seconds as sparklines, the event log (newest first, by stream) and its
// verification (what `serviceflow verify` checks).
import { useEffect, useRef, useState } from "react";
import { Alert, Badge, Button, Code, Group, List, Paper, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useInfiniteQuery, useMutation, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../../api/client";
import { Page } from "../../../ui/Page";
import { QueryError } from "../../../ui/errors";
import { dateTime } from "../../../ui/format";
import { parseMetrics, series, type Sample } from "./metrics";
import { Sparkline } from "./Sparkline";

const SAMPLE_MS = 3000;
const KEEP = 60;

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

function Health() {
  const live = useQuery({ queryKey: ["healthz"], queryFn: () => getJson("/healthz"), refetchInterval: 5000 });
  const ready = useQuery({ queryKey: ["readyz"], queryFn: () => getJson("/readyz"), refetchInterval: 5000 });
  const checks = (ready.data?.body.checks ?? {}) as Record<string, string>;
  return (
    <Paper withBorder p="md">
      <Title order={2} size="h4" mb="xs">
        Health
      </Title>
      <Group gap="xs" role="status" data-testid="system-health">
        <Badge color={live.data?.status === 200 ? "teal.9" : "red.9"}>{live.data?.status === 200 ? "live" : "not answering"}</Badge>
        <Badge color={ready.data?.status === 200 ? "teal.9" : "red.9"}>{ready.data?.status === 200 ? "ready" : "not ready"}</Badge>
        {Object.entries(checks).map(([k, v]) => (
          <Badge key={k} variant={v === "ok" ? "filled" : "light"} color={v === "ok" ? "teal.9" : "red"}>
            {k}: {v}
          </Badge>
        ))}
      </Group>
      {ready.data && ready.data.status !== 200 && typeof ready.data.body.detail === "string" && (
        <Text size="sm" mt="xs">
          {ready.data.body.detail}
        </Text>
      )}
    </Paper>
  );
}

function Metrics() {
  const [points, setPoints] = useState<Record<string, number[]>>({});
  const prev = useRef<Sample | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const res = await fetch("/metrics");
        const cur = parseMetrics(await res.text(), Date.now());
        const p = prev.current;
        prev.current = cur;
        setError(null);
        if (!p || stop) return;
        setPoints((old) => {
          const next: Record<string, number[]> = {};
          for (const s of series) {
            const v = s.of(p, cur);
            next[s.key] = [...(old[s.key] ?? []), ...(v === null ? [] : [v])].slice(-KEEP);
          }
          return next;
        });
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      }
    };
    void tick();
    const id = window.setInterval(() => void tick(), SAMPLE_MS);
    return () => {
      stop = true;
      window.clearInterval(id);
    };
  }, []);
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Key metrics
      </Title>
      <Text size="sm">Sampled from /metrics every {SAMPLE_MS / 1000} s while this page is open; the last {KEEP} samples.</Text>
      {error && <Alert color="orange">Could not read the metrics: {error}</Alert>}
      <SimpleGrid cols={{ base: 1, xs: 2, md: 3 }}>
        {series.map((s) => (
          <Sparkline key={s.key} label={s.label} unit={s.unit} points={points[s.key] ?? []} />
        ))}
      </SimpleGrid>
    </Stack>
  );
}

function Verify() {
  const run = useMutation({ mutationFn: () => unwrap(api.POST("/api/v1/events/verify")) });
  const r = run.data;
  return (
    <Paper withBorder p="md">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">
          Verify the event log
        </Title>
        <Button onClick={() => run.mutate()} loading={run.isPending} data-testid="verify-events">
          Verify now
        </Button>
      </Group>
      <Text size="sm">
        Checks that the log reaches its anchor, recomputes the hash chain, and rebuilds stock, reservations, orders and users from their events
        to compare them with the stored rows (as <Code>serviceflow verify</Code>). Changes nothing.
      </Text>
      {r && (
        <Alert mt="sm" color={r.ok ? "teal" : "red"} title={r.ok ? "The log and the state agree" : "Differences found"} role="status" data-testid="verify-result">
          <Text size="sm">
            {r.events} events, hash chain {r.chain}
            {r.anchored != null ? `, anchored at position ${r.anchored}` : ", no anchor yet"}.
          </Text>
          <List size="sm">
            {r.checks.map((c) => (
              <List.Item key={c.name}>
                {c.name}: {c.checked} checked, {c.mismatches} mismatch{c.mismatches === 1 ? "" : "es"}
                {c.details.length > 0 && (
                  <List size="xs" withPadding>
                    {c.details.map((d, i) => (
                      <List.Item key={i}>{d}</List.Item>
                    ))}
                  </List>
                )}
              </List.Item>
            ))}
          </List>
        </Alert>
      )}
    </Paper>
  );
}

function EventLog() {
  const [stream, setStream] = useState("");
  const [applied, setApplied] = useState("");
  const log = useInfiniteQuery({
    queryKey: ["admin-events", applied],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/events", {
          params: { query: { limit: 20, ...(pageParam ? { cursor: pageParam } : {}), ...(applied ? { stream: applied } : {}) } },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = log.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Event log
      </Title>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(stream.trim());
        }}
        aria-label="Filter the event log"
      >
        <Group align="end" wrap="wrap">
          <TextInput label="Stream" description="e.g. order-ord_…, user-usr_…, workflow-purchase; empty: all" value={stream} onChange={(e) => setStream(e.currentTarget.value)} w={320} />
          <Button type="submit" variant="light">
            Show
          </Button>
          <Button variant="default" onClick={() => void log.refetch()}>
            Refresh
          </Button>
        </Group>
      </form>
      {log.isError && <QueryError error={log.error} what="the event log" />}
      <Text size="sm" role="status">
        {log.data ? `Newest ${applied ? "version" : "position"}: ${log.data.pages[0]?.head ?? 0}` : ""}
      </Text>
      <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
        <Table miw={720} data-testid="event-log">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Position</Table.Th>
              <Table.Th>When</Table.Th>
              <Table.Th>Stream</Table.Th>
              <Table.Th>Type</Table.Th>
              <Table.Th>Data</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((ev) => (
              <Table.Tr key={ev.id}>
                <Table.Td>{ev.position}</Table.Td>
                <Table.Td>{dateTime(ev.at)}</Table.Td>
                <Table.Td>
                  <Button variant="subtle" size="compact-xs" onClick={() => (setStream(ev.stream), setApplied(ev.stream))} aria-label={`Show stream ${ev.stream}`}>
                    {ev.stream}
                  </Button>{" "}
                  v{ev.version}
                </Table.Td>
                <Table.Td>{ev.type}</Table.Td>
                <Table.Td>
                  <details>
                    <summary>data</summary>
                    <Code block style={{ maxWidth: 420, whiteSpace: "pre-wrap" }}>
                      {JSON.stringify(ev.data, null, 1)}
                    </Code>
                  </details>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {!log.isPending && rows.length === 0 && (
          <Text p="sm" size="sm">
            No event.
          </Text>
        )}
      </Paper>
      {log.hasNextPage && (
        <Button variant="default" onClick={() => void log.fetchNextPage()} loading={log.isFetchingNextPage}>
          Older events
        </Button>
      )}
    </Stack>
  );
}

export default function SystemPage() {
  return (
    <Page title="System">
      <Health />
      <Metrics />
      <Verify />
      <EventLog />
    </Page>
  );
}
