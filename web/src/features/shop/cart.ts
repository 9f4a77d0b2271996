// The shopping cart (docs/commerce.md "Carts").
//
// A guest's cart is a server cart reached with its Cart-Token, kept in
// localStorage so it survives reloads. Login and registration send that
// token (session.addLoginHeaders): the server claims the cart for the user
// or merges it into theirs and answers `cart_id`; the guest token is then
// dropped. A signed-in user's cart is their one open cart (POST /carts
// answers it, or makes one).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../api/client";
import type { components } from "../../api/schema";
import { ApiError } from "../../api/problem";
import { addLoginHeaders, getSession, onLogin } from "../../api/session";
import { useSession } from "../../api/me";

export type Cart = components["schemas"]["Cart"];
export type CartLine = Cart["items"][number];

const GUEST_KEY = "sf.guest_cart";

interface GuestCart {
  id: string;
  token: string;
}

function readGuest(): GuestCart | null {
  try {
    const v = JSON.parse(localStorage.getItem(GUEST_KEY) || "null") as GuestCart | null;
    return v && typeof v.id === "string" && typeof v.token === "string" ? v : null;
  } catch {
    return null;
  }
}

function writeGuest(g: GuestCart | null): void {
  try {
    if (g) localStorage.setItem(GUEST_KEY, JSON.stringify(g));
    else localStorage.removeItem(GUEST_KEY);
  } catch {
    /* storage off: the cart lasts as long as the page */
  }
}

addLoginHeaders((): Record<string, string> => {
  const g = readGuest();
  return g ? { "Cart-Token": g.token } : {};
});
onLogin((tokens) => {
  if (tokens.cart_id) writeGuest(null);
});

export function cartKey(): readonly unknown[] {
  const s = getSession();
  return ["cart", s.user?.id ?? "guest"];
}

function guestHeaders(): Record<string, string> {
  const g = getSession().status === "signed-in" ? null : readGuest();
  return g ? { "Cart-Token": g.token } : {};
}

/** The cart as the server has it now; null for a guest without one. */
async function loadCart(): Promise<Cart | null> {
  if (getSession().status === "signed-in") return unwrap(api.POST("/api/v1/carts", { body: {} }));
  const g = readGuest();
  if (!g) return null;
  try {
    const cart = await unwrap(
      api.GET("/api/v1/carts/{id}", { params: { path: { id: g.id }, header: { "Cart-Token": g.token } } }),
    );
    if (cart.status === "open") return cart;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  writeGuest(null); // merged, checked out or gone: start afresh on the next add
  return null;
}

/** The cart to add to: the current one, or a new one (a guest's with its token). */
async function ensureCart(current: Cart | null | undefined): Promise<Cart> {
  if (current && current.status === "open") return current;
  const cart = await unwrap(api.POST("/api/v1/carts", { body: {}, params: { header: guestHeaders() } }));
  if (cart.token && getSession().status !== "signed-in") writeGuest({ id: cart.id, token: cart.token });
  return cart;
}

export function useCart() {
  const s = useSession();
  return useQuery({
    queryKey: ["cart", s.user?.id ?? "guest"],
    queryFn: loadCart,
    enabled: s.status !== "loading",
    staleTime: 5_000,
  });
}

/** Adds `quantity` of a product (a cart is made on the first add). */
export function useAddToCart() {
  const qc = useQueryClient();
  return useMutation({
    meta: { form: true }, // the product page shows the error beside the button
    mutationFn: async ({ productId, quantity }: { productId: string; quantity: number }) => {
      let cart = await ensureCart(qc.getQueryData<Cart | null>(cartKey()));
      const add = (id: string) =>
        unwrap(
          api.POST("/api/v1/carts/{id}/lines", {
            params: { path: { id }, header: { ...guestHeaders(), "Idempotency-Key": idempotencyKey() } },
            body: { product_id: productId, quantity },
          }),
        );
      try {
        return await add(cart.id);
      } catch (e) {
        // The cart was checked out or merged elsewhere (another tab): use a new one.
        if (!(e instanceof ApiError) || (e.code !== "cart-closed" && e.status !== 404)) throw e;
        writeGuest(null);
        cart = await ensureCart(null);
        return add(cart.id);
      }
    },
    onSuccess: (cart) => qc.setQueryData(cartKey(), cart),
  });
}

/** Sets a line's quantity (0 removes it); also how a changed price is accepted. */
export function useSetLine() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ cartId, productId, quantity }: { cartId: string; productId: string; quantity: number }) =>
      unwrap(
        api.PATCH("/api/v1/carts/{id}/lines/{product_id}", {
          params: { path: { id: cartId, product_id: productId }, header: guestHeaders() },
          body: { quantity },
        }),
      ),
    onSuccess: (cart) => qc.setQueryData(cartKey(), cart),
    onError: () => void qc.invalidateQueries({ queryKey: cartKey() }),
  });
}

export function useRemoveLine() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ cartId, productId }: { cartId: string; productId: string }) =>
      unwrap(
        api.DELETE("/api/v1/carts/{id}/lines/{product_id}", {
          params: { path: { id: cartId, product_id: productId }, header: guestHeaders() },
        }),
      ),
    onSuccess: (cart) => qc.setQueryData(cartKey(), cart),
    onError: () => void qc.invalidateQueries({ queryKey: cartKey() }),
  });
}
