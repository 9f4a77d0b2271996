// The account: profile (/account), notifications (/account/notifications),
// password and MFA (/account/security). Screens are lazy-loaded.
import { lazy } from "react";
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";

const ProfilePage = lazy(() => import("./ProfilePage"));
const NotificationsPage = lazy(() => import("./NotificationsPage"));
const SecurityPage = lazy(() => import("./SecurityPage"));

const guarded = (el: JSX.Element) => <RequireAuth>{el}</RequireAuth>;

export const routes: RouteObject[] = [
  { path: "account", element: guarded(<ProfilePage />) },
  { path: "account/notifications", element: guarded(<NotificationsPage />) },
  { path: "account/security", element: guarded(<SecurityPage />) },
];
