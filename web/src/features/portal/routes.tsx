// The service portal (customers' requests). Screens are lazy-loaded.
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { Coming } from "../../ui/Coming";

export const routes: RouteObject[] = [
  {
    path: "portal/*",
    element: (
      <RequireAuth area="portal">
        <Coming title="Service portal" />
      </RequireAuth>
    ),
  },
];
