// Service requests (docs/workflows.md, docs/api.md): the catalog of request
// types, lists, one request with its audit trail, and the writes (open,
// act, comment, assign, decide, delegate). Shared by the portal (customers)
// and the desk (agents, approvers). Reads of one request follow its topic
// `request:<id>`: every event refetches the request and its events.
import { queryOptions, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../api/client";
import { pageQuery, useCursorList } from "../../api/lists";
import type { components } from "../../api/schema";
import { useLiveQuery } from "../../live/hooks";

export type ServiceRequest = components["schemas"]["ServiceRequest"];
export type RequestType = components["schemas"]["RequestType"];
export type RequestField = components["schemas"]["RequestField"];
export type RequestEvent = components["schemas"]["Event"];
export type SlaView = NonNullable<ServiceRequest["sla"]>;
export type SlaTarget = NonNullable<SlaView["targets"]>[number];

/** An approval task as the request view and the inbox show it (workflows.md, Approvals). */
export interface ApprovalTask {
  level: number;
  name: string;
  assignee: { user?: string; role?: string };
  via_role?: string;
  requested_at: string;
  /** null while open; approved, rejected, delegated (handed on), closed (the level ended without this vote) */
  decision: "approved" | "rejected" | "delegated" | "closed" | null;
  decided_by?: string;
  decided_at?: string;
  comment?: string;
  delegated_from?: string;
}

export interface ApprovalChain {
  chain: number;
  state: string;
  status: "pending" | "approved" | "rejected" | "cancelled";
  started_at: string;
  ended_at?: string | null;
  pending: { level: number; name: string; quorum: unknown; needed: number; approved: number } | null;
  tasks: ApprovalTask[];
}

/** An item of GET /approvals (the inbox). */
export interface InboxItem extends ApprovalTask {
  chain: number;
  request: { id: string; type: string; title: string; state: string; data?: Record<string, unknown> };
}

/** The request view's `approvals`, typed (the OpenAPI document leaves its members open). */
export function approvalsOf(r: ServiceRequest): ApprovalChain | null {
  return (r.approvals as ApprovalChain | null | undefined) ?? null;
}

export function assigneeOf(r: Pick<ServiceRequest, "assignee">): { user?: string; role?: string } | null {
  return (r.assignee as { user?: string; role?: string } | null) ?? null;
}

// ---- the catalog ----

/** Every request type one may open (all pages of GET /request-types). */
export const requestTypesQuery = () =>
  queryOptions({
    queryKey: ["request-types"],
    staleTime: 5 * 60_000,
    queryFn: async () => {
      const all: RequestType[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const res = await unwrap(
          api.GET("/api/v1/request-types", { params: { query: { limit: 200, ...(cursor ? { cursor } : {}) } } }),
        );
        all.push(...(res.data as RequestType[]));
        if (!res.next_cursor) break;
        cursor = res.next_cursor;
      }
      return all;
    },
  });

export function useRequestTypes() {
  return useQuery(requestTypesQuery());
}

export function useRequestType(type: string | undefined) {
  const types = useRequestTypes();
  return { ...types, type: types.data?.find((t) => t.type === type) };
}

// ---- lists ----

export interface RequestFilter {
  type?: string;
  state?: string;
  assignee?: string;
  q?: string;
  /** "me": only one's own (agents see every request otherwise) */
  createdBy?: "me";
}

export const requestsKey = (scope: string, f: RequestFilter) => ["requests", scope, f] as const;

/** The query of GET /requests for a filter (and more parameters, e.g. the desk's sla). */
export function requestsQuery(f: RequestFilter & { sla?: string }, limit: number, cursor: string | undefined) {
  const { createdBy, ...rest } = f;
  return pageQuery(limit, cursor, { ...rest, created_by: createdBy });
}

/** GET /requests with its filters, newest first, a page at a time (key ["requests", scope, f]). */
export function useRequests(scope: string, f: RequestFilter & { sla?: string }, pageSize = 25) {
  return useCursorList<ServiceRequest>({
    queryKey: requestsKey(scope, f),
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/requests", { params: { query: requestsQuery(f, pageSize, cursor) } })),
  });
}

// ---- one request ----

export const requestKey = (id: string) => ["request", id] as const;

/** One request, live from `request:<id>` (its events also refresh the trail below). */
export const requestQuery = (id: string) =>
  queryOptions({
    queryKey: requestKey(id),
    staleTime: 0,
    queryFn: () => unwrap(api.GET("/api/v1/requests/{id}", { params: { path: { id } } })),
  });

export function useRequest(id: string) {
  useLiveQuery(`request:${id}`, requestKey(id));
  return useQuery(requestQuery(id));
}

/** The request's audit trail (GET …/events), refreshed with the request. */
export const requestEventsQuery = (id: string) =>
  queryOptions({
    queryKey: [...requestKey(id), "events"],
    staleTime: 0,
    queryFn: () => unwrap(api.GET("/api/v1/requests/{id}/events", { params: { path: { id } } })),
  });

export function useRequestEvents(id: string) {
  return useQuery(requestEventsQuery(id));
}

/** The writes on one request; each puts the answer (the request) into the cache. */
export function useRequestWrites(id: string) {
  const qc = useQueryClient();
  const done = (r: ServiceRequest) => {
    qc.setQueryData(requestKey(id), (old: ServiceRequest | undefined) => ({ ...old, ...r }));
    void qc.invalidateQueries({ queryKey: requestKey(id) });
    void qc.invalidateQueries({ queryKey: ["requests"] });
    void qc.invalidateQueries({ queryKey: ["approvals"] });
  };
  const transition = useMutation({
    meta: { form: true },
    mutationFn: (v: { action: string; comment?: string; version?: number }) =>
      unwrap(
        api.POST("/api/v1/requests/{id}/transitions", {
          params: {
            path: { id },
            header: v.version !== undefined ? { "If-Match": `"${v.version}"` } : {},
          },
          body: { action: v.action, ...(v.comment ? { comment: v.comment } : {}) },
        }),
      ),
    onSuccess: done,
  });
  const comment = useMutation({
    meta: { form: true },
    mutationFn: (body: string) =>
      unwrap(
        api.POST("/api/v1/requests/{id}/comments", {
          params: { path: { id }, header: { "Idempotency-Key": idempotencyKey() } },
          body: { body },
        }),
      ),
    onSuccess: done,
  });
  const assign = useMutation({
    meta: { form: true },
    mutationFn: (to: { user_id: string } | { role: "customer" | "staff" | "approver" | "admin" }) =>
      unwrap(api.POST("/api/v1/requests/{id}/assignment", { params: { path: { id } }, body: to })),
    onSuccess: done,
  });
  return { transition, comment, assign };
}

/** Approve, reject or delegate the caller's task at a request's open level. */
export function useApprovalWrites() {
  const qc = useQueryClient();
  const done = (r: ServiceRequest) => {
    qc.setQueryData(requestKey(r.id), (old: ServiceRequest | undefined) => ({ ...old, ...r }));
    void qc.invalidateQueries({ queryKey: requestKey(r.id) });
    void qc.invalidateQueries({ queryKey: ["approvals"] });
    void qc.invalidateQueries({ queryKey: ["requests"] });
  };
  const decide = useMutation({
    meta: { form: true },
    mutationFn: (v: { id: string; decision: "approve" | "reject"; comment?: string }) =>
      unwrap(
        api.POST("/api/v1/requests/{id}/approvals", {
          params: { path: { id: v.id } },
          body: { decision: v.decision, ...(v.comment ? { comment: v.comment } : {}) },
        }),
      ),
    onSuccess: done,
  });
  const delegate = useMutation({
    meta: { form: true },
    mutationFn: (v: { id: string; to: string; comment?: string }) =>
      unwrap(
        api.POST("/api/v1/requests/{id}/approvals/delegate", {
          params: { path: { id: v.id } },
          body: { to: v.to, ...(v.comment ? { comment: v.comment } : {}) },
        }),
      ),
    onSuccess: done,
  });
  return { decide, delegate };
}

/** Opens a request (POST /requests); the answer is cached as the request. */
export function useOpenRequest() {
  const qc = useQueryClient();
  return useMutation({
    meta: { form: true },
    mutationFn: (v: { type: string; title: string; data: Record<string, unknown> }) =>
      // `data` is an open object in the document (its members are the type's fields)
      unwrap(api.POST("/api/v1/requests", { body: { ...v, data: v.data as Record<string, never> } })),
    onSuccess: (r) => {
      qc.setQueryData(requestKey(r.id), r);
      void qc.invalidateQueries({ queryKey: ["requests"] });
    },
  });
}

// ---- people ----

export type User = components["schemas"]["User"];

/** Who may list users (GET /users): staff and admins. */
export const mayListUsers = (role: string | undefined) => role === "staff" || role === "admin";

/** Every user (all pages of GET /users), for names and pickers. */
export const usersQuery = () =>
  queryOptions({
    queryKey: ["users", "all"],
    staleTime: 5 * 60_000,
    queryFn: async () => {
      const all: User[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await unwrap(
          api.GET("/api/v1/users", { params: { query: { limit: 200, ...(cursor ? { cursor } : {}) } } }),
        );
        const r = res as { data: User[]; next_cursor?: string | null };
        all.push(...r.data);
        if (!r.next_cursor) break;
        cursor = r.next_cursor;
      }
      return all;
    },
  });

/** The users one may pick (GET /users: staff and admins only; others get null). */
export function useUsers(enabled: boolean) {
  return useQuery({ ...usersQuery(), enabled });
}
