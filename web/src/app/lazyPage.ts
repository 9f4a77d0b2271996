// A lazy screen that can be fetched before React asks for it. routes.tsx
// calls `preload` with the first URL's parameters as soon as the app starts,
// so the chunk and the session's refresh travel together. A screen may also
// have a `prefetch(params)` (given here, from a small module of its feature,
// not the screen's own chunk): the reads its first draw needs, started with
// the chunk, as soon as the session allows (the session starts first:
// api/sessionStart.ts). The app's first render waits for both (main.tsx), and
// a chunk already loaded is handed to React at once: the first screen is drawn
// with its data in the app's first commit, without a Suspense fallback.
//
// Deferred: a screen's draw with data that arrives later (a query resolving)
// is a synchronous render (TanStack Query updates through
// useSyncExternalStore), one long task on a slow phone. The heavy screens pass
// their data through `useDeferredData` (React's useDeferredValue, and on mount
// too, except for the first screen, already inside the app's first render, a
// transition): the urgent render keeps the spinner, and the screen is then
// drawn as a transition, in slices that yield to the browser.
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
  prefetch?: (params: Params) => Promise<unknown> | void,
): LazyPage<T> {
  let started: Promise<PageModule<T>> | null = null;
  let loaded: PageModule<T> | null = null;
  const once = () => (started ??= load().then((m) => (loaded = m)));
  const preload = (params?: Params) => Promise.all([once(), params && prefetch ? prefetch(params) : null]);
  // a chunk already here is handed over at once (a thenable that calls back in `then`): React
  // then draws the screen in the same render instead of suspending to wait for a microtask
  const now = (m: PageModule<T>) => ({ then: (ok: (m: PageModule<T>) => void) => ok(m) }) as unknown as Promise<PageModule<T>>;
  return Object.assign(
    lazy(() => (loaded ? now(loaded) : once())),
    { preload },
  );
}

const settled = new WeakMap<() => Promise<unknown>, unknown>();

/** What `load` gives (a module, a component), undefined until it has arrived; loading starts
 * once `when` holds. For pieces a screen can be drawn without (a menu, the toasts' container):
 * unlike React.lazy, nothing suspends, and a fallback drawn would hold back the reveal of every
 * other suspended part by up to 500 ms (React 18's fallback throttle). */
export function useLoaded<T>(load: () => Promise<T>, when = true): T | undefined {
  const [value, setValue] = useState<T | undefined>(() => settled.get(load) as T | undefined);
  useEffect(() => {
    if (!when || value !== undefined) return;
    let live = true;
    load().then(
      (v) => {
        settled.set(load, v);
        if (live) setValue(() => v);
      },
      () => {}, // not there (offline, a new deploy): drawn without it, tried again on the next mount
    );
    return () => {
      live = false;
    };
  }, [load, when, value]);
  return value;
}

/** For a screen's `prefetch`: true once a session is there (a guest's reads would be refused). */
export async function signedIn(): Promise<boolean> {
  return (await accessToken()) !== null;
}

let firstDrawn = false;

/** Called once the app's first render is on the screen (App.tsx). */
export function useFirstDrawn(): void {
  useEffect(() => {
    firstDrawn = true;
  }, []);
}

/** `value` for a screen's heavy draw: undefined in the screen's first render,
 * then deferred (app/lazyPage.ts, "deferred"). */
export function useDeferredData<T>(value: T): T | undefined {
  // the first screen is drawn in the app's first render, itself a transition (main.tsx)
  const [mounted, setMounted] = useState(!firstDrawn);
  useEffect(() => {
    if (!mounted) startTransition(() => setMounted(true));
  }, [mounted]);
  const deferred = useDeferredValue(value);
  return mounted ? deferred : undefined;
}
