// React hooks over the shared live connection.
import { useEffect, useRef, useSyncExternalStore } from "react";
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { liveStatus, subscribe, subscribeLiveStatus, type LiveEvent, type LiveMessage } from "./connection";

/**
 * Calls `onEvent` for each event of `topic` while the component is
 * mounted (null: follow nothing). `onMessage` also sees control messages
 * (subscribed, reset, error).
 */
export function useLive(
  topic: string | null | undefined,
  onEvent: (ev: LiveEvent) => void,
  onMessage?: (msg: LiveMessage) => void,
): void {
  const handlers = useRef({ onEvent, onMessage });
  handlers.current = { onEvent, onMessage };
  useEffect(() => {
    if (!topic) return;
    return subscribe(topic, (msg) => {
      if (msg.kind === "event") handlers.current.onEvent(msg.event);
      handlers.current.onMessage?.(msg);
    });
  }, [topic]);
}

/**
 * Keeps a TanStack query current from `topic`: each event patches the
 * cached data with `patch` (when given and it returns a value) or else
 * invalidates `queryKey` (a refetch). A (re)subscription without a known
 * position or a `reset` also invalidates, since events may have been missed
 * between the GET and the subscription.
 */
export function useLiveQuery<T = unknown>(
  topic: string | null | undefined,
  queryKey: QueryKey,
  patch?: (old: T | undefined, ev: LiveEvent) => T | undefined,
): void {
  const qc = useQueryClient();
  const keyRef = useRef(queryKey);
  keyRef.current = queryKey;
  const patchRef = useRef(patch);
  patchRef.current = patch;
  useLive(
    topic,
    (ev) => {
      const fn = patchRef.current;
      if (fn) {
        const old = qc.getQueryData<T>(keyRef.current);
        const next = fn(old, ev);
        if (next !== undefined) {
          qc.setQueryData<T>(keyRef.current, next);
          return;
        }
      }
      void qc.invalidateQueries({ queryKey: keyRef.current });
    },
    (msg) => {
      if (msg.kind === "reset" || (msg.kind === "subscribed" && !msg.resumed)) {
        void qc.invalidateQueries({ queryKey: keyRef.current });
      }
    },
  );
}

/** The connection's state, for a small "live" indicator. */
export function useLiveStatus() {
  return useSyncExternalStore(subscribeLiveStatus, liveStatus, liveStatus);
}

export type { LiveEvent, LiveMessage };
