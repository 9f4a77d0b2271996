/* The harness itself: the server of the run answers, the demo users and the
 * demo desk are there, and the app is served at / (a canary: when this
 * fails, every other scenario's failure is a consequence). */
import { test, expect } from '../harness/fixtures';

test('the demo data is seeded', async ({ api }) => {
  for (const role of ['customer', 'staff', 'approver', 'admin'] as const) expect(await api.token(role)).toBeTruthy();
  const products = await api.ok('GET', '/api/v1/products?limit=5');
  expect(products.data.length, 'serviceflow seed made the demo catalog').toBeGreaterThan(0);
  const mine = await api.ok('GET', '/api/v1/requests?limit=50', { token: await api.token('customer') });
  expect(mine.data.length, 'scripts/seed_desk.py opened the demo requests').toBeGreaterThanOrEqual(8);
});

test('the web app is served at /', async ({ page }) => {
  const answer = await page.goto('/');
  expect(answer?.status()).toBe(200);
  expect(answer?.headers()['content-type']).toContain('text/html');
  await expect(page.locator('#root, main').first()).toBeAttached();
});
