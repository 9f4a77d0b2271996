// The simulated timeline behind a Lighthouse FCP and LCP (bench/README.md, "Lighthouse"):
//
//   SF_LH_ARTIFACTS=/tmp/art bash bench/lighthouse.sh          # keeps what Lighthouse gathered
//   cd bench/lighthouse && node lantern.mjs /tmp/art/<page>      # e.g. /tmp/art/_desk_approvals
//
// Lighthouse's mobile figures are not the page's own timings: Lantern rebuilds the load as a
// graph of requests and main-thread tasks (each task counted 4x, each request on a simulated
// slow 4G link) and takes LCP as the end of the last node that the observed LCP depended on.
// This prints that graph's nodes in simulated order (start, end in ms), so the chain that sets
// the figure can be read off: which request or task ends last, and what it waited for.
import fs from 'node:fs';
import path from 'node:path';
import {loadArtifacts} from 'lighthouse/core/lib/asset-saver.js';
import {LanternFirstContentfulPaint} from 'lighthouse/core/computed/metrics/lantern-first-contentful-paint.js';
import {LanternLargestContentfulPaint} from 'lighthouse/core/computed/metrics/lantern-largest-contentful-paint.js';

const dir = process.argv[2];
if (!dir || !fs.existsSync(path.join(dir, 'lhr.report.json'))) {
  console.error('usage: node lantern.mjs <dir written by SF_LH_ARTIFACTS for one page>');
  process.exit(2);
}
const artifacts = await loadArtifacts(dir);
const settings = JSON.parse(fs.readFileSync(path.join(dir, 'lhr.report.json'), 'utf8')).configSettings;
const context = {computedCache: new Map(), settings};
const data = {
  trace: artifacts.Trace,
  devtoolsLog: artifacts.DevtoolsLog,
  gatherContext: artifacts.GatherContext,
  settings,
  URL: artifacts.URL,
  SourceMaps: [],
  simulator: null,
};

const SHOWN = new Set(['v8.evaluateModule', 'EvaluateScript', 'FunctionCall', 'Layout', 'ParseHTML']);
function describe(node, t0) {
  if (node.type === 'network') {
    const url = node.request.url.replace(/^https?:\/\/[^/]+/, '');
    return `request ${url.slice(0, 70)} (${node.request.transferSize} B)`;
  }
  const what = new Set();
  for (const e of node.childEvents) {
    if (!SHOWN.has(e.name)) continue;
    const url = e.args?.data?.url;
    what.add(url ? `${e.name} ${url.split('/').pop()}` : e.name);
  }
  return `task ${(node.duration / 1000).toFixed(1)} ms (seen at ${((node.startTime - t0) / 1000).toFixed(0)} ms) ${[...what].slice(0, 4).join(', ')}`;
}

for (const [name, metric] of [['FCP', LanternFirstContentfulPaint], ['LCP', LanternLargestContentfulPaint]]) {
  const r = await metric.request(data, context);
  console.log(`${name} ${r.timing.toFixed(0)} ms (optimistic ${r.optimisticEstimate.timeInMs.toFixed(0)}, pessimistic ${r.pessimisticEstimate.timeInMs.toFixed(0)})`);
  for (const [which, estimate] of [['optimistic', r.optimisticEstimate], ['pessimistic', r.pessimisticEstimate]]) {
    const rows = [...estimate.nodeTimings.entries()].sort((a, b) => a[1].endTime - b[1].endTime);
    const t0 = Math.min(...rows.map(([n]) => n.startTime));
    console.log(`  ${which} graph, ${rows.length} nodes (start  end  node):`);
    for (const [node, t] of rows) console.log(`    ${t.startTime.toFixed(0).padStart(5)} ${t.endTime.toFixed(0).padStart(5)}  ${describe(node, t0)}`);
  }
}
