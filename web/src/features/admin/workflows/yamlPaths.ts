// Where a server error points in the YAML text. The server names a
// problem's place as a path into the definition ("transitions[1].to",
// "states.limbo", "approvals[0].levels[1].quorum"); a syntax error says
// "line 3, column 7: …" in its detail. Both become a line (1-based) and a
// character range for the editor's diagnostics.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";

export interface Place {
  line: number;
  from: number;
  to: number;
}

/** "transitions[1].to" → ["transitions", 1, "to"]; "/states/limbo" → ["states", "limbo"]. */
export function pathSegments(field: string): (string | number)[] {
  if (field.startsWith("/"))
    return field
      .slice(1)
      .split("/")
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
  const out: (string | number)[] = [];
  for (const part of field.split(".")) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of (m[2] ?? "").matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

type Range = [number, number];

function rangeOf(n: unknown): Range | null {
  const r = (n as Node | null)?.range;
  return r ? [r[0], r[1]] : null;
}

/**
 * The place in `text` that `field` names: the deepest part of the path
 * that exists (a key, an item, or the value of the last key). Null when
 * the text does not parse at all or the path's first step is missing
 * (the caller then points at line 1).
 */
export function placeOfPath(text: string, field: string): Place | null {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  let node: unknown = doc.contents;
  let found: Range | null = null;
  const segs = pathSegments(field);
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      found = rangeOf(pair.key) ?? found;
      node = pair.value;
      if (last && isScalar(node)) found = rangeOf(node) ?? found;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (!item) break;
      found = rangeOf(item) ?? found;
      node = item;
    } else break;
  }
  if (!found) return null;
  const pos = lc.linePos(found[0]);
  // one line at most: a whole mapping item would underline many lines
  const lineEnd = text.indexOf("\n", found[0]);
  const to = Math.max(found[0] + 1, Math.min(found[1], lineEnd < 0 ? text.length : lineEnd));
  return { line: pos.line, from: found[0], to: Math.min(to, text.length) };
}

/** The offset of the start of `line` (1-based) in text, and of its end. */
export function lineRange(text: string, line: number): { from: number; to: number } {
  let from = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", from);
    if (nl < 0) break;
    from = nl + 1;
  }
  const nl = text.indexOf("\n", from);
  return { from, to: nl < 0 ? text.length : nl };
}

/** "line 3, column 7: did not find expected key" → {line: 3, column: 7, message}. */
export function syntaxPlace(detail: string): { line: number; column: number; message: string } | null {
  const m = /line (\d+), column (\d+):\s*(.*)$/s.exec(detail);
  return m ? { line: Number(m[1]), column: Number(m[2]), message: m[3] || detail } : null;
}
