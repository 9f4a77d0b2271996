// Administration (issue 14): workflows, users, catalog and inventory, orders,
// webhooks and mail, system. Every screen is lazy (its own chunk), and the
// YAML editor (CodeMirror) loads only with the workflow editor, so nothing
// of the admin area is in the initial JavaScript.
import { lazyPage } from "../../app/lazyPage";
import type { RouteObject } from "react-router-dom";
import { Navigate } from "react-router-dom";
import { RequireAuth } from "../../app/guards";

const AdminLayout = lazyPage(() => import("./AdminLayout"));
const WorkflowsPage = lazyPage(() => import("./workflows/WorkflowsPage"));
const WorkflowEditorPage = lazyPage(() => import("./workflows/WorkflowEditorPage"));
const UsersPage = lazyPage(() => import("./users/UsersPage"));
const CatalogAdminPage = lazyPage(() => import("./catalog/CatalogAdminPage"));
const AdminOrdersPage = lazyPage(() => import("./orders/AdminOrdersPage"));
const AdminOrderPage = lazyPage(() => import("./orders/AdminOrderPage"));
const WebhooksPage = lazyPage(() => import("./webhooks/WebhooksPage"));
const MailPage = lazyPage(() => import("./mail/MailPage"));
const SystemPage = lazyPage(() => import("./system/SystemPage"));

export const routes: RouteObject[] = [
  {
    path: "admin",
    element: (
      <RequireAuth area="admin">
        <AdminLayout />
      </RequireAuth>
    ),
    children: [
      { index: true, element: <Navigate to="workflows" replace /> },
      { path: "workflows", element: <WorkflowsPage /> },
      { path: "workflows/new", element: <WorkflowEditorPage /> },
      { path: "workflows/:type", element: <WorkflowEditorPage /> },
      { path: "users", element: <UsersPage /> },
      { path: "catalog", element: <CatalogAdminPage /> },
      { path: "orders", element: <AdminOrdersPage /> },
      { path: "orders/:id", element: <AdminOrderPage /> },
      { path: "webhooks", element: <WebhooksPage /> },
      { path: "mail", element: <MailPage /> },
      { path: "system", element: <SystemPage /> },
    ],
  },
];
