// Prometheus text (GET /metrics) → numbers, and the few series the system
// screen draws, as rates between two samples.
export interface Sample {
  t: number; // ms
  values: Map<string, number>; // "name{labels}" → value
}

export function parseMetrics(text: string, t: number): Sample {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isNaN(v)) values.set(m[1]! + (m[2] ?? ""), v);
  }
  return { t, values };
}

/** The sum of every series of a metric whose labels pass `keep`. */
export function total(s: Sample, name: string, keep: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const [k, v] of s.values) {
    if (!k.startsWith(name)) continue;
    const rest = k.slice(name.length);
    if (rest !== "" && !rest.startsWith("{")) continue;
    if (keep(rest)) sum += v;
  }
  return sum;
}

export interface Series {
  key: string;
  label: string;
  unit: string;
  /** the value between two samples (a rate or a gauge) */
  of(prev: Sample, cur: Sample): number | null;
}

const perSecond = (name: string, keep?: (l: string) => boolean) => (a: Sample, b: Sample) => {
  const dt = (b.t - a.t) / 1000;
  if (dt <= 0) return null;
  const d = total(b, name, keep) - total(a, name, keep);
  return d < 0 ? null : d / dt; // a restart resets counters
};

export const series: Series[] = [
  { key: "rps", label: "HTTP requests", unit: "/s", of: perSecond("sf_http_requests_total") },
  { key: "errors", label: "Server errors (5xx)", unit: "/s", of: perSecond("sf_http_requests_total", (l) => /status="5\d\d"/.test(l)) },
  {
    key: "latency",
    label: "Mean request time",
    unit: "ms",
    of: (a, b) => {
      const n = total(b, "sf_http_request_duration_seconds_count") - total(a, "sf_http_request_duration_seconds_count");
      const s = total(b, "sf_http_request_duration_seconds_sum") - total(a, "sf_http_request_duration_seconds_sum");
      return n > 0 ? (s / n) * 1000 : 0;
    },
  },
  { key: "commits", label: "Writer commits", unit: "/s", of: perSecond("sf_writer_commits_total") },
  { key: "events", label: "Events appended", unit: "/s", of: perSecond("sf_events_appended_total") },
  { key: "hooks", label: "Webhooks in flight", unit: "", of: (_a, b) => total(b, "sf_webhook_in_flight") },
];
