// A small line chart of the last samples of one series (our own SVG).
import { Paper, Text } from "@mantine/core";

const W = 220;
const H = 48;

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function Sparkline({ label, unit, points }: { label: string; unit: string; points: number[] }) {
  const last = points[points.length - 1];
  const max = Math.max(1e-9, ...points);
  const step = points.length > 1 ? W / (points.length - 1) : W;
  const xy = points.map((v, i) => `${(i * step).toFixed(1)},${(H - 2 - (v / max) * (H - 6)).toFixed(1)}`).join(" ");
  const summary = last === undefined ? "no sample yet" : `now ${fmt(last)}${unit}, highest ${fmt(Math.max(...points))}${unit} over the last ${points.length} samples`;
  return (
    <Paper withBorder p="sm" data-testid={`metric-${label}`}>
      <Text size="sm" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {last === undefined ? "—" : `${fmt(last)}${unit ? ` ${unit}` : ""}`}
      </Text>
      <svg width="100%" height={H} viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${label}: ${summary}`}>
        <line x1={0} y1={H - 1} x2={W} y2={H - 1} stroke="#ced4da" />
        {points.length > 1 && <polyline points={xy} fill="none" stroke="#1c5aa6" strokeWidth={1.8} vectorEffect="non-scaling-stroke" />}
      </svg>
    </Paper>
  );
}
