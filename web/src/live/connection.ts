// One WebSocket per tab to /api/v1/stream/ws (docs/realtime.md), shared by
// every screen that follows a topic; Server-Sent Events (./sse.ts) when the
// WebSocket cannot get through.
//
// - Each topic remembers the last log position it saw; after a reconnect it
//   subscribes with `after` so nothing is missed or repeated.
// - Close 4401 (token expired or session ended): refresh the session and
//   reconnect; 4403 (a topic no longer allowed): reconnect, the refused
//   topic answers with an `error` frame; 4008 (too slow): resume at once;
//   anything else: back off (1 s doubling to 30 s).
// - A `reset` (too far behind) drops the position: listeners reload.
// - With no topics the socket is closed; it opens again on the next one.
// - Fallback: a WebSocket that closes before it ever opened, WS_TRIES times
//   in a row, in a tab where none has opened yet (a proxy that refuses the
//   upgrade answers so, as code 1006), switches the tab to SSE for good: one
//   stream of all its topics, reopened (with Last-Event-ID, the last position
//   it saw) when the topics change. The screens' hooks do not change.
import { accessToken, getSession, refresh, subscribeSession } from "../api/session";
import { openSse, topicsOf, type SseEnd, type SseFrame } from "./sse";

/** WebSocket failures before open, in a row, that switch the tab to SSE. */
const WS_TRIES = 2;

export interface LiveEvent {
  id: string;
  position: number;
  type: string;
  /** absent on a derived change (`derived: true`, e.g. stock.held on `stock:<id>`) */
  stream?: string;
  derived?: boolean;
  data: Record<string, unknown>;
  at: string;
}

export type LiveMessage =
  | { kind: "event"; topic: string; event: LiveEvent }
  | { kind: "subscribed"; topic: string; position: number; resumed: boolean }
  | { kind: "reset"; topic: string }
  | { kind: "error"; topic: string; problem: { status?: number; title?: string; detail?: string } };

export type LiveListener = (msg: LiveMessage) => void;
export type LiveStatus = "idle" | "connecting" | "open" | "retrying";
export type LiveTransport = "ws" | "sse";

interface TopicState {
  listeners: Set<LiveListener>;
  last: number | null;
  failed: boolean;
}

interface LiveState {
  ws: WebSocket | null;
  status: LiveStatus;
  topics: Map<string, TopicState>;
  backoff: number;
  retryTimer: ReturnType<typeof setTimeout> | null;
  statusListeners: Set<() => void>;
  generation: number;
  /** The access token the current socket was opened with. */
  token: string | null;
  transport: LiveTransport;
  /** WebSockets closed before they opened, in a row. */
  wsFailures: number;
  /** A WebSocket has opened in this tab (so it is not blocked). */
  wsOpened: boolean;
  /** Aborts the open SSE stream (null: none). */
  sse: (() => void) | null;
  /** The topics of the open (or last) SSE stream. */
  sseTopics: Set<string>;
  /** The last position the SSE stream sent (its Last-Event-ID). */
  sseLast: number | null;
  sseTimer: ReturnType<typeof setTimeout> | null;
}

const live: LiveState = {
  ws: null,
  status: "idle",
  topics: new Map(),
  backoff: 1000,
  retryTimer: null,
  statusListeners: new Set(),
  generation: 0,
  token: null,
  transport: "ws",
  wsFailures: 0,
  wsOpened: false,
  sse: null,
  sseTopics: new Set(),
  sseLast: null,
  sseTimer: null,
};

function setStatus(s: LiveStatus): void {
  if (live.status === s) return;
  live.status = s;
  live.statusListeners.forEach((fn) => fn());
}

export function liveStatus(): LiveStatus {
  return live.status;
}

/** The transport in use: "sse" once the WebSocket was found blocked. */
export function liveTransport(): LiveTransport {
  return live.transport;
}

export function subscribeLiveStatus(fn: () => void): () => void {
  live.statusListeners.add(fn);
  return () => live.statusListeners.delete(fn);
}

function send(frame: object): void {
  if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(frame));
}

function sendSubscribe(topic: string, st: TopicState): void {
  st.failed = false;
  if (live.transport === "sse") {
    reopenSse();
    return;
  }
  send(st.last != null ? { type: "subscribe", topic, after: st.last } : { type: "subscribe", topic });
}

function dispatch(topic: string, msg: LiveMessage): void {
  live.topics.get(topic)?.listeners.forEach((fn) => {
    try {
      fn(msg);
    } catch (e) {
      console.error("live listener failed", e);
    }
  });
}

function onMessage(raw: string): void {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return;
  }
  const topic = typeof m.topic === "string" ? m.topic : "";
  const st = live.topics.get(topic);
  if (!st) return;
  switch (m.type) {
    case "subscribed": {
      const resumed = st.last != null;
      if (st.last == null && typeof m.position === "number") st.last = m.position;
      dispatch(topic, { kind: "subscribed", topic, position: Number(m.position), resumed });
      break;
    }
    case "event": {
      const ev = m.event as LiveEvent;
      if (st.last != null && ev.position <= st.last) return; // already seen
      st.last = ev.position;
      dispatch(topic, { kind: "event", topic, event: ev });
      break;
    }
    case "reset":
      st.last = null;
      dispatch(topic, { kind: "reset", topic });
      sendSubscribe(topic, st);
      break;
    case "error":
      st.failed = true;
      dispatch(topic, { kind: "error", topic, problem: (m.problem ?? {}) as { status?: number } });
      break;
  }
}

function wsUrl(token: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/api/v1/stream/ws?access_token=${encodeURIComponent(token)}`;
}

async function connect(): Promise<void> {
  if (live.ws || live.sse || live.topics.size === 0) return;
  if (getSession().status !== "signed-in") {
    setStatus("idle");
    return;
  }
  const gen = ++live.generation;
  setStatus("connecting");
  const token = await accessToken();
  if (gen !== live.generation || live.ws || live.sse) return;
  if (!token) {
    // Signed in but no token (the refresh could not reach the server): try again later.
    if (getSession().status === "signed-in") retryLater();
    else setStatus("idle");
    return;
  }
  if (live.transport === "sse") {
    openSseStream(token);
    return;
  }
  let ws: WebSocket;
  try {
    ws = new WebSocket(wsUrl(token));
  } catch {
    retryLater();
    return;
  }
  live.ws = ws;
  live.token = token;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    live.wsOpened = true;
    live.wsFailures = 0;
    live.backoff = 1000;
    setStatus("open");
    live.topics.forEach((st, topic) => sendSubscribe(topic, st));
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") onMessage(e.data);
  };
  ws.onclose = (e) => {
    if (live.ws !== ws) return;
    live.ws = null;
    if (!opened && !live.wsOpened && ++live.wsFailures >= WS_TRIES && live.topics.size > 0) {
      live.transport = "sse"; // blocked on the way: Server-Sent Events from now on
      live.backoff = 1000;
      void connect();
      return;
    }
    void onClose(e.code);
  };
}

/** The token expired or the session ended: a fresh token, or stop. */
async function reauth(): Promise<void> {
  // The session may already hold a newer token (refreshed before expiry):
  // use that; otherwise refresh, and stop if the session is over.
  const current = await accessToken();
  const fresh = current && current !== live.token ? current : await refresh();
  if (!fresh) {
    setStatus("idle");
    return;
  }
  void connect();
}

async function onClose(code: number): Promise<void> {
  if (live.topics.size === 0 || getSession().status !== "signed-in") {
    setStatus("idle");
    return;
  }
  if (code === 4401) {
    await reauth();
  } else if (code === 4008 || code === 4403) {
    void connect();
  } else {
    retryLater();
  }
}

function retryLater(): void {
  setStatus("retrying");
  if (live.retryTimer) clearTimeout(live.retryTimer);
  const wait = live.backoff;
  live.backoff = Math.min(live.backoff * 2, 30_000);
  live.retryTimer = setTimeout(() => {
    live.retryTimer = null;
    void connect();
  }, wait);
}

function disconnect(): void {
  live.generation++;
  if (live.retryTimer) clearTimeout(live.retryTimer);
  live.retryTimer = null;
  closeSse();
  const ws = live.ws;
  live.ws = null;
  if (ws) ws.close(1000);
  setStatus("idle");
}

/** Follows `topic`; returns the function that stops following it. */
export function subscribe(topic: string, fn: LiveListener): () => void {
  let st = live.topics.get(topic);
  if (!st) {
    st = { listeners: new Set(), last: null, failed: false };
    live.topics.set(topic, st);
    if ((live.ws && live.ws.readyState === WebSocket.OPEN) || live.sse) sendSubscribe(topic, st);
    else void connect();
  }
  st.listeners.add(fn);
  const mine = st;
  return () => {
    mine.listeners.delete(fn);
    if (mine.listeners.size > 0 || live.topics.get(topic) !== mine) return;
    live.topics.delete(topic);
    if (live.topics.size === 0) disconnect();
    else if (live.transport === "sse") reopenSse();
    else if (!mine.failed) send({ type: "unsubscribe", topic });
  };
}

// ---- the SSE fallback ----

function closeSse(): void {
  if (live.sseTimer) clearTimeout(live.sseTimer);
  live.sseTimer = null;
  const abort = live.sse;
  live.sse = null;
  abort?.();
}

/** The topics changed: one new stream for all of them, after this tick's changes. */
function reopenSse(): void {
  if (live.sseTimer) return;
  live.sseTimer = setTimeout(() => {
    live.sseTimer = null;
    live.generation++; // a connect() in progress gives way
    const abort = live.sse;
    live.sse = null;
    abort?.();
    void connect();
  }, 0);
}

function openSseStream(token: string): void {
  const topics = [...live.topics].filter(([, st]) => !st.failed).map(([t]) => t);
  if (topics.length === 0) {
    setStatus("idle");
    return;
  }
  const before = live.sseTopics;
  const after = live.sseLast;
  live.sseTopics = new Set(topics);
  live.token = token;
  const abort = openSse(topics, token, after, {
    onOpen: () => {
      live.backoff = 1000;
      setStatus("open");
      // a topic already on the last stream resumes after its position; a new one
      // (or a stream with no position yet) is "subscribed" afresh: its screen reloads
      for (const t of topics)
        dispatch(t, { kind: "subscribed", topic: t, position: after ?? 0, resumed: after != null && before.has(t) });
    },
    onFrame: onSseFrame,
    onEnd: (end) => {
      if (live.sse !== abort) return;
      live.sse = null;
      void onSseEnd(end, before);
    },
  });
  live.sse = abort;
}

function onSseFrame(f: SseFrame): void {
  if (f.id != null && /^\d+$/.test(f.id)) live.sseLast = Math.max(live.sseLast ?? 0, Number(f.id));
  if (f.event === "reset") {
    live.topics.forEach((st, topic) => {
      st.last = null;
      dispatch(topic, { kind: "reset", topic });
    });
    return;
  }
  if (f.event === "overflow" || f.event === "revoked" || f.event === "end") return; // onSseEnd
  let ev: LiveEvent;
  try {
    ev = JSON.parse(f.data) as LiveEvent;
  } catch {
    return;
  }
  if (!ev || typeof ev.position !== "number" || typeof ev.stream !== "string") return;
  for (const topic of topicsOf(ev, [...live.sseTopics])) {
    const st = live.topics.get(topic);
    if (!st || (st.last != null && ev.position <= st.last)) continue; // gone, or already seen
    st.last = ev.position;
    dispatch(topic, { kind: "event", topic, event: ev });
  }
}

async function onSseEnd(end: SseEnd, before: Set<string>): Promise<void> {
  if (live.topics.size === 0 || getSession().status !== "signed-in") {
    setStatus("idle");
    return;
  }
  if (end.kind === "refused") {
    if (end.status === 401) return reauth();
    if (end.status === 403 || end.status === 404 || end.status === 422) {
      // A topic was refused; the answer does not say which. Those new on
      // this stream are the suspects (all of them when none is new): they
      // get the error, the others go on without them.
      const fresh = [...live.sseTopics].filter((t) => !before.has(t));
      const blamed = fresh.length ? fresh : [...live.sseTopics];
      for (const topic of blamed) {
        const st = live.topics.get(topic);
        if (!st) continue;
        st.failed = true;
        dispatch(topic, { kind: "error", topic, problem: end.problem });
      }
      live.sseTopics = new Set([...live.sseTopics].filter((t) => !blamed.includes(t)));
      if (live.sseTopics.size) void connect();
      else setStatus("idle");
      return;
    }
    retryLater();
    return;
  }
  if (end.kind === "closed" && end.frame?.event === "revoked") {
    let code = 0;
    try {
      code = Number((JSON.parse(end.frame.data) as { code?: number }).code);
    } catch {
      /* no code: reconnect */
    }
    if (code === 4401) return reauth();
    void connect();
    return;
  }
  if (end.kind === "closed" && end.frame?.event === "overflow") {
    void connect(); // too slow: resume at once from the last position
    return;
  }
  retryLater();
}

// Signing in opens the socket for the topics already wanted; signing out
// closes it and forgets the positions (the next user sees their own log).
subscribeSession(() => {
  if (getSession().status === "signed-in") {
    if (!live.ws && !live.sse) void connect();
  } else if (getSession().status === "anonymous") {
    disconnect();
    live.topics.forEach((st) => (st.last = null));
    live.sseLast = null;
    live.sseTopics = new Set();
  }
});

// A tab coming back online or into view reconnects at once instead of
// waiting out its backoff.
if (typeof window !== "undefined") {
  const kick = () => {
    if (!live.ws && !live.sse && live.topics.size > 0 && live.status === "retrying") {
      live.backoff = 1000;
      void connect();
    }
  };
  window.addEventListener("online", kick);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") kick();
  });
}
