// Cursor-paged lists (docs/api.md: `{data, next_cursor}`, `?limit=&cursor=`):
// the one way the app reads them, a page at a time, with "Show more" asking
// for the next page (ui/CursorTable.tsx shows them).
import { useInfiniteQuery, type InfiniteData, type QueryKey, type UseInfiniteQueryResult } from "@tanstack/react-query";

/** One page of a list as the API answers it. */
export interface CursorPage<T> {
  data: T[];
  next_cursor?: string | null;
}

type Given<V> = Exclude<V, null | undefined | "">;

/**
 * The query of one page: `limit`, the cursor when there is one, and each
 * filter that has a value (null, undefined and "" are left out, as the API
 * reads a missing parameter as "any").
 *   api.GET("/api/v1/orders", { params: { query: pageQuery(50, cursor, { status, customer_id }) } })
 */
export function pageQuery<F extends object>(
  limit: number,
  cursor: string | undefined,
  filters?: F,
): { limit: number; cursor?: string } & { [K in keyof F]?: Given<F[K]> } {
  const out: Record<string, unknown> = { limit };
  if (cursor) out.cursor = cursor;
  for (const [k, v] of Object.entries(filters ?? {})) if (v !== null && v !== undefined && v !== "") out[k] = v;
  return out as { limit: number; cursor?: string } & { [K in keyof F]?: Given<F[K]> };
}

/** A cursor list's query, with every row loaded so far in `items`. */
export type CursorList<T> = UseInfiniteQueryResult<InfiniteData<CursorPage<T>, string | undefined>, Error> & {
  items: T[];
};

export interface CursorListOptions<T> {
  /** Its cache key: a write that changes the list invalidates a prefix of it. */
  queryKey: QueryKey;
  /** Reads the page after `cursor` (undefined: the first page). */
  fetchPage: (cursor: string | undefined) => Promise<CursorPage<T>>;
  staleTime?: number;
  enabled?: boolean;
}

/** A cursor-paged list: the first page now, `fetchNextPage()` for the next. */
export function useCursorList<T>({ queryKey, fetchPage, staleTime, enabled }: CursorListOptions<T>): CursorList<T> {
  const query = useInfiniteQuery({
    queryKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    getNextPageParam: (last: CursorPage<T>) => last.next_cursor ?? undefined,
    ...(staleTime !== undefined ? { staleTime } : {}),
    ...(enabled !== undefined ? { enabled } : {}),
  });
  return { ...query, items: query.data?.pages.flatMap((p) => p.data) ?? [] } as CursorList<T>;
}
