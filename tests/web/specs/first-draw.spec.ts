/* A cold load draws the first screen whole (web/src/main.tsx, app/lazyPage.ts): the app's
 * first render waits for the screen's chunks, its first reads and the session, and then
 * draws the screen with its data in one commit. So <main> shows nothing, then the screen:
 * never the shell's "Loading" (the fallback of a screen whose chunk is awaited, which also
 * made React hold back the screen's reveal by up to 500 ms), the guard's, or the screen's
 * own spinner. The pages are the Lighthouse pages (pages.ts). If the wait ran out
 * (FIRST_DRAW_WAIT_MS: the machine or the server was too slow; the app says so in its
 * `sf-first-draw` mark), a screen drawn before its data is right, and only that is said. */
import { test, expect, injectSession } from '../harness/fixtures';
import { DEMO } from '../harness/api';
import { gotoShown, SHOWN_WATCH } from '../harness/ready';
import { LIGHTHOUSE_PAGES, PAGES, ROLE_USER } from '../pages';

for (const [role, name] of LIGHTHOUSE_PAGES) {
  test(`a cold load draws the ${name} whole, with nothing loading before it`, async ({ browser, baseURL, api }) => {
    const entry = PAGES[role].find((p) => p.name === name);
    expect(entry, `${name} in pages.ts`).toBeTruthy();
    const pagePath = typeof entry!.path === 'string' ? entry!.path : await entry!.path(api);
    const context = await browser.newContext({ baseURL });
    try {
      const page = await context.newPage();
      const user = ROLE_USER[role];
      if (user) await injectSession(page, (await api.login(DEMO[user].email, DEMO[user].password)).refresh_token);
      await page.addInitScript(SHOWN_WATCH);
      await gotoShown(page, pagePath);
      const { steps, whole } = await page.evaluate(() => ({
        steps: (window as any).__sfSteps as string[],
        whole: (performance.getEntriesByName('sf-first-draw')[0] as PerformanceMark | undefined)?.detail?.whole,
      }));
      expect(whole, 'main.tsx marks its first draw').not.toBeUndefined();
      if (!whole) {
        test.info().annotations.push({ type: 'note', description: `${name}: the first draw's wait ran out; steps ${steps.join(' / ')}` });
        return;
      }
      // each step: "<ms> <h1 or (no h1)> | <loading labels>"; the last one is the screen shown
      const before = steps.slice(0, -1).map((s) => s.replace(/^\d+ /, ''));
      expect(before.filter((s) => s !== '(no h1) | '), `${name}: what <main> showed before the screen`).toEqual([]);
    } finally {
      await context.close();
    }
  });
}
