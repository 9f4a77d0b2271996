// Cursor-paged lists (docs/api.md: `{data, next_cursor}`, `?limit=&cursor=`):
// the one way the app reads them, a page at a time, with "Show more" asking
// for the next page (ui/CursorTable.tsx shows them).
import {
  infiniteQueryOptions,
  useInfiniteQuery,
  type InfiniteData,
  type QueryKey,
  type UseInfiniteQueryResult,
} from "@tanstack/react-query";

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

/** The query options of a cursor list: for useCursorList, and for prefetching
 * the first page (queryClient.prefetchInfiniteQuery) before its screen draws. */
export function cursorListQuery<T>({ queryKey, fetchPage, staleTime, enabled }: CursorListOptions<T>) {
  return infiniteQueryOptions({
    queryKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }: { pageParam: string | undefined }) => fetchPage(pageParam),
    getNextPageParam: (last: CursorPage<T>) => last.next_cursor ?? undefined,
    ...(staleTime !== undefined ? { staleTime } : {}),
    ...(enabled !== undefined ? { enabled } : {}),
  });
}

/** The rows of every page loaded so far. */
export function cursorItems<T>(data: InfiniteData<CursorPage<T>, unknown> | undefined): T[] {
  return data?.pages.flatMap((p) => p.data) ?? [];
}

/** A cursor-paged list: the first page now, `fetchNextPage()` for the next. */
export function useCursorList<T>(options: CursorListOptions<T>): CursorList<T> {
  const query = useInfiniteQuery(cursorListQuery(options));
  return { ...query, items: cursorItems(query.data) } as CursorList<T>;
}
