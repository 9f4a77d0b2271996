/* The accessibility scan: every page of pages.ts, signed in as its role,
 * scanned by axe-core against WCAG 2.1 A/AA; a serious or critical
 * violation fails the page's test and is printed with its elements. Then
 * the same page at 360 px wide (a phone) must not scroll sideways. */
import { test } from '../harness/fixtures';
import { waitForScreen } from '../harness/ready';
import { expectNoSidewaysScroll, PHONE } from '../harness/responsive';
import { PAGES, ROLE_USER, type PageRole } from '../pages';

for (const role of Object.keys(PAGES) as PageRole[]) {
  test.describe(`a11y ${role}`, () => {
    for (const entry of PAGES[role]) {
      test(`${entry.name}`, async ({ page, api, signIn, axe }) => {
        test.fixme(!!entry.fixme, entry.fixme);
        const user = ROLE_USER[role];
        if (user) await signIn(page, user);
        const path = typeof entry.path === 'string' ? entry.path : await entry.path(api);
        await page.goto(path);
        await waitForScreen(page, `${role} ${path}`);
        await axe.scan(page, `${role} ${entry.name} (${path})`);
      });
    }
  });
}

for (const role of Object.keys(PAGES) as PageRole[]) {
  test.describe(`360 px ${role}`, () => {
    test.use(PHONE);
    for (const entry of PAGES[role]) {
      test(`${entry.name}`, async ({ page, api, signIn }) => {
        test.fixme(!!entry.fixme, entry.fixme);
        const user = ROLE_USER[role];
        if (user) await signIn(page, user);
        const path = typeof entry.path === 'string' ? entry.path : await entry.path(api);
        await page.goto(path);
        await waitForScreen(page, `${role} ${path}`);
        await expectNoSidewaysScroll(page, `${role} ${entry.name} (${path}) at 360 px`);
      });
    }
  });
}
