// Administration (workflows, users, catalog, orders, webhooks, system).
// Screens are lazy-loaded so none of them is in the initial bundle.
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { Coming } from "../../ui/Coming";

export const routes: RouteObject[] = [
  {
    path: "admin/*",
    element: (
      <RequireAuth area="admin">
        <Coming title="Administration" />
      </RequireAuth>
    ),
  },
];
