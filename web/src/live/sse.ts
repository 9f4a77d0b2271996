// The Server-Sent Events transport (GET /api/v1/stream?topics=…; docs/realtime.md),
// used when a WebSocket cannot get through (a proxy that refuses the upgrade).
//
// fetch() with a streaming body reader rather than EventSource: it sends the
// token in the Authorization header (not in the URL), sets Last-Event-ID
// itself on every (re)connect, and sees the status and problem+json of a
// refused stream, which EventSource hides. Reconnecting is the caller's job.
import type { LiveEvent } from "./connection";

export interface SseFrame {
  /** The `id:` line: the event's log position (absent on control frames). */
  id: string | null;
  /** The `event:` line: the event type, or reset / overflow / revoked / end. */
  event: string;
  data: string;
}

export type SseEnd =
  | { kind: "refused"; status: number; problem: { status?: number; title?: string; detail?: string } }
  | { kind: "closed"; frame: SseFrame | null } // the server ended the stream (last frame: why)
  | { kind: "failed" }; // network error

export interface SseHandlers {
  onOpen(): void;
  onFrame(frame: SseFrame): void;
  onEnd(end: SseEnd): void;
}

/** Splits a buffer into SSE frames (blank-line separated); returns the rest. */
export function parseFrames(buf: string, out: SseFrame[]): string {
  let at = 0;
  for (;;) {
    const m = /\r?\n\r?\n/.exec(buf.slice(at));
    if (!m) return buf.slice(at);
    const block = buf.slice(at, at + m.index);
    at += m.index + m[0].length;
    const frame: SseFrame = { id: null, event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line === "" || line.startsWith(":")) continue; // comments: ": heartbeat"
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") frame.id = value;
      else if (field === "event") frame.event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0 && frame.id == null) continue; // "retry:" or comments only
    frame.data = data.join("\n");
    out.push(frame);
  }
}

/**
 * Opens the stream of `topics` with `token`, resuming after `after` (null:
 * from now). Returns the function that aborts it (onEnd is then not called).
 */
export function openSse(topics: string[], token: string, after: number | null, h: SseHandlers): () => void {
  const ctl = new AbortController();
  let aborted = false;
  const headers: Record<string, string> = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
  if (after != null) headers["Last-Event-ID"] = String(after);
  const url = `/api/v1/stream?topics=${topics.map(encodeURIComponent).join(",")}`;
  void (async () => {
    let last: SseFrame | null = null;
    try {
      const res = await fetch(url, { headers, signal: ctl.signal, cache: "no-store", credentials: "same-origin" });
      if (!res.ok || !res.body) {
        const problem = (await res.json().catch(() => ({}))) as { status?: number };
        if (!aborted) h.onEnd({ kind: "refused", status: res.status, problem });
        return;
      }
      h.onOpen();
      const reader = res.body.getReader();
      const text = new TextDecoder();
      let buf = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += text.decode(value, { stream: true });
        const frames: SseFrame[] = [];
        buf = parseFrames(buf, frames);
        for (const f of frames) {
          last = f;
          if (!aborted) h.onFrame(f);
        }
      }
      if (!aborted) h.onEnd({ kind: "closed", frame: last });
    } catch {
      if (!aborted) h.onEnd({ kind: "failed" });
    }
  })();
  return () => {
    aborted = true;
    ctl.abort();
  };
}

/**
 * The topics of `wanted` an event of the SSE stream belongs to. The stream
 * carries events, not topics (one message per event for all topics), so the
 * client maps them back the way the services' topic keys do; an event no
 * rule places goes to every topic (a needless refetch, never a missed one).
 */
export function topicsOf(ev: LiveEvent, wanted: string[]): string[] {
  if (wanted.length <= 1) return wanted;
  const items = (ev.data?.items as Array<{ product_id?: string }> | undefined) ?? [];
  const stream = ev.stream ?? "";
  // a derived change (stock.held/sold/released) has no stream: it names its product
  const product = ev.derived ? (ev.data?.product_id as string | undefined) : undefined;
  const hit = wanted.filter((t) => {
    const colon = t.indexOf(":");
    const family = colon < 0 ? t : t.slice(0, colon);
    const arg = colon < 0 ? "" : t.slice(colon + 1);
    switch (family) {
      case "order":
        return stream === `order-${arg}`;
      case "request":
        return stream === `request-${arg}`;
      case "stock":
        return (
          stream === `stock-${arg}` ||
          product === arg ||
          (Array.isArray(items) && items.some((i) => i?.product_id === arg))
        );
      case "notifications":
        return stream.startsWith("notifications-");
      case "webhook_deliveries":
        return stream === `webhook-${arg}`;
      case "approvals":
      case "queue":
        return stream.startsWith("request-");
      default:
        return true;
    }
  });
  return hit.length ? hit : wanted;
}
