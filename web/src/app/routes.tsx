// The app's routes: the shell, the login page, each feature's routes (one
// line per feature: features/<name>/routes.tsx) and the 404 page.
import { isValidElement, type ReactNode } from "react";
import { createBrowserRouter, matchRoutes, type Params, type RouteObject } from "react-router-dom";
import { lazyPage } from "./lazyPage";
import { Shell } from "./Shell";
import { RouteError } from "./ErrorBoundary";
import { NotFoundPage } from "./NotFoundPage";
import { routes as shop } from "../features/shop/routes";
import { routes as account } from "../features/account/routes";
import { routes as portal } from "../features/portal/routes";
import { routes as desk } from "../features/desk/routes";
import { routes as admin } from "../features/admin/routes";

// lazy like every screen: its form (password, MFA code) is not needed by a first visit
const LoginPage = lazyPage(() => import("./LoginPage").then((m) => ({ default: m.LoginPage })));

const features: RouteObject[] = [...shop, ...account, ...portal, ...desk, ...admin];

const tree: RouteObject[] = [
  {
    element: <Shell />,
    errorElement: <RouteError />,
    children: [
      { path: "login", element: <LoginPage /> },
      ...features,
      { path: "*", element: <NotFoundPage /> },
    ],
  },
];

export const router = createBrowserRouter(tree, {
  future: {
    v7_relativeSplatPath: true,
    v7_fetcherPersist: true,
    v7_normalizeFormMethod: true,
    v7_partialHydration: true,
    v7_skipActionErrorRevalidation: true,
  },
});

/** Starts the chunks (and first reads) of the lazy screens in `node` (an element and its children). */
function preloadIn(node: ReactNode, params: Params, started: unknown[]): void {
  if (Array.isArray(node)) return node.forEach((n) => preloadIn(n, params, started));
  if (!isValidElement(node)) return;
  const preload = (node.type as { preload?: (p: Params) => unknown }).preload;
  if (typeof preload === "function") started.push(preload(params));
  preloadIn((node.props as { children?: ReactNode }).children, params, started);
}

// The first URL's screens load now, beside the session's refresh, not after it
// (lazyPage.ts).
const started: unknown[] = [];
for (const m of matchRoutes(tree, window.location) ?? []) preloadIn(m.route.element, m.params, started);
/** The first URL's chunks and first reads, all arrived (or failed). */
export const firstScreen: Promise<unknown> = Promise.allSettled(started);
