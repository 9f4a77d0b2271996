// The agents' desk (queues, request detail) and the approvals inbox
// (/desk/approvals). Screens are lazy-loaded.
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { Coming } from "../../ui/Coming";

export const routes: RouteObject[] = [
  {
    path: "desk/approvals/*",
    element: (
      <RequireAuth area="approvals">
        <Coming title="Approvals" />
      </RequireAuth>
    ),
  },
  {
    path: "desk/*",
    element: (
      <RequireAuth area="desk">
        <Coming title="Desk" />
      </RequireAuth>
    ),
  },
];
