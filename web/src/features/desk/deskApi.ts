// The desk's reads beyond a request's own: the workflows (their states, for
// the queue's filter), the queue with its server-side SLA filter, the
// approvals inbox; and the desk's comment, which may be an internal note.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../api/client";
import { cursorListQuery, pageQuery, useCursorList, type CursorListOptions } from "../../api/lists";
import {
  requestKey,
  useRequests,
  type ApprovalChain,
  type InboxItem,
  type RequestFilter,
  type ServiceRequest,
} from "../portal/requestsApi";

/** The SLA statuses GET /requests?sla= filters on (the most urgent of a request's targets). */
export const slaFilters = ["breached", "warning", "running", "paused", "met", "none"] as const;
export type SlaFilter = (typeof slaFilters)[number];

/** The queue: GET /requests with its filters and ?sla= (evaluated by the server), a page at a time;
 * under ["requests", "queue"], so every write on a request refreshes it. */
export function useQueue(f: RequestFilter & { sla?: SlaFilter }, pageSize = 50) {
  return useRequests("queue", f, pageSize);
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
const inboxOptions: CursorListOptions<InboxItem> = {
    queryKey: ["approvals", "inbox"],
    staleTime: 0,
    fetchPage: async (cursor) => {
      const res = await unwrap(api.GET("/api/v1/approvals", { params: { query: pageQuery(50, cursor, { assignee: "me" }) } }));
      return { data: res.data as unknown as InboxItem[], next_cursor: res.next_cursor ?? null };
    },
};

/** The inbox's query options (prefetched with the inbox's chunk: prefetch.ts). */
export const inboxQuery = () => cursorListQuery<InboxItem>(inboxOptions);

export function useInbox() {
  return useCursorList<InboxItem>(inboxOptions);
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
