// The typed API client: openapi-fetch over the paths generated from the
// server's OpenAPI document. Every request carries the access token; a 401
// on a request that had one refreshes the session once and retries.
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { accessToken, refresh } from "./session";
import { ApiError, asApiError, type ProblemBody } from "./problem";

async function authFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const token = await accessToken();
  if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
  const res = await fetch(request);
  if (res.status !== 401 || !token) return res;
  const fresh = await refresh();
  if (!fresh) return res;
  retry.headers.set("Authorization", `Bearer ${fresh}`);
  return fetch(retry);
}

export const api = createClient<paths>({ baseUrl: "", fetch: authFetch });

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws an ApiError
 * (problem+json read into title, detail and field errors).
 *   const order = await unwrap(api.GET("/api/v1/orders/{id}", {params: {path: {id}}}));
 */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch (e) {
    throw asApiError(e);
  }
  const { data, error, response } = answer;
  if (!response.ok) {
    const ra = response.headers.get("Retry-After");
    throw new ApiError(response.status, (error ?? {}) as ProblemBody, ra && /^\d+$/.test(ra) ? Number(ra) : null);
  }
  return data as T;
}

/** A random Idempotency-Key for a write that may be retried. */
export function idempotencyKey(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
