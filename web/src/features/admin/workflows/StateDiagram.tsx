// The state diagram as SVG (layout from diagram.ts), with the same content
// as a text list for screen readers and for reading on a small screen.
import { useMemo } from "react";
import { Box, List, Text } from "@mantine/core";
import { layout, type DiagramEdge, type DiagramModel, type NodeBox } from "./diagram";

const colors: Record<DiagramEdge["kind"], string> = {
  transition: "#343a40",
  timer: "#8a4b00",
  approved: "#1b6e36",
  rejected: "#b3261e",
};

interface Pt {
  x: number;
  y: number;
}

function mid(p0: Pt, p1: Pt, p2: Pt, p3: Pt): Pt {
  return { x: (p0.x + 3 * p1.x + 3 * p2.x + p3.x) / 8, y: (p0.y + 3 * p1.y + 3 * p2.y + p3.y) / 8 };
}

/** The path of one edge: down to a later row, or around the right side back up. */
function edgePath(from: NodeBox, to: NodeBox, k: number, n: number, right: number): { d: string; label: Pt } {
  const spread = (k - (n - 1) / 2) * 14;
  if (from === to) {
    const x = from.x + from.w;
    const y = from.y + from.h / 2;
    const p0 = { x, y: y - 8 }, p1 = { x: x + 46, y: y - 30 }, p2 = { x: x + 46, y: y + 30 }, p3 = { x, y: y + 8 };
    return { d: `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`, label: { x: x + 40, y } };
  }
  if (to.layer > from.layer) {
    const p0 = { x: from.x + from.w / 2 + spread, y: from.y + from.h };
    const p3 = { x: to.x + to.w / 2 + spread, y: to.y };
    const dy = (p3.y - p0.y) / 2;
    const p1 = { x: p0.x, y: p0.y + dy }, p2 = { x: p3.x, y: p3.y - dy };
    return { d: `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`, label: mid(p0, p1, p2, p3) };
  }
  if (to.layer === from.layer) {
    // side by side: from the facing sides, bowed upwards
    const ltr = to.x > from.x;
    const p0 = { x: ltr ? from.x + from.w : from.x, y: from.y + from.h / 2 + spread / 3 };
    const p3 = { x: ltr ? to.x : to.x + to.w, y: to.y + to.h / 2 + spread / 3 };
    const p1 = { x: p0.x + (p3.x - p0.x) / 3, y: p0.y - 26 }, p2 = { x: p3.x - (p3.x - p0.x) / 3, y: p3.y - 26 };
    return { d: `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`, label: mid(p0, p1, p2, p3) };
  }
  const p0 = { x: from.x + from.w, y: from.y + from.h / 2 + spread / 2 };
  const p3 = { x: to.x + to.w, y: to.y + to.h / 2 + spread / 2 };
  const out = right + 30 + k * 16;
  const p1 = { x: out, y: p0.y }, p2 = { x: out, y: p3.y };
  return { d: `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`, label: mid(p0, p1, p2, p3) };
}

function describeEdge(e: DiagramEdge): string {
  const kind =
    e.kind === "timer" ? " (timer)" : e.kind === "approved" ? " (when the approval chain approves)" : e.kind === "rejected" ? " (when the approval chain rejects)" : "";
  return `${e.from} → ${e.to}: ${e.action}${kind}${e.guard ? ` if ${e.guard}` : ""}`;
}

export function StateDiagram({ model }: { model: DiagramModel }) {
  const lay = useMemo(() => layout(model), [model]);
  const byName = new Map(lay.nodes.map((n) => [n.name, n]));
  const right = Math.max(0, ...lay.nodes.map((n) => n.x + n.w));
  const backEdges = lay.edges.filter((e) => {
    const f = byName.get(e.from), t = byName.get(e.to);
    return f && t && f !== t && t.layer < f.layer;
  }).length;
  const longest = Math.max(0, ...lay.edges.map((e) => e.label.length)) * 6.4;
  const width = lay.width + (backEdges ? 40 + backEdges * 16 + longest / 2 : 0) + 40;
  const pairCount = new Map<string, number>();
  for (const e of lay.edges) pairCount.set(`${e.from}>${e.to}`, (pairCount.get(`${e.from}>${e.to}`) ?? 0) + 1);
  const pairSeen = new Map<string, number>();
  let backSeen = 0;
  return (
    <Box>
      <Box style={{ overflowX: "auto" }} data-testid="workflow-diagram" tabIndex={0} role="region" aria-label="State diagram (scrolls sideways when wide)">
        <svg
          role="img"
          aria-label={`State diagram of ${model.name}: ${lay.nodes.length} states, ${lay.edges.length} transitions`}
          width={width}
          height={lay.height}
          viewBox={`0 0 ${width} ${lay.height}`}
          style={{ fontFamily: "system-ui, sans-serif", fontSize: 12, maxWidth: "none" }}
        >
          <defs>
            {Object.entries(colors).map(([k, c]) => (
              <marker key={k} id={`arrow-${k}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" fill={c} />
              </marker>
            ))}
          </defs>
          {lay.edges.map((e, i) => {
            const f = byName.get(e.from), t = byName.get(e.to);
            if (!f || !t) return null;
            const key = `${e.from}>${e.to}`;
            const k = pairSeen.get(key) ?? 0;
            pairSeen.set(key, k + 1);
            const back = f !== t && t.layer < f.layer;
            const { d, label } = edgePath(f, t, back ? backSeen++ : k, back ? 1 : pairCount.get(key)!, right);
            const w = e.label.length * 6.4 + 8;
            return (
              <g key={i} data-edge={`${e.from}->${e.to}`}>
                <path d={d} fill="none" stroke={colors[e.kind]} strokeWidth={1.6} strokeDasharray={e.kind === "timer" ? "5 4" : undefined} markerEnd={`url(#arrow-${e.kind})`} />
                <rect x={label.x - w / 2} y={label.y - 9} width={w} height={16} rx={3} fill="#fff" opacity={0.92} />
                <text x={label.x} y={label.y + 3} textAnchor="middle" fill={colors[e.kind]} fontSize={11}>
                  {e.label}
                </text>
              </g>
            );
          })}
          {lay.nodes.map((n) => (
            <g key={n.name} data-state={n.name}>
              <rect
                x={n.x}
                y={n.y}
                width={n.w}
                height={n.h}
                rx={n.final ? 16 : 6}
                fill={n.initial ? "#e7f0fb" : n.final ? "#eef7ee" : "#fff"}
                stroke={!n.declared ? "#b3261e" : n.initial ? "#1c5aa6" : "#495057"}
                strokeWidth={n.final ? 3 : 1.5}
                strokeDasharray={n.declared ? undefined : "4 3"}
              />
              <text x={n.x + n.w / 2} y={n.y + 21} textAnchor="middle" fontWeight={600} fill="#1a1b1e">
                {n.declared ? n.name : `${n.name} (not declared)`}
              </text>
              {[...(n.approval ? [`approval: ${n.approval.join(" → ")}`] : []), ...n.timers].map((line, i) => (
                <text key={i} x={n.x + n.w / 2} y={n.y + 37 + i * 16} textAnchor="middle" fontSize={11} fill="#3d4146">
                  {line.length > 44 ? `${line.slice(0, 43)}…` : line}
                </text>
              ))}
            </g>
          ))}
        </svg>
      </Box>
      <Text size="xs" c="dimmed" mt={4}>
        Blue: initial state; thick border: final; dashed red border: a state not declared; dashed line: timer; green/red: taken by
        an approval chain.
      </Text>
      <details>
        <summary>The diagram as text</summary>
        <List size="sm" data-testid="diagram-text">
          {model.states.map((s) => (
            <List.Item key={s.name}>
              State {s.name}
              {s.declared ? "" : " (not declared under states)"}
              {s.initial ? " (initial)" : ""}
              {s.final ? " (final)" : ""}
              {s.approval ? `; approval chain: ${s.approval.join(" → ")}` : ""}
              {s.timers.length ? `; ${s.timers.join(", ")}` : ""}
            </List.Item>
          ))}
          {model.edges.map((e, i) => (
            <List.Item key={`e${i}`}>{describeEdge(e)}</List.Item>
          ))}
        </List>
      </details>
    </Box>
  );
}
