// The account: profile (/account), notifications (/account/notifications),
// password and MFA (/account/security). Screens are lazy-loaded.
import { lazyPage } from "../../app/lazyPage";
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";

const ProfilePage = lazyPage(() => import("./ProfilePage"));
const NotificationsPage = lazyPage(() => import("./NotificationsPage"));
const SecurityPage = lazyPage(() => import("./SecurityPage"));

const guarded = (el: JSX.Element) => <RequireAuth>{el}</RequireAuth>;

export const routes: RouteObject[] = [
  { path: "account", element: guarded(<ProfilePage />) },
  { path: "account/notifications", element: guarded(<NotificationsPage />) },
  { path: "account/security", element: guarded(<SecurityPage />) },
];
