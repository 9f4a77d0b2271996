/* `make screenshots` (project `screenshots`, SF_WEB_SCREENSHOTS=1): every page of
 * pages.ts with a `shot` name, signed in as its role, photographed at a desktop
 * size and a phone size into docs/screenshots/<shot>-desktop.png and
 * <shot>-phone.png for the README. Pages marked fixme are left out. */
import path from 'node:path';
import { test } from '../harness/fixtures';
import { isPlaceholder, waitForScreen } from '../harness/ready';
import { REPO } from '../harness/server';
import { PAGES, ROLE_USER, type PageRole } from '../pages';

const DIR = process.env.SF_SCREENSHOT_DIR || path.join(REPO, 'docs', 'screenshots');
const SIZES = {
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
} as const;

for (const role of Object.keys(PAGES) as PageRole[])
  for (const entry of PAGES[role].filter((p) => p.shot && !p.fixme))
    for (const [size, device] of Object.entries(SIZES))
      test(`${entry.shot} ${size}`, async ({ browser, baseURL, api, signIn }) => {
        const context = await browser.newContext({ ...device, baseURL, reducedMotion: 'reduce' });
        const page = await context.newPage();
        const user = ROLE_USER[role];
        if (user) await signIn(page, user);
        const pagePath = typeof entry.path === 'string' ? entry.path : await entry.path(api);
        await page.goto(pagePath);
        await waitForScreen(page, `${role} ${pagePath}`);
        test.skip(await isPlaceholder(page), 'a placeholder screen ("coming soon"): nothing to show yet');
        await page.waitForLoadState('networkidle');
        await page.screenshot({ path: path.join(DIR, `${entry.shot}-${size}.png`), animations: 'disabled' });
        await context.close();
      });
