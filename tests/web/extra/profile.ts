/* bench/web_profile.sh (project `profile`, SF_WEB_PROFILE=1): where a page's
 * first load spends its time, for each page of SF_PROF_PAGES (default: the
 * Lighthouse pages, pages.ts), in fresh contexts (cold cache) on loopback:
 *   - a cold load at full speed: navigation to the screen shown (harness/ready.ts),
 *     first paint, the long tasks, what <main> showed on the way, and each request's
 *     start and end, the critical path of "first page interactive"; with
 *     SF_PROF_COMMITS=1 also each React commit (a stand-in for React DevTools' hook:
 *     its time and the components it drew);
 *   - SF_PROF_RUNS=N: N more such loads, their shown times and median (a quick A/B of
 *     two builds, bench/web_profile.sh BUILD);
 *   - a cold load at Lighthouse's 4x CPU slowdown (SF_PROF_RATE) under V8's sampling profiler:
 *     the shown time, the long tasks and the 30 functions with the most self
 *     time; the profile is written to SF_PROF_OUT/<page>.cpuprofile (open it in
 *     Chromium's DevTools, Performance panel). A build with `--minify false`
 *     names the app's functions (bench/web_profile.sh --names).
 * A measurement for finding work to cut, not a figure: Lighthouse's are
 * bench/lighthouse.sh's. */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from '@playwright/test';
import { injectSession, test } from '../harness/fixtures';
import { DEMO } from '../harness/api';
import { gotoShown, medianMs, SHOWN_WATCH } from '../harness/ready';
import { REPO } from '../harness/server';
import { LIGHTHOUSE_PAGES, PAGES, ROLE_USER, type PageRole } from '../pages';

const OUT = process.env.SF_PROF_OUT || path.join(REPO, 'bench', 'results', 'web-profile');

/* Stands in for React DevTools' hook (React calls it at each commit): the commit's time
 * and the components that rendered in it (flag PerformedWork, following subtreeFlags). */
const COMMITS_HOOK = `window.__sfCommits = [];
window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
  isDisabled: false, supportsFiber: true, renderers: new Map(), inject: () => 1,
  onCommitFiberUnmount() {}, onPostCommitFiberRoot() {}, checkDCE() {},
  onCommitFiberRoot(id, root) {
    const names = [];
    const walk = (f) => {
      for (let c = f; c; c = c.sibling) {
        if (c.flags & 1 && typeof c.type === 'function') names.push(c.type.displayName || c.type.name || '?');
        if (c.child && c.subtreeFlags & 1) walk(c.child);
      }
    };
    walk(root.current.child);
    window.__sfCommits.push(Math.round(performance.now()) + ' [' + names.length + '] ' + [...new Set(names)].slice(0, 10).join(' '));
  },
};`;

/* A cold load of `pagePath` in `page`: when the screen was shown and what the page saw on the way. */
async function load(page: Page, pagePath: string) {
  const shownMs = Math.round(await gotoShown(page, pagePath));
  const seen = await page.evaluate(() => ({
    longTasks: (window as any).__sfLong as Array<[number, number]>,
    steps: (window as any).__sfSteps as string[],
    commits: ((window as any).__sfCommits ?? []) as string[],
    paint: Math.round(performance.getEntriesByType('paint')[0]?.startTime ?? NaN),
    // the app's own marks (main.tsx: sf-first-draw, when the first render starts)
    marks: performance.getEntriesByType('mark').map((m) => `${Math.round(m.startTime)} ${m.name}`),
    requests: performance
      .getEntriesByType('resource')
      .map((r) => `${String(Math.round(r.startTime)).padStart(5)}-${String(Math.round((r as PerformanceResourceTiming).responseEnd)).padEnd(5)} ${r.name.replace(location.origin, '')}`),
  }));
  return { shownMs, ...seen };
}

/* Self time per function of a V8 CPU profile, the top n. */
function topSelf(profile: any, n: number): string[] {
  const byId = new Map<number, any>(profile.nodes.map((x: any) => [x.id, x]));
  const self = new Map<string, number>();
  profile.samples.forEach((id: number, i: number) => {
    const cf = byId.get(id).callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop() || ''}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) || 0) + (profile.timeDeltas[i] || 0) / 1000);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${v.toFixed(1).padStart(8)} ms  ${k}`);
}

test('profile', async ({ browser, api, baseURL }) => {
  const only = (process.env.SF_PROF_PAGES || '').split(',').filter(Boolean);
  fs.mkdirSync(OUT, { recursive: true });
  for (const [role, name] of LIGHTHOUSE_PAGES) {
    if (only.length && !only.some((o) => name.includes(o))) continue;
    const entry = PAGES[role].find((p) => p.name === name);
    if (!entry || entry.fixme) continue;
    const pagePath = typeof entry.path === 'string' ? entry.path : await entry.path(api);
    const fresh = async (): Promise<[BrowserContext, Page]> => {
      // a phone-sized window, as Lighthouse's mobile profile
      const context = await browser.newContext({ baseURL, viewport: { width: 412, height: 823 } });
      const page = await context.newPage();
      const user = ROLE_USER[role];
      if (user) await injectSession(page, (await api.login(DEMO[user].email, DEMO[user].password)).refresh_token);
      await page.addInitScript(SHOWN_WATCH);
      if (process.env.SF_PROF_COMMITS) await page.addInitScript(COMMITS_HOOK);
      return [context, page];
    };
    let [context, page] = await fresh();
    const fast = await load(page, pagePath);
    await context.close();
    console.log(`\n== ${name} (${role}) ${pagePath}`);
    console.log(`full speed: shown at ${fast.shownMs} ms, first paint ${fast.paint} ms, long tasks [start, ms] ${JSON.stringify(fast.longTasks)}`);
    for (const m of fast.marks) console.log(`  mark: ${m}`);
    for (const s of fast.steps) console.log(`  main: ${s}`);
    for (const c of fast.commits) console.log(`  commit ${c}`);
    for (const r of fast.requests) console.log(`  ${r}`);
    const runs = Number(process.env.SF_PROF_RUNS || 0);
    if (runs > 0) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        [context, page] = await fresh();
        times.push((await load(page, pagePath)).shownMs);
        await context.close();
      }
      console.log(`full speed, ${runs} more loads: shown at ${JSON.stringify(times)} ms, median ${medianMs(times)}`);
    }

    [context, page] = await fresh();
    const cdp = await context.newCDPSession(page);
    const rate = Number(process.env.SF_PROF_RATE || 4);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate });
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
    const slow = await load(page, pagePath);
    await page.waitForTimeout(2000); // what follows the first draw (live catch-up, late reads)
    const { profile } = await cdp.send('Profiler.stop');
    await context.close();
    const file = path.join(OUT, `${name.replace(/\W+/g, '-')}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(profile));
    console.log(`${rate}x slowdown: shown at ${slow.shownMs} ms, long tasks ${JSON.stringify(slow.longTasks)}; profile ${file}`);
    for (const line of topSelf(profile, 30)) console.log(line);
  }
});
