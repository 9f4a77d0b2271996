// The state diagram of a workflow definition (as far as the text can be
// read): states, transitions, the transitions approval chains and timers
// take, and a small layered layout of our own (rows by distance from the
// initial state, ordered within a row by their predecessors' places).
import { parse } from "yaml";

export type EdgeKind = "transition" | "timer" | "approved" | "rejected";

export interface DiagramState {
  name: string;
  initial: boolean;
  final: boolean;
  /** listed under `states:` (a transition may name one that is not) */
  declared: boolean;
  /** the approval chain in this state: its level names (and their `when`) */
  approval: string[] | null;
  /** "timer 14d → withdraw" for each timer in this state */
  timers: string[];
}

export interface DiagramEdge {
  from: string;
  to: string;
  action: string;
  kind: EdgeKind;
  label: string;
  guard: string | null;
}

export interface DiagramModel {
  name: string;
  states: DiagramState[];
  edges: DiagramEdge[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" ? String(v) : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v == null ? [] : [v]);

/** Reads what it can from the YAML text; null when it does not parse to a mapping. */
export function modelOf(text: string): DiagramModel | null {
  let def: unknown;
  try {
    def = parse(text, { uniqueKeys: false });
  } catch {
    return null;
  }
  if (!isObj(def)) return null;
  const initial = str(def.initial);
  const byName = new Map<string, DiagramState>();
  const state = (name: string): DiagramState => {
    let s = byName.get(name);
    if (!s) {
      s = { name, initial: name === initial, final: false, declared: false, approval: null, timers: [] };
      byName.set(name, s);
    }
    return s;
  };
  if (isObj(def.states))
    for (const [name, body] of Object.entries(def.states)) {
      const s = state(name);
      s.final = isObj(body) && body.final === true;
      s.declared = true;
    }
  if (initial) state(initial);

  const edges: DiagramEdge[] = [];
  for (const t of list(def.transitions)) {
    if (!isObj(t)) continue;
    const action = str(t.action) ?? "?";
    const to = str(t.to);
    if (!to) continue;
    for (const f of list(t.from)) {
      const from = str(f);
      if (!from) continue;
      state(from);
      state(to);
      edges.push({ from, to, action, kind: "transition", label: action, guard: str(t.guard) });
    }
  }
  const taken = (from: string, action: string) => edges.find((e) => e.from === from && e.action === action);
  for (const tm of list(def.timers)) {
    if (!isObj(tm)) continue;
    const inState = str(tm.in);
    const action = str(tm.action) ?? "?";
    const after = str(tm.after) ?? "?";
    if (!inState) continue;
    state(inState).timers.push(`timer ${after} → ${action}`);
    const e = taken(inState, action);
    if (e && e.kind === "transition") {
      e.kind = "timer";
      e.label = `${action} (timer ${after})`;
    }
  }
  for (const ap of list(def.approvals)) {
    if (!isObj(ap)) continue;
    const inState = str(ap.in);
    if (!inState) continue;
    state(inState).approval = list(ap.levels).map((l, i) => {
      if (!isObj(l)) return `level ${i + 1}`;
      const who = str(l.role) ? `role ${str(l.role)}` : Array.isArray(l.users) ? `${l.users.length} users` : "";
      const when = str(l.when) ? ` if ${str(l.when)}` : "";
      return `${str(l.name) ?? `level ${i + 1}`}${who ? ` (${who})` : ""}${when}`;
    });
    for (const [key, kind, mark] of [
      ["on_approved", "approved", "✓"],
      ["on_rejected", "rejected", "✗"],
    ] as const) {
      const action = str(ap[key]);
      const e = action ? taken(inState, action) : undefined;
      if (e) {
        e.kind = kind;
        e.label = `${mark} ${e.action} (chain ${kind})`;
      }
    }
  }
  return { name: str(def.name) ?? str(def.type) ?? "workflow", states: [...byName.values()], edges };
}

export interface NodeBox extends DiagramState {
  x: number;
  y: number;
  w: number;
  h: number;
  layer: number;
}

export interface Layout {
  nodes: NodeBox[];
  edges: DiagramEdge[];
  width: number;
  height: number;
}

const CHAR_W = 7.2; // 12 px system-ui, roughly
const GAP_X = 36;
const GAP_Y = 78;
const PAD = 24;

function boxSize(s: DiagramState): { w: number; h: number } {
  const lines = [s.declared ? s.name : `${s.name} (not declared)`, ...(s.approval ? ["approval: " + s.approval.join(" → ")] : []), ...s.timers];
  const w = Math.max(96, Math.min(320, Math.max(...lines.map((l) => l.length)) * CHAR_W + 28));
  return { w, h: 34 + (lines.length - 1) * 16 };
}

/** Rows by BFS distance from the initial state (states it cannot reach come last). */
function layers(model: DiagramModel): Map<string, number> {
  const layer = new Map<string, number>();
  const start = model.states.find((s) => s.initial) ?? model.states[0];
  if (!start) return layer;
  layer.set(start.name, 0);
  const queue = [start.name];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const e of model.edges)
      if (e.from === cur && !layer.has(e.to)) {
        layer.set(e.to, layer.get(cur)! + 1);
        queue.push(e.to);
      }
  }
  const deepest = Math.max(0, ...layer.values());
  for (const s of model.states) if (!layer.has(s.name)) layer.set(s.name, deepest + 1);
  return layer;
}

export function layout(model: DiagramModel): Layout {
  const layer = layers(model);
  const rows: DiagramState[][] = [];
  for (const s of model.states) (rows[layer.get(s.name) ?? 0] ??= []).push(s);
  const place = new Map<string, number>(); // x centre, for the barycentre ordering
  const nodes: NodeBox[] = [];
  let y = PAD;
  let width = 0;
  rows.forEach((row, li) => {
    if (!row) return;
    if (li > 0) {
      const centre = (s: DiagramState) => {
        const xs = model.edges.filter((e) => e.to === s.name && place.has(e.from)).map((e) => place.get(e.from)!);
        return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.MAX_SAFE_INTEGER;
      };
      row.sort((a, b) => centre(a) - centre(b));
    }
    const sizes = row.map(boxSize);
    const rowH = Math.max(...sizes.map((s) => s.h));
    let x = PAD;
    row.forEach((s, i) => {
      const { w, h } = sizes[i]!;
      nodes.push({ ...s, x, y: y + (rowH - h) / 2, w, h, layer: li });
      place.set(s.name, x + w / 2);
      x += w + GAP_X;
    });
    width = Math.max(width, x - GAP_X + PAD);
    y += rowH + GAP_Y;
  });
  // centre each row in the widest one
  for (let li = 0; li < rows.length; li++) {
    const inRow = nodes.filter((n) => n.layer === li);
    if (!inRow.length) continue;
    const right = Math.max(...inRow.map((n) => n.x + n.w));
    const shift = (width - PAD - right) / 2;
    for (const n of inRow) n.x += shift;
  }
  return { nodes, edges: model.edges, width: Math.max(width, 200), height: Math.max(y - GAP_Y + PAD, 100) };
}
