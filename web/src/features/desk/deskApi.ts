// The desk's reads beyond a request's own: the workflows (their states, for
// the queue's filter) and the approvals inbox.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { ApprovalChain, InboxItem } from "../portal/requestsApi";

/** The states of each published type (GET /workflows: workflows:read), in definition order. */
export function useWorkflowStates(enabled: boolean) {
  return useQuery({
    queryKey: ["workflows", "states"],
    enabled,
    staleTime: 5 * 60_000,
    queryFn: async () => {
      const res = await unwrap(api.GET("/api/v1/workflows"));
      const out: Record<string, string[]> = {};
      for (const w of res.data) {
        const states = (w.definition as { states?: Record<string, unknown> }).states ?? {};
        out[w.type] = Object.keys(states);
      }
      return out;
    },
  });
}

/** GET /approvals?assignee=me, newest first. */
export function useInbox() {
  return useInfiniteQuery({
    queryKey: ["approvals", "inbox"],
    initialPageParam: undefined as string | undefined,
    staleTime: 0,
    queryFn: async ({ pageParam }) => {
      const res = await unwrap(
        api.GET("/api/v1/approvals", {
          params: { query: { assignee: "me", limit: 50, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      );
      return { data: res.data as unknown as InboxItem[], next_cursor: res.next_cursor ?? null };
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}

/** Whether `me` has a task to decide at the chain's open level (the server decides; this only offers the form). */
export function mayDecide(
  chain: ApprovalChain | null,
  me: { id: string; role: string } | null | undefined,
  requester: string,
): boolean {
  if (!chain || !chain.pending || !me || me.id === requester) return false;
  const level = chain.pending.level;
  const tasks = (chain.tasks ?? []).filter((t) => t.level === level);
  if (tasks.some((t) => t.decided_by === me.id)) return false;
  return tasks.some((t) => !t.decision && (t.assignee.user === me.id || (!t.assignee.user && t.assignee.role === me.role)));
}
