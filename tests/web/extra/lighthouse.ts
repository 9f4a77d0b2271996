/* bench/lighthouse.sh's measurements (project `lighthouse`, SF_WEB_LIGHTHOUSE=1),
 * for each page of LIGHTHOUSE_PAGES (pages.ts):
 *   - Lighthouse (bench/lighthouse/, its CLI) on Debian's Chromium: performance,
 *     accessibility and best-practices scores, LCP and TBT, with its default
 *     mobile profile (simulated slow 4G, 4x CPU slowdown). Signed-in pages: the
 *     browser is Playwright's persistent context with a debugging port, the
 *     session put into localStorage the way the app keeps it
 *     (web/src/api/session.ts), and Lighthouse told not to reset storage;
 *   - first page interactive: navigation start to the screen shown (harness/ready.ts,
 *     polled every animation frame) in a fresh context (cold cache) on loopback,
 *     the median of SF_LH_RUNS (5) loads;
 * and once, the initial JavaScript gzipped (harness/initial-js.ts).
 * A page that does not exist yet is reported as missing, never measured. The
 * table goes to stdout and SF_LH_OUT (.txt and .json). */
import { chromium, type Browser } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../harness/fixtures';
import { Api, DEMO } from '../harness/api';
import { initialJs } from '../harness/initial-js';
import { screenShown, waitForScreen } from '../harness/ready';
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
    const user = ROLE_USER[role];
    if (user) {
      const s = await api.login(DEMO[user].email, DEMO[user].password);
      await context.addInitScript(([t]) => localStorage.setItem('sf.refresh_token', t), [s.refresh_token]);
    }
    const page = await context.newPage();
    await page.goto(pagePath, { waitUntil: 'commit' });
    const shown = `(${screenShown.toString()})() && performance.now()`;
    const handle = await page.waitForFunction(shown, undefined, { polling: 'raf', timeout: 20_000 });
    times.push(Number(await handle.jsonValue()));
    await context.close();
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]);
}

function runLighthouse(url: string, port: number): Partial<Row> {
  const file = path.join(os.tmpdir(), `sf-lh-${process.pid}-${port}.json`);
  const p = spawnSync(
    process.execPath,
    [LH_CLI, url, `--port=${port}`, '--output=json', `--output-path=${file}`, '--quiet', '--disable-storage-reset',
     '--only-categories=performance,accessibility,best-practices', '--max-wait-for-load=30000'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  if (p.status !== 0 || !fs.existsSync(file)) throw new Error(`lighthouse ${url} failed (${p.status}):\n${p.stderr}`);
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.rmSync(file, { force: true });
  const score = (k: string) => (r.categories[k]?.score == null ? undefined : Math.round(r.categories[k].score * 100));
  return {
    performance: score('performance'),
    accessibility: score('accessibility'),
    bestPractices: score('best-practices'),
    lcpMs: Math.round(r.audits['largest-contentful-paint']?.numericValue ?? NaN),
    tbtMs: Math.round(r.audits['total-blocking-time']?.numericValue ?? NaN),
  };
}

function table(rows: Row[], js: ReturnType<typeof initialJs>): string {
  const head = ['page', 'perf', 'a11y', 'best-pr.', 'LCP ms', 'TBT ms', 'interactive ms', 'path'];
  const cell = (v: unknown) => (v === undefined || Number.isNaN(v) ? '-' : String(v));
  const lines = rows.map((r) =>
    r.missing
      ? [r.page, `missing: ${r.missing}`, '', '', '', '', '', r.path || '']
      : [r.page, r.performance, r.accessibility, r.bestPractices, r.lcpMs, r.tbtMs, r.interactiveMs, r.path].map(cell),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (l: unknown[]) => l.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  const jsLine =
    `initial JS (entry + static imports, gzip -9): ${(js.gzip / 1024).toFixed(1)} KB ` +
    `(${(js.bytes / 1024).toFixed(1)} KB raw, ${js.files.length} files: ${js.files.map((f) => f.file).join(', ')})`;
  return [fmt(head), ...lines.map(fmt), '', jsLine].join('\n');
}

test('lighthouse', async ({ baseURL, api, browser }) => {
  if (!fs.existsSync(LH_CLI)) throw new Error(`${LH_CLI} missing: cd bench/lighthouse && npm ci`);
  const port = await freePort();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-lh-profile-'));
  const executablePath = process.env.SF_CHROMIUM || '/usr/bin/chromium';
  const lhBrowser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', `--remote-debugging-port=${port}`],
  });
  const rows: Row[] = [];
  try {
    const tab = lhBrowser.pages()[0] || (await lhBrowser.newPage());
    for (const [role, name] of LIGHTHOUSE_PAGES) {
      const label = `${name} (${role})`;
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
      // the session Lighthouse's tab will find, then a check that the screen exists at all
      const token = await refreshTokenFor(api, role);
      await tab.goto(baseURL + '/login');
      await tab.evaluate((t) => (t ? localStorage.setItem('sf.refresh_token', t) : localStorage.clear()), token);
      await tab.goto(baseURL + pagePath);
      try {
        await waitForScreen(tab, label);
      } catch (e) {
        rows.push({ page: label, path: pagePath, missing: (e as Error).message.split('\n')[0] });
        continue;
      }
      const lh = runLighthouse(baseURL + pagePath, port);
      const interactiveMs = await firstInteractive(browser, api, baseURL!, role, pagePath);
      rows.push({ page: label, path: pagePath, ...lh, interactiveMs });
    }
  } finally {
    await lhBrowser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  const js = initialJs(WEB_ROOT);
  const text = table(rows, js);
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT + '.txt', text + '\n');
  fs.writeFileSync(OUT + '.json', JSON.stringify({ rows, initialJs: js, runs: RUNS }, null, 2) + '\n');
  console.log('\n' + text);
});
