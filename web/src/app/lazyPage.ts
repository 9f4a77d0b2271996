// A lazy screen that can be fetched before React asks for it. The router's
// first render waits for the session (a refresh round trip) before a guarded
// screen is drawn, and only then would React.lazy start the screen's chunk:
// routes.tsx calls `preload` for the screens of the first URL as soon as the
// app starts, so the chunk and the session arrive together.
import { lazy, type ComponentType, type LazyExoticComponent } from "react";

export type LazyPage<T extends ComponentType<any>> = LazyExoticComponent<T> & { preload: () => Promise<unknown> };

export function lazyPage<T extends ComponentType<any>>(load: () => Promise<{ default: T }>): LazyPage<T> {
  let started: Promise<{ default: T }> | null = null;
  const once = () => (started ??= load());
  return Object.assign(lazy(once), { preload: once });
}

// Deferred: a screen's first draw with its data (a query resolving) is a
// synchronous render (TanStack Query updates through useSyncExternalStore),
// one long task on a slow phone. The heavy screens pass their data through
// React's useDeferredValue: the urgent render keeps the spinner, and the
// screen is then drawn as a transition, in slices that yield to the browser.
