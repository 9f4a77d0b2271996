// The signed-in session (docs/api.md "Auth", "Sessions").
//
// - The access token (JWT, 15 min) lives in memory only.
// - The refresh token is kept in localStorage so a reload or a second tab
//   stays signed in. It rotates on every refresh, and presenting a rotated
//   one revokes the whole family (theft detection), so refreshes are
//   serialized across tabs with the Web Locks API and always read the
//   newest token from storage inside the lock.
// - Logout revokes the family; another tab sees the token vanish (storage
//   event) and signs out too.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { ApiError, asApiError, type ProblemBody } from "./problem";

export type User = components["schemas"]["User"];
export type TokenPair = components["schemas"]["TokenPair"];

export type SessionStatus = "loading" | "anonymous" | "signed-in";
export interface SessionState {
  status: SessionStatus;
  user: User | null;
}

export type LoginResult = { ok: true; tokens: TokenPair } | { ok: false; mfaToken: string; expiresIn: number };

const REFRESH_KEY = "sf.refresh_token";
const LOCK_NAME = "sf.session.refresh";

/** A client with no auth middleware: the auth endpoints themselves. */
const authApi = createClient<paths>({ baseUrl: "" });

interface SessionModuleState {
  state: SessionState;
  access: string | null;
  accessExpiresAt: number;
  inflight: Promise<string | null> | null;
  timer: ReturnType<typeof setTimeout> | null;
  listeners: Set<() => void>;
  loginHeaders: Array<() => Record<string, string>>;
  loginHooks: Array<(tokens: TokenPair) => void>;
  logoutHooks: Array<() => void>;
  endedHooks: Array<(why: string) => void>;
}

const session: SessionModuleState = {
  state: { status: "loading", user: null },
  access: null,
  accessExpiresAt: 0,
  inflight: null,
  timer: null,
  listeners: new Set(),
  loginHeaders: [],
  loginHooks: [],
  logoutHooks: [],
  endedHooks: [],
};

function storedRefresh(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function storeRefresh(token: string | null): void {
  try {
    if (token) localStorage.setItem(REFRESH_KEY, token);
    else localStorage.removeItem(REFRESH_KEY);
  } catch {
    /* private mode: the session lasts as long as the tab */
  }
}

function notify(): void {
  session.listeners.forEach((fn) => fn());
}

function setState(next: SessionState): void {
  session.state = next;
  notify();
}

/** Resolves once the session's state is known (not "loading"). */
export function sessionKnown(): Promise<void> {
  return new Promise((resolve) => {
    if (session.state.status !== "loading") return resolve();
    const check = () => {
      if (session.state.status === "loading") return;
      session.listeners.delete(check);
      resolve();
    };
    session.listeners.add(check);
  });
}

export function getSession(): SessionState {
  return session.state;
}

export function subscribeSession(fn: () => void): () => void {
  session.listeners.add(fn);
  return () => session.listeners.delete(fn);
}

/** Headers added to login/register/MFA login (the shop adds its guest Cart-Token). */
export function addLoginHeaders(fn: () => Record<string, string>): void {
  session.loginHeaders.push(fn);
}

/** Called with the token answer of every login (the shop adopts `cart_id`). */
export function onLogin(fn: (tokens: TokenPair) => void): void {
  session.loginHooks.push(fn);
}

export function onLogout(fn: () => void): void {
  session.logoutHooks.push(fn);
}

/** Called when the server ends a live session (revoked, disabled, expired), with its reason. */
export function onSessionEnded(fn: (why: string) => void): void {
  session.endedHooks.push(fn);
}

function loginHeaders(): Record<string, string> {
  return Object.assign({}, ...session.loginHeaders.map((fn) => fn()));
}

function keep(tokens: TokenPair): void {
  session.access = tokens.access_token;
  session.accessExpiresAt = Date.now() + tokens.expires_in * 1000;
  storeRefresh(tokens.refresh_token);
  scheduleRefresh(tokens.expires_in);
}

function adopt(tokens: TokenPair): void {
  keep(tokens);
  setState({ status: "signed-in", user: tokens.user });
}

/** A refresh's answer: the token's waiters first, the session's listeners after. The reads
 * waiting for the token (the first screen's, started with its chunk) leave at once; React's
 * draw of the signed-in shell, which a listener starts, would otherwise run before them (its
 * flush is one microtask, their continuations several). */
function adoptRefreshed(tokens: TokenPair, settle: (access: string) => void): void {
  keep(tokens);
  settle(tokens.access_token);
  session.state = { status: "signed-in", user: tokens.user };
  setTimeout(notify, 0);
}

function clearLocal(): void {
  const wasSignedIn = session.state.status === "signed-in";
  session.access = null;
  session.accessExpiresAt = 0;
  if (session.timer) clearTimeout(session.timer);
  session.timer = null;
  setState({ status: "anonymous", user: null });
  if (wasSignedIn) session.logoutHooks.forEach((fn) => fn());
}

/** Refresh a minute before the access token expires, so requests rarely meet a 401. */
function scheduleRefresh(expiresIn: number): void {
  if (session.timer) clearTimeout(session.timer);
  const ms = Math.max(5, expiresIn - 60) * 1000;
  session.timer = setTimeout(() => void refresh(), ms);
}

function problemOf(error: unknown, res: Response): ApiError {
  const ra = res.headers.get("Retry-After");
  return new ApiError(res.status, (error ?? {}) as ProblemBody, ra && /^\d+$/.test(ra) ? Number(ra) : null);
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return fn();
  return locks.request(LOCK_NAME, fn) as Promise<T>;
}

/** Refreshes inside the lock; the promise settles as soon as the answer is known, not when the
 * lock has been given back (one more round trip to the browser). */
function doRefresh(): Promise<string | null> {
  return new Promise((settle, fail) => {
    lockedRefresh(settle).then(settle, fail);
  });
}

function lockedRefresh(settle: (access: string) => void): Promise<string | null> {
  return withLock(async () => {
    const token = storedRefresh();
    if (!token) {
      clearLocal();
      return null;
    }
    let answer;
    try {
      answer = await authApi.POST("/api/v1/auth/refresh", { body: { refresh_token: token } });
    } catch {
      // Offline or the server restarting: keep the refresh token, try again later.
      if (session.state.status === "loading") setState({ status: "anonymous", user: null });
      scheduleRefresh(70);
      return null;
    }
    const { data, error, response } = answer;
    if (data && response.ok) {
      adoptRefreshed(data, settle);
      return data.access_token;
    }
    if (response.status >= 500 || response.status === 429) {
      if (session.state.status === "loading") setState({ status: "anonymous", user: null });
      scheduleRefresh(70);
      return null;
    }
    // 401 invalid-token / token-reused, 403 disabled or unverified: the session is over.
    const wasSignedIn = session.state.status === "signed-in";
    if (storedRefresh() === token) storeRefresh(null);
    clearLocal();
    if (wasSignedIn) {
      const why = (error as ProblemBody | undefined)?.detail || "Your session has ended.";
      session.endedHooks.forEach((fn) => fn(why));
    }
    return null;
  });
}

/** Gets a new access token with the refresh token; null when the session is over. */
export function refresh(): Promise<string | null> {
  if (!session.inflight) {
    session.inflight = doRefresh().finally(() => {
      session.inflight = null;
    });
  }
  return session.inflight;
}

/** The current access token, refreshed first when it is (nearly) expired. */
export async function accessToken(): Promise<string | null> {
  if (session.inflight) return session.inflight;
  if (session.access && Date.now() < session.accessExpiresAt - 10_000) return session.access;
  if (!storedRefresh()) return null;
  return refresh();
}

/** POST /auth/login: tokens, or the MFA step (`mfaToken`) when the account has TOTP on. */
export async function login(email: string, password: string): Promise<LoginResult> {
  const { data, error, response } = await authApi
    .POST("/api/v1/auth/login", { body: { email, password }, headers: loginHeaders() })
    .catch((e: unknown) => {
      throw asApiError(e);
    });
  if (!response.ok || !data) throw problemOf(error, response);
  if ("mfa_required" in data) return { ok: false, mfaToken: data.mfa_token, expiresIn: data.expires_in };
  finishLogin(data);
  return { ok: true, tokens: data };
}

/** POST /auth/mfa/login with the TOTP code of the MFA step. */
export async function loginMfa(mfaToken: string, code: string): Promise<TokenPair> {
  const { data, error, response } = await authApi
    .POST("/api/v1/auth/mfa/login", { body: { mfa_token: mfaToken, code }, headers: loginHeaders() })
    .catch((e: unknown) => {
      throw asApiError(e);
    });
  if (!response.ok || !data) throw problemOf(error, response);
  finishLogin(data);
  return data;
}

/** POST /auth/register; with e-mail verification required there are no tokens yet (null). */
export async function register(email: string, password: string, name?: string): Promise<TokenPair | null> {
  const body = name ? { email, password, name } : { email, password };
  const { data, error, response } = await authApi
    .POST("/api/v1/auth/register", { body, headers: loginHeaders() })
    .catch((e: unknown) => {
      throw asApiError(e);
    });
  if (!response.ok || !data) throw problemOf(error, response);
  if (!("access_token" in data)) return null;
  finishLogin(data);
  return data;
}

function finishLogin(tokens: TokenPair): void {
  adopt(tokens);
  session.loginHooks.forEach((fn) => fn(tokens));
}

/** Revokes the refresh-token family (all tabs of this browser sign out). */
export async function logout(): Promise<void> {
  const token = storedRefresh();
  storeRefresh(null);
  clearLocal();
  if (token) {
    try {
      await authApi.POST("/api/v1/auth/logout", { body: { refresh_token: token } });
    } catch {
      /* the token stays valid until it expires; nothing more to do offline */
    }
  }
}

/** The user record changed (profile, MFA): keep the session's copy current. */
export function updateSessionUser(user: User): void {
  if (session.state.status === "signed-in") setState({ status: "signed-in", user });
}

/** Starts the session from a stored refresh token; call once at boot. */
export function startSession(): void {
  window.addEventListener("storage", (e) => {
    if (e.key !== REFRESH_KEY) return;
    if (!e.newValue && session.state.status === "signed-in") clearLocal();
    else if (e.newValue && session.state.status !== "signed-in") void refresh();
  });
  if (storedRefresh()) void refresh();
  else setState({ status: "anonymous", user: null });
}
