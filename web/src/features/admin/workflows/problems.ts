// A validate/publish error → the problems shown on their lines.
import { ApiError } from "../../../api/problem";
import { lineRange, placeOfPath, syntaxPlace } from "./yamlPaths";

export interface Problem {
  line: number;
  from: number;
  to: number;
  /** the definition path the server named ("transitions[1].to"), if any */
  field: string | null;
  message: string;
}

export function problemsOf(err: ApiError, text: string): Problem[] {
  const errors = err.body.errors ?? [];
  const out: Problem[] = [];
  for (const e of errors) {
    if (!e || typeof e.field !== "string") continue;
    const place = placeOfPath(text, e.field);
    const line = place?.line ?? 1;
    const r = place ?? lineRange(text, 1);
    out.push({ line, from: r.from, to: r.to, field: e.field, message: e.message || "is invalid" });
  }
  if (out.length === 0) {
    const syn = syntaxPlace(err.detail);
    if (syn) {
      const r = lineRange(text, syn.line);
      const from = Math.min(r.from + Math.max(0, syn.column - 1), r.to);
      out.push({ line: syn.line, from, to: Math.max(from + 1, r.to), field: null, message: syn.message });
    } else {
      const r = lineRange(text, 1);
      out.push({ line: 1, from: r.from, to: r.to, field: null, message: err.detail || err.title });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/** "transitions[1].to: must be one of the states" as a person reads it. */
export function problemText(p: Problem): string {
  const m = p.message.charAt(0).toUpperCase() + p.message.slice(1);
  return p.field ? `${p.field}: ${m}` : m;
}
