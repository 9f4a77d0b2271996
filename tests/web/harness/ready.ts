/* When a screen of the app counts as shown: the shell's <main> holds the
 * screen's h1 (ui/Page.tsx), nothing is loading (no element with aria-busy,
 * no status or loader saying "Loading …" (ui/Loading.tsx)), and it is not the app's 404 screen
 * ("Page not found") nor the role guard's "Not available to your role".
 * The same test runs in the page for the first-interactive measurement
 * (extra/lighthouse.ts), so both agree on what "ready" means. */
import { expect, type Page } from '@playwright/test';

/* Runs in the page: true once the screen is shown. Keep it self-contained. */
export function screenShown(): boolean {
  const h1 = document.querySelector('main h1');
  if (!h1) return false;
  if (document.querySelector('main [aria-busy="true"]')) return false;
  // ui/Loading.tsx: a role=status holding "Loading …" (older screens: a loader labelled so)
  const busy = document.querySelectorAll('main [role="status"], main [aria-label^="Loading"]');
  for (const el of Array.from(busy))
    if (/^(Loading|Checking)/.test((el.getAttribute('aria-label') || el.textContent || '').trim())) return false;
  return true;
}

/* An init script (context.addInitScript) that notes, from the page's first
 * script on, when the screen is shown (window.__sfShownAt, performance.now();
 * checked every animation frame in the page itself, so Playwright's round
 * trips do not count; also said on the console, see gotoShown), every long task
 * (window.__sfLong, [start, ms]) and what <main> showed on the way
 * (window.__sfSteps, "ms h1 | loading labels", one line per change). */
export const SHOWN_WATCH = `(() => {
  window.__sfLong = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__sfLong.push([Math.round(e.startTime), Math.round(e.duration)]);
  }).observe({ type: 'longtask', buffered: true });
  const shown = ${screenShown.toString()};
  window.__sfSteps = [];
  const step = () => {
    const h1 = document.querySelector('main h1');
    const busy = Array.from(document.querySelectorAll('main [aria-busy="true"], main [role="status"], main [aria-label^="Loading"]'))
      .map((e) => (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40));
    return (h1 ? h1.textContent.trim().slice(0, 40) : '(no h1)') + ' | ' + busy.join(', ');
  };
  let last = '';
  const tick = () => {
    const now = step();
    if (now !== last) window.__sfSteps.push(Math.round(performance.now()) + ' ' + (last = now));
    if (!shown()) return requestAnimationFrame(tick);
    window.__sfShownAt = performance.now();
    console.debug('sf-shown ' + window.__sfShownAt);
  };
  requestAnimationFrame(tick);
})()`;

/* Navigates `page` (with SHOWN_WATCH) to `path` and resolves with the screen's shown time
 * (ms from navigation start), taken from the page's console: no script of Playwright's runs
 * in the page while it loads (a waitForFunction would evaluate Playwright's injected script
 * there, on the main thread being measured). */
export async function gotoShown(page: Page, path: string, timeout = 30_000): Promise<number> {
  const said = page.waitForEvent('console', { predicate: (m) => m.text().startsWith('sf-shown '), timeout });
  await page.goto(path, { waitUntil: 'commit' });
  return Number((await said).text().slice('sf-shown '.length));
}

/** The median of shown times (the upper one of an even count), as the Lighthouse run and the
 * profiler report them. */
export function medianMs(times: number[]): number {
  return Math.round([...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]);
}

export async function waitForScreen(page: Page, label = page.url()): Promise<void> {
  await page.waitForFunction(screenShown, undefined, { timeout: 30_000 }).catch(() => {
    throw new Error(`${label}: the screen did not finish loading (no <main> h1, or still loading)`);
  });
  const h1 = (await page.locator('main h1').first().textContent())?.trim();
  expect(h1, `${label}: the app says there is no such page`).not.toBe('Page not found');
  await expect(page.getByText('Not available to your role'), `${label}: the role guard refused it`).toHaveCount(0);
}

/* The words of ui/Coming.tsx, the placeholder of a screen not built yet. */
export const PLACEHOLDER_TEXT = 'This part of Service Flow is coming soon.';

export async function isPlaceholder(page: Page): Promise<boolean> {
  return (await page.getByText(PLACEHOLDER_TEXT).count()) > 0;
}
