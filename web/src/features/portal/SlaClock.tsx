// SLA targets with the time left (docs/workflows.md, SLAs). The server
// computes each target on its business calendar: `due_at` is the moment of
// breach and `as_of` the server's clock when it computed the view (a test
// clock may be far from the browser's), so the clock counts down to due_at
// from the server's "now" and needs no calendar of its own. A breach comes
// live (request.sla_breached refetches the request) and turns the target red.
import { useEffect, useState } from "react";
import { Badge, Group, Paper, Progress, Stack, Text } from "@mantine/core";
import { dateTime } from "../../ui/format";
import type { SlaTarget, SlaView } from "./requestsApi";
import { clock, duration, humanize } from "./words";

/** Wall-clock ms, re-rendering every `everyMs` while mounted. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** Seconds left of a running target at browser time `now` (null: no clock runs). */
export function secondsLeft(t: SlaTarget, sla: SlaView, fetchedAt: number, now: number): number | null {
  if (t.status !== "running" || !t.due_at) return null;
  const due = Date.parse(t.due_at);
  const asOf = sla.as_of ? Date.parse(sla.as_of) : fetchedAt;
  const serverNow = asOf + (now - fetchedAt);
  return Math.max(0, Math.floor((due - serverNow) / 1000));
}

type Tone = "ok" | "warn" | "breached" | "done";

export function toneOf(t: SlaTarget, left: number | null): Tone {
  if (t.status === "breached" || t.breached || left === 0) return "breached";
  if (t.status === "met" || t.status === "stopped") return "done";
  if (t.percent >= 75 || (t.warnings?.length ?? 0) > 0) return "warn";
  return "ok";
}

// badge and bar colours; text uses textColor (4.5:1 on white)
const toneColor: Record<Tone, string> = { ok: "teal.9", warn: "yellow.5", breached: "red.9", done: "gray.7" };
const textColor: Record<Tone, string> = { ok: "teal.9", warn: "dark.7", breached: "red.9", done: "gray.7" };

/** One target: status, time left (ticking), due date and how much is used. */
export function SlaTargetClock({ target, sla, fetchedAt }: { target: SlaTarget; sla: SlaView; fetchedAt: number }) {
  const now = useNow();
  const left = secondsLeft(target, sla, fetchedAt, now);
  const tone = toneOf(target, left);
  const status =
    target.status === "met"
      ? target.breached
        ? "met late"
        : "met"
      : left === 0 && target.status === "running"
        ? "breached"
        : target.status;
  return (
    <Stack gap={4} data-testid={`sla-${target.name}`} data-status={status} data-tone={tone}>
      <Group justify="space-between" gap="xs" wrap="nowrap">
        <Text fw={600} size="sm">
          {humanize(target.name)} <Text span size="xs" c="dimmed">within {target.within}</Text>
        </Text>
        <Badge color={toneColor[tone]} autoContrast variant="filled" data-testid="sla-status">
          {status}
        </Badge>
      </Group>
      {left !== null && (
        <Text
          size="lg"
          fw={700}
          c={textColor[tone]}
          role="timer"
          aria-label={`${humanize(target.name)}: ${left === 0 ? "time is up" : `${duration(left)} left`}`}
          data-testid="sla-left"
          style={{ fontVariantNumeric: "tabular-nums" }}
        >
          {left === 0 ? "0:00: breached" : `${clock(left)} left`}
        </Text>
      )}
      {target.status === "paused" && (
        <Text size="sm">Paused: {duration(target.remaining_s)} of business time left</Text>
      )}
      <Progress
        value={Math.min(100, target.percent)}
        color={toneColor[tone]}
        size="sm"
        aria-label={`${humanize(target.name)}: ${target.percent} % of the time used`}
      />
      <Text size="xs" c="dimmed">
        {target.due_at ? `Due ${dateTime(target.due_at)} · ` : ""}
        {target.met_at ? `Met ${dateTime(target.met_at)} · ` : ""}
        {duration(target.elapsed_s)} used
        {target.status === "running" ? ` · ${duration(target.remaining_s)} of business time left` : ""}
      </Text>
    </Stack>
  );
}

/** The request's SLA targets (null when its type has none). */
export function SlaPanel({ sla, fetchedAt }: { sla: SlaView | null | undefined; fetchedAt: number }) {
  if (!sla || !sla.targets?.length) return null;
  return (
    <Paper withBorder p="md" data-testid="sla-panel">
      <Text component="h2" fw={600} size="md" mb="xs">
        Service level
      </Text>
      <Text size="xs" c="dimmed" mb="sm">
        Business calendar: {sla.calendar}
      </Text>
      <Stack gap="md">
        {sla.targets.map((t) => (
          <SlaTargetClock key={t.name} target={t} sla={sla} fetchedAt={fetchedAt} />
        ))}
      </Stack>
    </Paper>
  );
}

/** The most urgent target of a request, as a small badge (a queue's row). */
export function SlaBadge({ sla, fetchedAt }: { sla: SlaView | null | undefined; fetchedAt: number }) {
  const now = useNow();
  if (!sla || !sla.targets?.length) return <Text size="sm" c="dimmed">—</Text>;
  const rows = sla.targets.map((t) => ({ t, left: secondsLeft(t, sla, fetchedAt, now) }));
  const breached = rows.find((r) => toneOf(r.t, r.left) === "breached" && r.t.status !== "met");
  const running = rows.filter((r) => r.left !== null).sort((a, b) => (a.left ?? 0) - (b.left ?? 0))[0];
  if (breached)
    return (
      <Badge color="red.9" variant="filled" data-testid="sla-badge" data-status="breached">
        {humanize(breached.t.name)} breached
      </Badge>
    );
  if (running)
    return (
      <Badge
        color={toneColor[toneOf(running.t, running.left)]}
        autoContrast
        variant="filled"
        data-testid="sla-badge"
        data-status="running"
        style={{ fontVariantNumeric: "tabular-nums" }}
      >
        {humanize(running.t.name)}: {duration(running.left ?? 0)}
      </Badge>
    );
  const paused = rows.find((r) => r.t.status === "paused");
  return (
    <Badge color="gray.7" variant="outline" data-testid="sla-badge" data-status={paused ? "paused" : "done"}>
      {paused ? "paused" : rows.some((r) => r.t.breached) ? "met late" : "met"}
    </Badge>
  );
}

/** A request's SLA status for the queue's filter: breached, running, paused or met. */
export function slaStatus(sla: SlaView | null | undefined): "breached" | "running" | "paused" | "met" | "none" {
  if (!sla || !sla.targets?.length) return "none";
  const ts = sla.targets;
  if (ts.some((t) => t.status === "breached")) return "breached";
  if (ts.some((t) => t.status === "running")) return "running";
  if (ts.some((t) => t.status === "paused")) return "paused";
  return "met";
}
