/* bench/lighthouse.sh's measurements (project `lighthouse`, SF_WEB_LIGHTHOUSE=1),
 * for each page of LIGHTHOUSE_PAGES (pages.ts):
 *   - Lighthouse (bench/lighthouse/, its CLI) on Debian's Chromium: performance,
 *     accessibility and best-practices scores, LCP and TBT, with its default
 *     mobile profile (simulated slow 4G, 4x CPU slowdown). Signed-in pages: the
 *     browser is Playwright's persistent context with a debugging port, the
 *     session put into localStorage the way the app keeps it
 *     (web/src/api/session.ts), and Lighthouse told not to reset storage;
 *   - first page interactive: navigation start to the screen shown (harness/ready.ts,
 *     checked every animation frame by the page itself and said on its console: no
 *     Playwright script runs in the page meanwhile) in a fresh context (cold cache) on loopback,
 *     the median of SF_LH_RUNS (5) loads;
 * and once, the initial JavaScript gzipped (harness/initial-js.ts).
 * A page that does not exist yet is reported as missing, never measured. The
 * table goes to stdout and SF_LH_OUT (.txt and .json). */
import { chromium, type Browser } from '@playwright/test';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { injectSession, test } from '../harness/fixtures';
import { Api, DEMO } from '../harness/api';
import { initialJs } from '../harness/initial-js';
import { gotoShown, isPlaceholder, medianMs, SHOWN_WATCH, waitForScreen } from '../harness/ready';
import { freePort, REPO, WEB_ROOT } from '../harness/server';
import { LIGHTHOUSE_PAGES, PAGES, ROLE_USER, type PageRole } from '../pages';

const LH_CLI =
  process.env.SF_LIGHTHOUSE_CLI || path.join(REPO, 'bench', 'lighthouse', 'node_modules', 'lighthouse', 'cli', 'index.js');
const RUNS = Number(process.env.SF_LH_RUNS || 5);
const OUT = process.env.SF_LH_OUT || path.join(REPO, 'bench', 'results', 'lighthouse');

interface Row {
  page: string;
  path?: string;
  missing?: string;
  performance?: number;
  accessibility?: number;
  bestPractices?: number;
  lcpMs?: number;
  tbtMs?: number;
  interactiveMs?: number;
}

async function refreshTokenFor(api: Api, role: PageRole): Promise<string | null> {
  const user = ROLE_USER[role];
  return user ? (await api.as(user)).refresh_token : null;
}

/* Navigation start to the screen shown, in a fresh context, median of RUNS. */
async function firstInteractive(browser: Browser, api: Api, baseURL: string, role: PageRole, pagePath: string) {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ baseURL });
    const page = await context.newPage();
    const user = ROLE_USER[role];
    if (user) await injectSession(page, (await api.login(DEMO[user].email, DEMO[user].password)).refresh_token);
    await page.addInitScript(SHOWN_WATCH);
    times.push(await gotoShown(page, pagePath, 20_000));
    await context.close();
  }
  return medianMs(times);
}

function runLighthouse(url: string, port: number): Partial<Row> {
  const name = new URL(url).pathname.replace(/[^a-z0-9]+/gi, '_') || 'root'; // the page's, in kept files
  const file = path.join(os.tmpdir(), `sf-lh-${process.pid}-${port}.json`);
  const p = spawnSync(
    process.execPath,
    [LH_CLI, url, `--port=${port}`, '--output=json', `--output-path=${file}`, '--quiet', '--disable-storage-reset',
     '--only-categories=performance,accessibility,best-practices', '--max-wait-for-load=30000',
     ...(process.env.SF_LH_REPORTS ? ['--save-assets'] : []),
     // SF_LH_ARTIFACTS=dir keeps what Lighthouse gathered (trace, DevTools log, ...), per page,
     // for `lighthouse -A=dir/<page>` or bench/lighthouse/lantern.mjs (the simulated timeline behind LCP)
     ...(process.env.SF_LH_ARTIFACTS ? [`-GA=${path.join(process.env.SF_LH_ARTIFACTS, name)}`] : [])],
    { encoding: 'utf8', timeout: 180_000 },
  );
  const trace = file.replace(/\.json$/, '-0.trace.json');
  const assets = [file, trace, file.replace(/\.json$/, '-0.devtoolslog.json')];
  if (p.status !== 0 || !fs.existsSync(file)) {
    for (const f of assets) fs.rmSync(f, { force: true });
    throw new Error(`lighthouse ${url} failed (${p.status}):\n${p.stderr}`);
  }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  // SF_LH_REPORTS=dir keeps each page's full report (the audits behind the scores) and the
  // trace it was computed from (open it in Chromium's DevTools, Performance panel)
  if (process.env.SF_LH_REPORTS) {
    fs.mkdirSync(process.env.SF_LH_REPORTS, { recursive: true });
    fs.copyFileSync(file, path.join(process.env.SF_LH_REPORTS, `${name}.json`));
    if (fs.existsSync(trace)) fs.copyFileSync(trace, path.join(process.env.SF_LH_REPORTS, `${name}.trace.json`));
  }
  for (const f of assets) fs.rmSync(f, { force: true });
  const score = (k: string) => (r.categories[k]?.score == null ? undefined : Math.round(r.categories[k].score * 100));
  return {
    performance: score('performance'),
    accessibility: score('accessibility'),
    bestPractices: score('best-practices'),
    lcpMs: Math.round(r.audits['largest-contentful-paint']?.numericValue ?? NaN),
    tbtMs: Math.round(r.audits['total-blocking-time']?.numericValue ?? NaN),
  };
}

function table(rows: Row[], js: ReturnType<typeof initialJs>, load: number[]): string {
  const head = ['page', 'perf', 'a11y', 'best-pr.', 'LCP ms', 'TBT ms', 'interactive ms', 'path / note'];
  const cell = (v: unknown) => (v === undefined || Number.isNaN(v) ? '-' : String(v));
  const lines = rows.map((r) =>
    [r.page, r.performance, r.accessibility, r.bestPractices, r.lcpMs, r.tbtMs, r.interactiveMs].map(cell).concat(
      r.missing ? `MISSING: ${r.missing}${r.path ? ` (${r.path})` : ''}` : r.path || '',
    ),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (l: unknown[]) => l.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  const jsLine =
    `initial JS (entries, static imports and index.html's preloads, gzip -9): ${(js.gzip / 1024).toFixed(1)} KB ` +
    `(${(js.bytes / 1024).toFixed(1)} KB raw, ${js.files.length} files: ${js.files.map((f) => f.file).join(', ')})`;
  const machine =
    `Lighthouse 12 default mobile profile; interactive = median of ${RUNS} cold loads on loopback; ` +
    `${os.cpus().length} CPUs, load average ${load.map((l) => l.toFixed(1)).join(' ')} at the start`;
  return [fmt(head), ...lines.map(fmt), '', jsLine, machine].join('\n');
}

/* A Chromium of its own for Lighthouse, with a debugging port. Not
 * Playwright's: a browser Playwright drives holds the targets Lighthouse
 * opens (its run then never ends). Playwright connects over CDP only to put
 * a session into localStorage, and disconnects before Lighthouse starts. */
async function lighthouseBrowser(executablePath: string) {
  const port = await freePort();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-lh-profile-'));
  const proc = spawn(
    executablePath,
    ['--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', `--remote-debugging-port=${port}`,
     `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/json/version`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${executablePath} did not open its debugging port`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    /* Puts the refresh token (or none) into the origin's localStorage. */
    async setSession(origin: string, token: string | null) {
      const cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
      try {
        const page = await cdp.contexts()[0].newPage();
        // a document of the origin that is not the app (its icon): nothing of the app is
        // downloaded, so nothing of it can reach a cache (the app's downloads, still in flight
        // or in the renderer's memory cache when the caches were cleared, were found served to
        // the next load: transfer size 0 for some of its scripts in one page load out of five)
        await page.route('**/sw.js', (r) => r.abort()); // and no service worker from this visit
        await page.goto(origin + '/favicon.svg');
        await page.evaluate((t) => (t ? localStorage.setItem('sf.refresh_token', t) : localStorage.clear()), token);
        // Lighthouse is told not to reset storage (the session must stay), so what its reset
        // would clear is cleared here (Lighthouse 12: service workers, Cache Storage, file
        // systems, the shader cache, the HTTP and memory caches), and cookies and IndexedDB
        // too, all but localStorage: the service worker a previous page's run installed
        // answered every request of the next page, and this visit's downloads were in the HTTP
        // cache. Every page is then a first visit. (From the HTTP cache a page is a second
        // visit: nothing is downloaded, and Chromium makes V8's code cache for its scripts on
        // the main thread, v8.produceModuleCache, 60-80 ms at full speed here.)
        await page.goto('about:blank');
        const session = await page.context().newCDPSession(page);
        await session.send('Storage.clearDataForOrigin', {
          origin,
          storageTypes: 'cookies,file_systems,indexeddb,shader_cache,service_workers,cache_storage,websql',
        });
        await session.send('Network.clearBrowserCache');
        // as Lighthouse does: turning the cache off and on empties the memory cache too
        await session.send('Network.setCacheDisabled', { cacheDisabled: true });
        await session.send('Network.setCacheDisabled', { cacheDisabled: false });
        await page.close();
      } finally {
        await cdp.close(); // disconnects; the browser stays
      }
    },
    async close() {
      // Chromium writes its profile until it has exited: remove it after that
      const exited = new Promise((resolve) => (proc.exitCode !== null ? resolve(null) : proc.once('exit', resolve)));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      // a Chromium slow to exit on a loaded machine may still be writing it: a leftover
      // temp dir must not lose the table
      try {
        fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (e) {
        console.warn(`lighthouse: ${profile} left behind (${(e as Error).message})`);
      }
    },
  };
}

test('lighthouse', async ({ baseURL, api, browser }) => {
  if (!fs.existsSync(LH_CLI)) throw new Error(`${LH_CLI} missing: cd bench/lighthouse && npm ci`);
  const lh = await lighthouseBrowser(process.env.SF_CHROMIUM || '/usr/bin/chromium');
  const rows: Row[] = [];
  const load = os.loadavg();
  try {
    // SF_LH_PAGES=storefront,inbox: only the pages whose name contains one of these
    const only = (process.env.SF_LH_PAGES || '').split(',').filter(Boolean);
    for (const [role, name] of LIGHTHOUSE_PAGES) {
      const label = `${name} (${role})`;
      if (only.length && !only.some((o) => name.includes(o))) continue;
      const entry = PAGES[role].find((p) => p.name === name);
      if (!entry || entry.fixme) {
        rows.push({ page: label, missing: entry?.fixme || 'not in pages.ts' });
        continue;
      }
      let pagePath: string;
      try {
        pagePath = typeof entry.path === 'string' ? entry.path : await entry.path(api);
      } catch (e) {
        rows.push({ page: label, missing: `no data for it (${(e as Error).message.split('\n')[0]})` });
        continue;
      }
      // does the screen exist at all? (in Playwright's own browser, signed in as the role)
      const user = ROLE_USER[role];
      const context = await browser.newContext({ baseURL });
      const probe = await context.newPage();
      if (user) await injectSession(probe, (await api.login(DEMO[user].email, DEMO[user].password)).refresh_token);
      await probe.goto(pagePath);
      const shown = await waitForScreen(probe, label).then(
        async () => ((await isPlaceholder(probe)) ? 'a placeholder ("coming soon"), not built yet' : null),
        (e: Error) => e.message.split('\n')[0],
      );
      await context.close();
      if (shown) {
        rows.push({ page: label, path: pagePath, missing: shown });
        continue;
      }
      await lh.setSession(baseURL!, await refreshTokenFor(api, role));
      const scores = runLighthouse(baseURL + pagePath, lh.port);
      const interactiveMs = await firstInteractive(browser, api, baseURL!, role, pagePath);
      rows.push({ page: label, path: pagePath, ...scores, interactiveMs });
    }
  } finally {
    await lh.close();
  }
  const js = initialJs(WEB_ROOT);
  const text = table(rows, js, load);
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT + '.txt', text + '\n');
  fs.writeFileSync(OUT + '.json', JSON.stringify({ rows, initialJs: js, runs: RUNS, loadAverage: load }, null, 2) + '\n');
  console.log('\n' + text);
});
