// One WebSocket per tab to /api/v1/stream/ws (docs/realtime.md), shared by
// every screen that follows a topic.
//
// - Each topic remembers the last log position it saw; after a reconnect it
//   subscribes with `after` so nothing is missed or repeated.
// - Close 4401 (token expired or session ended): refresh the session and
//   reconnect; 4403 (a topic no longer allowed): reconnect, the refused
//   topic answers with an `error` frame; 4008 (too slow): resume at once;
//   anything else: back off (1 s doubling to 30 s).
// - A `reset` (too far behind) drops the position: listeners reload.
// - With no topics the socket is closed; it opens again on the next one.
import { accessToken, getSession, refresh, subscribeSession } from "../api/session";

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
};

function setStatus(s: LiveStatus): void {
  if (live.status === s) return;
  live.status = s;
  live.statusListeners.forEach((fn) => fn());
}

export function liveStatus(): LiveStatus {
  return live.status;
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
  if (live.ws || live.topics.size === 0) return;
  if (getSession().status !== "signed-in") {
    setStatus("idle");
    return;
  }
  const gen = ++live.generation;
  setStatus("connecting");
  const token = await accessToken();
  if (gen !== live.generation || live.ws) return;
  if (!token) {
    // Signed in but no token (the refresh could not reach the server): try again later.
    if (getSession().status === "signed-in") retryLater();
    else setStatus("idle");
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
  ws.onopen = () => {
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
    void onClose(e.code);
  };
}

async function onClose(code: number): Promise<void> {
  if (live.topics.size === 0 || getSession().status !== "signed-in") {
    setStatus("idle");
    return;
  }
  if (code === 4401) {
    // The socket's token expired or its session ended. The session may
    // already hold a newer token (refreshed before expiry): use that;
    // otherwise refresh, and stop if the session is over.
    const current = await accessToken();
    const fresh = current && current !== live.token ? current : await refresh();
    if (!fresh) {
      setStatus("idle");
      return;
    }
    void connect();
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
    if (live.ws && live.ws.readyState === WebSocket.OPEN) sendSubscribe(topic, st);
    else void connect();
  }
  st.listeners.add(fn);
  const mine = st;
  return () => {
    mine.listeners.delete(fn);
    if (mine.listeners.size > 0 || live.topics.get(topic) !== mine) return;
    live.topics.delete(topic);
    if (!mine.failed) send({ type: "unsubscribe", topic });
    if (live.topics.size === 0) disconnect();
  };
}

// Signing in opens the socket for the topics already wanted; signing out
// closes it and forgets the positions (the next user sees their own log).
subscribeSession(() => {
  if (getSession().status === "signed-in") {
    if (!live.ws) void connect();
  } else if (getSession().status === "anonymous") {
    disconnect();
    live.topics.forEach((st) => (st.last = null));
  }
});

// A tab coming back online or into view reconnects at once instead of
// waiting out its backoff.
if (typeof window !== "undefined") {
  const kick = () => {
    if (!live.ws && live.topics.size > 0 && live.status === "retrying") {
      live.backoff = 1000;
      void connect();
    }
  };
  window.addEventListener("online", kick);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") kick();
  });
}
