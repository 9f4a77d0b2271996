// The agents' desk and the approvers' inbox. Lazy screens:
//   /desk                the queue (staff, admins)
//   /desk/requests/:id   a request as the desk works it (approvers too: their decision)
//   /desk/approvals      the approvals inbox (approvers, staff, admins)
//   /requests/:id        a request by whoever asks: the desk's view for those who
//                        may use it, else the portal's (links in notifications, tests)
//   /approvals           → /desk/approvals
import { lazyPage } from "../../app/lazyPage";
import { Navigate, useParams, type RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { useMe } from "../../api/me";
import { inboxPrefetch, requestPrefetch } from "./prefetch";

const QueuePage = lazyPage(() => import("./QueuePage"));
const DeskRequestPage = lazyPage(() => import("./DeskRequestPage"), requestPrefetch);
const InboxPage = lazyPage(() => import("./InboxPage"), inboxPrefetch);

function RequestRedirect() {
  const { id = "" } = useParams();
  const me = useMe();
  const to = me.can("approvals") ? `/desk/requests/${id}` : `/portal/requests/${id}`;
  return <Navigate to={to} replace />;
}

export const routes: RouteObject[] = [
  { path: "desk", element: <RequireAuth area="desk"><QueuePage /></RequireAuth> },
  { path: "desk/requests/:id", element: <RequireAuth area="approvals"><DeskRequestPage /></RequireAuth> },
  { path: "desk/approvals", element: <RequireAuth area="approvals"><InboxPage /></RequireAuth> },
  { path: "requests/:id", element: <RequireAuth><RequestRedirect /></RequireAuth> },
  { path: "approvals", element: <Navigate to="/desk/approvals" replace /> },
];
