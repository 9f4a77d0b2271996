/* The accessibility scan: every page of pages.ts, signed in as its role,
 * scanned by axe-core against WCAG 2.1 A/AA; a serious or critical
 * violation fails the page's test and is printed with its elements. */
import { test } from '../harness/fixtures';
import { waitForScreen } from '../harness/ready';
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
