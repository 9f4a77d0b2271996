// The shop: catalog (/), product (/products/:id), cart (/cart), checkout
// (/checkout), my orders (/orders, /orders/:id). Screens are lazy; the cart
// button in the header is not (it also sends the guest cart at login).
import { lazy } from "react";
import type { RouteObject } from "react-router-dom";
import { RequireAuth } from "../../app/guards";
import { addHeaderExtra } from "../../app/slots";
import { CartButton } from "./CartButton";

addHeaderExtra(CartButton);

const CatalogPage = lazy(() => import("./CatalogPage"));
const ProductPage = lazy(() => import("./ProductPage"));
const CartPage = lazy(() => import("./CartPage"));
const CheckoutPage = lazy(() => import("./CheckoutPage"));
const OrdersPage = lazy(() => import("./OrdersPage"));
const OrderPage = lazy(() => import("./OrderPage"));

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
