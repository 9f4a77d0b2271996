// Route guards: sign-in and role. A guest is sent to the login page and
// comes back afterwards; a user without the role sees why, not a blank page.
import { Loading } from "../ui/Loading";
import type { ReactNode } from "react";
import { Alert } from "@mantine/core";
import { Navigate, useLocation } from "react-router-dom";
import { useMe, type Area } from "../api/me";
import { Page } from "../ui/Page";

export function RequireAuth({ children, area }: { children: ReactNode; area?: Area }) {
  const me = useMe();
  const loc = useLocation();
  if (me.status === "loading")
    return (
      <Loading label="Loading" />
    );
  if (!me.user) {
    const next = encodeURIComponent(loc.pathname + loc.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  if (area && !me.can(area))
    return (
      <Page title="Not available to your role">
        <Alert color="orange" role="alert">
          This part of Service Flow needs another role than yours ({me.user.role}).
        </Alert>
      </Page>
    );
  return <>{children}</>;
}
