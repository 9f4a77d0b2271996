/* What a scenario gets besides Playwright's own fixtures. Import `test` and
 * `expect` from here, not from '@playwright/test':
 *
 *   import { test, expect } from '../harness/fixtures';
 *   test('…', async ({ page, api, signIn, noReload }) => { … });
 *
 *   baseURL      the suite's server (globalSetup), so page.goto('/shop') works
 *   api          harness/api.ts: demo logins, data made through the API, the test clock
 *   signIn       signIn(page, 'approver' | {email, password}): the page starts signed in,
 *                the way the app keeps a session (web/src/api/session.ts: the refresh
 *                token in localStorage); call it before the page's first goto
 *   noReload     noReload.arm(page) marks the window; noReload.check(page) fails if
 *                the page was loaded again since (a live update must not need a reload)
 *   axe          harness/axe.ts: scan(page, label) fails on serious/critical violations */
import { test as base, expect, type Page } from '@playwright/test';
import { Api, DEMO, type Role, type Session } from './api';
import { scan } from './axe';

/* Where web/src/api/session.ts keeps the refresh token. */
export const REFRESH_KEY = 'sf.refresh_token';

export type Who = Role | { email: string; password: string };

interface Fixtures {
  api: Api;
  signIn: (page: Page, who: Who) => Promise<Session>;
  noReload: { arm: (page: Page) => Promise<void>; check: (page: Page) => Promise<void> };
  axe: { scan: typeof scan };
}

/* Puts a session into a page the way the app would have stored it after a
 * login: once per tab (sessionStorage guard), because the app rotates the
 * refresh token on every refresh and presenting an old one again ends the
 * whole session (theft detection). */
export async function injectSession(page: Page, refreshToken: string): Promise<void> {
  await page.addInitScript(
    ([key, token]) => {
      if (sessionStorage.getItem('sf.test.session-injected')) return;
      sessionStorage.setItem('sf.test.session-injected', '1');
      localStorage.setItem(key, token);
    },
    [REFRESH_KEY, refreshToken] as const,
  );
}

export const test = base.extend<Fixtures>({
  baseURL: async ({}, use) => {
    const url = process.env.SF_WEB_URL;
    if (!url) throw new Error('SF_WEB_URL is not set: run through playwright.config.ts (globalSetup starts the server)');
    await use(url);
  },
  api: async ({ baseURL }, use) => {
    await use(new Api(baseURL!));
  },
  signIn: async ({ api }, use) => {
    await use(async (page, who) => {
      const cred = typeof who === 'string' ? DEMO[who] : who;
      const s = await api.login(cred.email, cred.password);
      await injectSession(page, s.refresh_token);
      return s;
    });
  },
  noReload: async ({}, use) => {
    await use({
      arm: async (page) => {
        await page.evaluate(() => ((window as any).__sfNoReload = 'armed'));
      },
      check: async (page) => {
        const mark = await page.evaluate(() => (window as any).__sfNoReload);
        expect(mark, 'the page was reloaded (or navigated away and back) since noReload.arm').toBe('armed');
      },
    });
  },
  axe: async ({}, use) => {
    await use({ scan });
  },
});

export { expect };
