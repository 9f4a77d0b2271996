// Catalog, stock and order reads of the shop.
import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import { cursorListQuery, pageQuery, useCursorList, type CursorListOptions } from "../../api/lists";
import type { components } from "../../api/schema";
import { useSession } from "../../api/me";
import { useLiveQuery } from "../../live/hooks";

export type Product = components["schemas"]["Product"];
export type Stock = components["schemas"]["Stock"];
export type Order = components["schemas"]["Order"];

const productsOptions = (q: string, categoryId: string | null): CursorListOptions<Product> => ({
    queryKey: ["products", { q, categoryId }],
    fetchPage: (cursor) =>
      unwrap(api.GET("/api/v1/products", { params: { query: pageQuery(24, cursor, { q, category_id: categoryId }) } })),
});

/** The catalog's query options (prefetched by CatalogPage before it draws). */
export const productsQuery = (q: string, categoryId: string | null) =>
  cursorListQuery<Product>(productsOptions(q, categoryId));

export function useProducts(q: string, categoryId: string | null) {
  return useCursorList<Product>(productsOptions(q, categoryId));
}

export const categoriesQuery = () =>
  queryOptions({
    queryKey: ["categories"],
    queryFn: () => unwrap(api.GET("/api/v1/categories")),
    staleTime: 5 * 60_000,
  });

export function useCategories() {
  return useQuery(categoriesQuery());
}

export function useProduct(id: string) {
  return useQuery({
    queryKey: ["product", id],
    queryFn: () => unwrap(api.GET("/api/v1/products/{id}", { params: { path: { id } } })),
  });
}

/** Stock of a product, live from `stock:<id>` (signed-in users: the GET needs a token). */
export function useStock(id: string) {
  const s = useSession();
  const signedIn = s.status === "signed-in";
  const key = ["stock", id];
  useLiveQuery(signedIn ? `stock:${id}` : null, key);
  return useQuery({
    queryKey: key,
    enabled: signedIn,
    staleTime: 0,
    queryFn: () => unwrap(api.GET("/api/v1/inventory/{product_id}", { params: { path: { product_id: id } } })),
  });
}

export function useOrders() {
  return useCursorList<Order>({
    queryKey: ["orders"],
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/orders", { params: { query: pageQuery(20, cursor) } })),
  });
}

/** An order, live from `order:<id>` (each event refetches it). */
export function useOrder(id: string) {
  const key = ["order", id];
  useLiveQuery(`order:${id}`, key);
  return useQuery({
    queryKey: key,
    queryFn: () => unwrap(api.GET("/api/v1/orders/{id}", { params: { path: { id } } })),
  });
}

export function useOrderEvents(id: string, version: number | undefined) {
  return useQuery({
    queryKey: ["order", id, "events", version],
    enabled: version !== undefined,
    queryFn: () => unwrap(api.GET("/api/v1/orders/{id}/events", { params: { path: { id } } })),
  });
}
