// The shop: catalog, product, cart, checkout, orders.
import type { RouteObject } from "react-router-dom";
import { Coming } from "../../ui/Coming";

export const routes: RouteObject[] = [{ index: true, element: <Coming title="Shop" /> }];
