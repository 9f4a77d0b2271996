// Requests in words: states and actions as people read them, the audit
// trail's events as sentences, durations.
import { Badge } from "@mantine/core";
import type { ServiceRequest } from "./requestsApi";

/** "in_progress" → "In progress"; "ask_customer" → "Ask customer". */
export function humanize(name: string): string {
  const s = name.replace(/[_-]+/g, " ").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// Filled badge colours with text of at least 4.5:1 (autoContrast puts dark text on the light ones).
const stateColor: Record<string, string> = {
  draft: "gray.7",
  new: "blue.8",
  review: "yellow.5",
  in_progress: "indigo.8",
  waiting_on_customer: "orange.4",
  resolved: "cyan.9",
  approved: "teal.9",
  closed: "gray.7",
  rejected: "red.9",
  withdrawn: "gray.7",
};

export function StateBadge({
  request,
  testId,
}: {
  request: Pick<ServiceRequest, "state" | "final">;
  testId?: string;
}) {
  const color = stateColor[request.state] ?? (request.final ? "gray.7" : "blue.8");
  return (
    <Badge color={color} autoContrast variant="filled" data-testid={testId} data-state={request.state}>
      {humanize(request.state)}
    </Badge>
  );
}

/** Seconds as "2 d 3 h", "1 h 05 m", "4 m 09 s". */
export function duration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${two(m)} m`;
  return `${m} m ${two(sec)} s`;
}

/** A ticking clock: "2 d 03:04:05", "3:04:05", "4:05". */
export function clock(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const two = (n: number) => String(n).padStart(2, "0");
  const ms = `${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  if (d > 0) return `${d} d ${two(h)}:${ms}`;
  return h > 0 ? `${h}:${ms}` : ms;
}

/** Someone named in an event: "you", "the system", a name when known, else the id. */
export type NameOf = (id: string | undefined) => string;

/** An event of the trail as one sentence (null: not shown to people). */
export function eventSentence(e: { type: string; data: Record<string, unknown> }, nameOf: NameOf): string | null {
  const s = sentenceOf(e, nameOf);
  return s && s.charAt(0).toUpperCase() + s.slice(1);
}

function sentenceOf(e: { type: string; data: Record<string, unknown> }, nameOf: NameOf): string | null {
  const d = e.data as Record<string, unknown>;
  const by = typeof d.by === "string" ? nameOf(d.by) : "";
  const str = (k: string) => (typeof d[k] === "string" ? (d[k] as string) : "");
  switch (e.type) {
    case "request.created":
      return `Opened${by ? ` by ${by}` : ""}`;
    case "request.transitioned":
      return `${humanize(str("action"))}: ${humanize(str("from"))} → ${humanize(str("to"))}${by ? ` (${by})` : ""}`;
    case "request.commented":
      return `${by || "Someone"} commented`;
    case "request.noted":
      return `${by || "Someone"} added an internal note`;
    case "request.assigned": {
      const a = d.assignee as { user?: string; role?: string } | null | undefined;
      const who = a?.user ? nameOf(a.user) : a?.role ? `the ${a.role} queue` : "nobody";
      return `Assigned to ${who}${by ? ` by ${by}` : ""}`;
    }
    case "request.fields_set":
      return `Fields set: ${Object.entries((d.fields as Record<string, unknown>) ?? d)
        .filter(([k]) => k !== "by")
        .map(([k, v]) => `${k} = ${String(v)}`)
        .join(", ")}`;
    case "request.approval_started":
      return "Approval started";
    case "request.approval_requested":
      return `Approval requested: ${str("name") || str("level_name") || "next level"}`;
    case "request.approval_decided":
      return `${by || "An approver"} ${str("decision").startsWith("reject") ? "rejected" : "approved"}${
        str("name") ? ` (${str("name")})` : ""
      }`;
    case "request.approval_delegated":
      return `${by || "An approver"} delegated the approval to ${nameOf(str("to"))}`;
    case "request.approval_level_approved":
      return `Level approved: ${str("name") || str("level_name")}`;
    case "request.approval_level_skipped":
      return `Level skipped: ${str("name") || str("level_name")}`;
    case "request.approval_completed":
      return `Approval ${str("outcome") || "completed"}`;
    case "request.approval_cancelled":
      return "Approval cancelled";
    case "request.sla_started":
      return "SLA clocks started";
    case "request.sla_warning":
      return `SLA warning: ${str("name")} at ${String(d.percent ?? "")} %`;
    case "request.sla_breached":
      return `SLA breached: ${str("name")}`;
    case "request.timer_fired":
      return `Timer: ${humanize(str("action"))}`;
    case "request.timer_skipped":
      return "A timer was skipped (its guard did not hold)";
    case "request.notified":
      return null;
    case "request.webhook_due":
    case "request.webhook_delivered":
    case "request.webhook_failed":
      return null;
    case "request.auto_transition_skipped":
      return "An automatic step was skipped (its guard did not hold)";
    default:
      return humanize(e.type.replace(/^request\./, "").replace(/\./g, " "));
  }
}

/** Whether an event is worth a line in the customer's timeline. */
export function customerSees(type: string): boolean {
  return (
    !type.startsWith("request.webhook") &&
    type !== "request.notified" &&
    type !== "request.timer_skipped" &&
    type !== "request.noted" // staff only: the server never sends one to a requester; never shown there either
  );
}
