import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/problem";
import { onLogout } from "../api/session";
import { notifyError } from "../ui/errors";

/** Retries only what may pass on its own: no answer, 503 busy, 429. */
function retry(count: number, err: unknown): boolean {
  if (count >= 2) return false;
  return !(err instanceof ApiError) || err.status === 0 || err.status === 503 || err.status === 429;
}

/**
 * Mutations report their errors in a toast unless the form shows them
 * (`meta: { form: true }`); queries only when a background refetch of data
 * already on screen fails (a first load renders its own error).
 */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: { retry, staleTime: 10_000, refetchOnWindowFocus: false },
    mutations: { retry: false },
  },
  mutationCache: new MutationCache({
    onError: (err, _vars, _ctx, mutation) => {
      if (!mutation.meta?.form) notifyError(err);
    },
  }),
  queryCache: new QueryCache({
    onError: (err, query) => {
      if (query.state.data !== undefined) notifyError(err);
    },
  }),
});

// Signing out (here or in another tab) forgets everything read as that user.
onLogout(() => queryClient.clear());
