// The account: profile, notifications, password and MFA.
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { Coming } from "../../ui/Coming";

export const routes: RouteObject[] = [
  {
    path: "account/*",
    element: (
      <RequireAuth>
        <Coming title="Account" />
      </RequireAuth>
    ),
  },
];
