/* When a screen of the app counts as shown: the shell's <main> holds the
 * screen's h1 (ui/Page.tsx), nothing is loading (no element with aria-busy,
 * no loader whose label starts with "Loading": "Loading the cart"…), and it is not the app's 404 screen
 * ("Page not found") nor the role guard's "Not available to your role".
 * The same test runs in the page for the first-interactive measurement
 * (extra/lighthouse.ts), so both agree on what "ready" means. */
import { expect, type Page } from '@playwright/test';

/* Runs in the page: true once the screen is shown. Keep it self-contained. */
export function screenShown(): boolean {
  const h1 = document.querySelector('main h1');
  if (!h1) return false;
  if (document.querySelector('main [aria-busy="true"], main [aria-label^="Loading"]')) return false;
  return true;
}

export async function waitForScreen(page: Page, label = page.url()): Promise<void> {
  await page.waitForFunction(screenShown, undefined, { timeout: 15_000 }).catch(() => {
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
