// A lazy screen that can be fetched before React asks for it. The router's
// first render waits for the session (a refresh round trip) before a guarded
// screen is drawn, and only then would React.lazy start the screen's chunk:
// routes.tsx calls `preload` with the first URL's parameters as soon as the
// app starts, so the chunk and the session arrive together. A screen may
// also have a `prefetch(params)` (given here, from a small module of its
// feature, not the screen's own chunk): the reads its first draw needs,
// started with the chunk rather than after it, as soon as the session
// allows (the session starts first: api/sessionStart.ts).
//
// Deferred: a screen's first draw with its data (a query resolving) is a
// synchronous render (TanStack Query updates through useSyncExternalStore),
// one long task on a slow phone. The heavy screens pass their data through
// `useDeferredData` (React's useDeferredValue, and on mount too): the urgent
// render keeps the spinner, and the screen is then drawn as a transition, in
// slices that yield to the browser. On mount useDeferredValue alone defers
// nothing, and a screen whose reads were prefetched mounts with its data: the
// whole screen was one synchronous render of 100-120 ms (400-490 ms at
// Lighthouse's 4x slowdown) when the session's answer let the guard draw it.
import {
  lazy,
  startTransition,
  useDeferredValue,
  useEffect,
  useState,
  type ComponentType,
  type LazyExoticComponent,
} from "react";
import type { Params } from "react-router-dom";
import { accessToken } from "../api/session";

export interface PageModule<T> {
  default: T;
}

export type LazyPage<T extends ComponentType<any>> = LazyExoticComponent<T> & {
  preload: (params?: Params) => Promise<unknown>;
};

export function lazyPage<T extends ComponentType<any>>(
  load: () => Promise<PageModule<T>>,
  prefetch?: (params: Params) => void,
): LazyPage<T> {
  let started: Promise<PageModule<T>> | null = null;
  const once = () => (started ??= load());
  const preload = (params?: Params) => {
    if (params && prefetch) prefetch(params);
    return once();
  };
  return Object.assign(lazy(once), { preload });
}

/** For a screen's `prefetch`: true once a session is there (a guest's reads would be refused). */
export async function signedIn(): Promise<boolean> {
  return (await accessToken()) !== null;
}

/** `value` for a screen's heavy draw: undefined in the screen's first render,
 * then deferred (app/lazyPage.ts, "deferred"). */
export function useDeferredData<T>(value: T): T | undefined {
  const [mounted, setMounted] = useState(false);
  useEffect(() => startTransition(() => setMounted(true)), []);
  const deferred = useDeferredValue(value);
  return mounted ? deferred : undefined;
}
