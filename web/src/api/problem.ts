// Turns an API error answer (RFC 9457 problem+json, see docs/api.md) into
// what a screen shows: a title, a detail and one message per field. The
// server names fields as dotted paths ("email", "items[0].quantity",
// "payment.card_number", "data.amount"); a JSON pointer ("/items/0/quantity")
// is accepted too and turned into the same dotted form, so a form looks a
// field up under the name it gave the input.
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly fieldErrors: Record<string, string>;
  readonly body: ProblemBody;
  readonly retryAfter: number | null;

  constructor(status: number, body: ProblemBody, retryAfter: number | null = null) {
    const title = body.title || statusText(status);
    super(body.detail ? `${title}: ${body.detail}` : title);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.title = title;
    this.detail = body.detail || "";
    this.code = problemCode(body.type);
    this.fieldErrors = fieldErrorsOf(body);
    this.retryAfter = retryAfter;
  }

  /** True when the answer named at least one field. */
  get hasFieldErrors(): boolean {
    return Object.keys(this.fieldErrors).length > 0;
  }
}

/** The last segment of the problem type URI: "validation", "invalid-credentials". */
export function problemCode(type: string | undefined): string {
  if (!type) return "";
  const i = type.lastIndexOf("/");
  return i >= 0 ? type.slice(i + 1) : type;
}

/** "/items/0/quantity" → "items[0].quantity"; dotted names are kept as they are. */
export function fieldName(pointerOrField: string): string {
  if (!pointerOrField.startsWith("/")) return pointerOrField;
  return pointerOrField
    .slice(1)
    .split("/")
    .map((seg) => seg.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), "");
}

export function fieldErrorsOf(body: ProblemBody): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of body.errors ?? []) {
    if (!e || typeof e.field !== "string") continue;
    const name = fieldName(e.field);
    const msg = sentence(name, e.message);
    out[name] = out[name] ? `${out[name]}; ${msg}` : msg;
  }
  return out;
}

/** The server says "must be between 1 and 1000"; a person reads "Must be between 1 and 1000". */
function sentence(_field: string, message: string): string {
  const m = (message || "is invalid").trim();
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** Field errors whose name is not one of `known` (to show them in words all the same). */
export function otherFieldErrors(err: ApiError, known: string[]): string[] {
  return Object.entries(err.fieldErrors)
    .filter(([k]) => !known.some((n) => k === n || k.startsWith(`${n}.`) || k.startsWith(`${n}[`)))
    .map(([k, v]) => `${k}: ${v}`);
}

export function statusText(status: number): string {
  switch (status) {
    case 0:
      return "The server could not be reached";
    case 400:
      return "Bad request";
    case 401:
      return "Please sign in";
    case 403:
      return "Not allowed";
    case 404:
      return "Not found";
    case 409:
      return "Conflict";
    case 412:
      return "Changed meanwhile: reload and try again";
    case 422:
      return "Some fields need attention";
    case 429:
      return "Too many attempts: wait a moment";
    case 503:
      return "The service is busy: try again";
    default:
      return status >= 500 ? "The server failed" : `Error ${status}`;
  }
}

/** Reads an error answer (problem+json or anything else) into an ApiError. */
export async function toApiError(res: Response): Promise<ApiError> {
  let body: ProblemBody = {};
  try {
    const text = await res.clone().text();
    if (text) {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === "object") body = parsed as ProblemBody;
    }
  } catch {
    /* not JSON: keep the status text */
  }
  const ra = res.headers.get("Retry-After");
  return new ApiError(res.status, body, ra && /^\d+$/.test(ra) ? Number(ra) : null);
}

/** Any thrown value → an ApiError (network failures become status 0). */
export function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ApiError(0, { title: statusText(0), detail: msg });
}
