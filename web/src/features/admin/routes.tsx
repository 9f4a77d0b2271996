// Administration (issue 14): workflows, users, catalog and inventory, orders,
// webhooks and mail, system. Every screen is lazy (its own chunk), and the
// YAML editor (CodeMirror) loads only with the workflow editor, so nothing
// of the admin area is in the initial JavaScript.
import { lazy } from "react";
import type { RouteObject } from "react-router-dom";
import { Navigate } from "react-router-dom";
import { RequireAuth } from "../../app/guards";

const AdminLayout = lazy(() => import("./AdminLayout"));
const WorkflowsPage = lazy(() => import("./workflows/WorkflowsPage"));
const WorkflowEditorPage = lazy(() => import("./workflows/WorkflowEditorPage"));
const UsersPage = lazy(() => import("./users/UsersPage"));
const CatalogAdminPage = lazy(() => import("./catalog/CatalogAdminPage"));
const AdminOrdersPage = lazy(() => import("./orders/AdminOrdersPage"));
const AdminOrderPage = lazy(() => import("./orders/AdminOrderPage"));
const WebhooksPage = lazy(() => import("./webhooks/WebhooksPage"));
const MailPage = lazy(() => import("./mail/MailPage"));
const SystemPage = lazy(() => import("./system/SystemPage"));

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
