// The desk's reads beyond a request's own: the workflows (their states, for
// the queue's filter), the queue with its server-side SLA filter, the
// approvals inbox; and the desk's comment, which may be an internal note.
import { infiniteQueryOptions, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../api/client";
import {
  requestKey,
  requestsKey,
  type ApprovalChain,
  type InboxItem,
  type RequestFilter,
  type ServiceRequest,
} from "../portal/requestsApi";

/** The SLA statuses GET /requests?sla= filters on (the most urgent of a request's targets). */
export const slaFilters = ["breached", "warning", "running", "paused", "met", "none"] as const;
export type SlaFilter = (typeof slaFilters)[number];

/** The queue: GET /requests with its filters and ?sla= (evaluated by the server), a page at a time. */
export function useQueue(f: RequestFilter & { sla?: SlaFilter }, pageSize = 50) {
  return useInfiniteQuery({
    // under ["requests", "queue"]: every write on a request refreshes it
    queryKey: requestsKey("queue", f),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/requests", {
          params: {
            query: {
              limit: pageSize,
              ...(pageParam ? { cursor: pageParam } : {}),
              ...(f.type ? { type: f.type } : {}),
              ...(f.state ? { state: f.state } : {}),
              ...(f.assignee ? { assignee: f.assignee } : {}),
              ...(f.q ? { q: f.q } : {}),
              ...(f.sla ? { sla: f.sla } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}

/**
 * A comment from the desk: public (request.commented, the requester sees it)
 * or an internal note (internal: true, request.noted: staff only).
 */
export function useDeskComment(id: string) {
  const qc = useQueryClient();
  return useMutation({
    meta: { form: true },
    mutationFn: (v: { body: string; internal: boolean }) =>
      unwrap(
        api.POST("/api/v1/requests/{id}/comments", {
          params: { path: { id }, header: { "Idempotency-Key": idempotencyKey() } },
          body: { body: v.body, internal: v.internal },
        }),
      ),
    onSuccess: (r: ServiceRequest) => {
      qc.setQueryData(requestKey(id), (old: ServiceRequest | undefined) => ({ ...old, ...r }));
      void qc.invalidateQueries({ queryKey: requestKey(id) });
      void qc.invalidateQueries({ queryKey: ["requests"] });
    },
  });
}

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
export const inboxQuery = () =>
  infiniteQueryOptions({
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

export function useInbox() {
  return useInfiniteQuery(inboxQuery());
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
