// The shop: catalog (/), product (/products/:id), cart (/cart), checkout
// (/checkout), my orders (/orders, /orders/:id). Screens are lazy; the cart
// button in the header is not (it also sends the guest cart at login).
import { lazyPage } from "../../app/lazyPage";
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { addHeaderExtra } from "../../app/slots";
import { CartButton } from "./CartButton";
import { catalogPrefetch } from "./prefetch";

addHeaderExtra(CartButton);

const CatalogPage = lazyPage(() => import("./CatalogPage"), catalogPrefetch);
const ProductPage = lazyPage(() => import("./ProductPage"));
const CartPage = lazyPage(() => import("./CartPage"));
const CheckoutPage = lazyPage(() => import("./CheckoutPage"));
const OrdersPage = lazyPage(() => import("./OrdersPage"));
const OrderPage = lazyPage(() => import("./OrderPage"));

export const routes: RouteObject[] = [
  { index: true, element: <CatalogPage /> },
  { path: "products/:id", element: <ProductPage /> },
  { path: "cart", element: <CartPage /> },
  {
    path: "checkout",
    element: (
      <RequireAuth>
        <CheckoutPage />
      </RequireAuth>
    ),
  },
  {
    path: "orders",
    element: (
      <RequireAuth>
        <OrdersPage />
      </RequireAuth>
    ),
  },
  {
    path: "orders/:id",
    element: (
      <RequireAuth>
        <OrderPage />
      </RequireAuth>
    ),
  },
];
