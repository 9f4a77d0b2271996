// The service portal (a customer's requests): the catalog of request types
// (/portal), the form of one (/portal/new/:type), my requests
// (/portal/requests) and one request (/portal/requests/:id). Lazy screens.
import { lazyPage } from "../../app/lazyPage";
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";

const CatalogPage = lazyPage(() => import("./CatalogPage"));
const NewRequestPage = lazyPage(() => import("./NewRequestPage"));
const MyRequestsPage = lazyPage(() => import("./MyRequestsPage"));
const RequestPage = lazyPage(() => import("./RequestPage"));

const portal = (el: JSX.Element) => <RequireAuth area="portal">{el}</RequireAuth>;

export const routes: RouteObject[] = [
  { path: "portal", element: portal(<CatalogPage />) },
  { path: "portal/new/:type", element: portal(<NewRequestPage />) },
  { path: "portal/requests", element: portal(<MyRequestsPage />) },
  { path: "portal/requests/:id", element: portal(<RequestPage />) },
];
