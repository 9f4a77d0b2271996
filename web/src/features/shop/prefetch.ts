// The storefront's first reads (app/lazyPage.ts, "prefetch"): started with
// its chunk, from this small module of the first load; guests may read them.
import { queryClient } from "../../app/queryClient";
import { categoriesQuery, productsQuery } from "./shopApi";

export function catalogPrefetch() {
  const params = new URLSearchParams(window.location.search);
  return Promise.all([
    queryClient.prefetchInfiniteQuery(productsQuery(params.get("q") ?? "", params.get("category"))),
    queryClient.prefetchQuery(categoriesQuery()),
  ]);
}
