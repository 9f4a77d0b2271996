// The app's routes: the shell, the login page, each feature's routes (one
// line per feature: features/<name>/routes.tsx) and the 404 page.
import { lazy } from "react";
import { createBrowserRouter, type RouteObject } from "react-router-dom";
import { Shell } from "./Shell";
import { RouteError } from "./ErrorBoundary";
import { NotFoundPage } from "./NotFoundPage";
import { routes as shop } from "../features/shop/routes";
import { routes as account } from "../features/account/routes";
import { routes as portal } from "../features/portal/routes";
import { routes as desk } from "../features/desk/routes";
import { routes as admin } from "../features/admin/routes";

// lazy like every screen: its form (password, MFA code) is not needed by a first visit
const LoginPage = lazy(() => import("./LoginPage").then((m) => ({ default: m.LoginPage })));

const features: RouteObject[] = [...shop, ...account, ...portal, ...desk, ...admin];

export const router = createBrowserRouter(
  [
    {
      element: <Shell />,
      errorElement: <RouteError />,
      children: [
        { path: "login", element: <LoginPage /> },
        ...features,
        { path: "*", element: <NotFoundPage /> },
      ],
    },
  ],
  {
    future: {
      v7_relativeSplatPath: true,
      v7_fetcherPersist: true,
      v7_normalizeFormMethod: true,
      v7_partialHydration: true,
      v7_skipActionErrorRevalidation: true,
    },
  },
);
