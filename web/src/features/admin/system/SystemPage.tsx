// System: health and readiness, key metrics sampled from /metrics every few
// seconds as sparklines, the event log (newest first, by stream and type) and its
// verification (what `serviceflow verify` checks).
import { useEffect, useRef, useState } from "react";
import { Alert, Badge, Button, Code, Group, List, Paper, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import { asApiError } from "../../../api/problem";
import type { components } from "../../../api/schema";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
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

type LogEvent = components["schemas"]["Event"];

function EventData({ data }: { data: unknown }) {
  return (
    <details>
      <summary>data</summary>
      <Code block style={{ maxWidth: 420, whiteSpace: "pre-wrap" }}>
        {JSON.stringify(data, null, 1)}
      </Code>
    </details>
  );
}

/** The event log: GET /events newest first, of one stream and/or of some types (?type=, prefixes end in "."). */
function EventLog() {
  const [stream, setStream] = useState("");
  const [types, setTypes] = useState("");
  const [applied, setApplied] = useState({ stream: "", type: "" });
  const log = useCursorList<LogEvent>({
    queryKey: ["admin-events", applied],
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/events", { params: { query: pageQuery(20, cursor, applied) } })),
  });
  const head = log.data?.pages[0] as { head?: number } | undefined;
  const err = log.isError ? asApiError(log.error) : null;
  const show = (next: { stream: string; type: string }) => {
    setStream(next.stream);
    setTypes(next.type);
    setApplied(next);
  };
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Event log
      </Title>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          // "order. , user.login_failed" as the API wants it: "order.,user.login_failed"
          show({ stream: stream.trim(), type: types.split(/[\s,]+/).filter(Boolean).join(",") });
        }}
        aria-label="Filter the event log"
      >
        <Group align="end" wrap="wrap">
          <TextInput label="Stream" description="e.g. order-ord_…, user-usr_…, workflow-purchase; empty: all" value={stream} onChange={(e) => setStream(e.currentTarget.value)} w={320} error={err?.fieldErrors.stream} />
          <TextInput
            label="Type"
            description="types or prefixes ending in a dot, separated by commas: order., user.login_failed; empty: all"
            value={types}
            onChange={(e) => setTypes(e.currentTarget.value)}
            w={320}
            error={err?.fieldErrors.type}
            data-testid="event-type-filter"
          />
          <Button type="submit" variant="light">
            Show
          </Button>
          <Button variant="default" onClick={() => void log.refetch()}>
            Refresh
          </Button>
        </Group>
      </form>
      <Text size="sm" role="status">
        {log.data ? `Newest ${applied.stream ? "version" : "position"}: ${head?.head ?? 0}` : ""}
      </Text>
      <CursorTable list={log} what="the event log" minWidth={720} testId="event-log"
        columns={[
          { header: "Position", cell: (ev) => ev.position },
          { header: "When", cell: (ev) => dateTime(ev.at) },
          {
            header: "Stream",
            cell: (ev) => (
              <>
                <Button variant="subtle" size="compact-xs" onClick={() => show({ ...applied, stream: ev.stream })} aria-label={`Show stream ${ev.stream}`}>
                  {ev.stream}
                </Button>{" "}
                v{ev.version}
              </>
            ),
          },
          {
            header: "Type",
            cell: (ev) => (
              <Button variant="subtle" size="compact-xs" onClick={() => show({ ...applied, type: ev.type })} aria-label={`Show type ${ev.type}`}>
                {ev.type}
              </Button>
            ),
          },
          { header: "Data", cell: (ev) => <EventData data={ev.data} /> },
        ]}
        rowKey={(ev) => ev.id}
        empty="No event."
        more="Older events"
      />
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
