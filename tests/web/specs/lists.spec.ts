/* The admin's lists filtered by the server and the live delivery log
 * (web/src/ui/CursorTable.tsx, api/lists.ts): the event log by type
 * (GET /events?type=, a bad one explained on its field), the users by role
 * (GET /users?role= with q), and a webhook subscription's delivery log that
 * follows webhook_deliveries:<id> instead of polling. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, expect } from '../harness/fixtures';
import { unique } from '../harness/api';

test('the event log filters by type on the server and names a bad type on its field', async ({ page, signIn }) => {
  await signIn(page, 'admin');
  await page.goto('/admin/system');
  const typeInput = page.getByRole('textbox', { name: 'Type', exact: true });
  await typeInput.fill('user.registered');
  const asked = page.waitForRequest((r) => /\/api\/v1\/events\?.*type=user\.registered/.test(r.url()));
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await asked;
  const log = page.getByTestId('event-log');
  await expect(log.getByRole('button', { name: /^Show type / }).first()).toBeVisible();
  const types = await log.getByRole('button', { name: /^Show type / }).allTextContents();
  expect(types.length).toBeGreaterThan(0);
  expect(new Set(types)).toEqual(new Set(['user.registered']));
  // a prefix: every type under it
  await typeInput.fill('user.');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await expect(async () => {
    const t = await log.getByRole('button', { name: /^Show type / }).allTextContents();
    expect(t.length).toBeGreaterThan(0);
    expect(t.every((x) => x.startsWith('user.'))).toBe(true);
  }).toPass();
  // a bad one: the server's words on the Type field
  await typeInput.fill('Not a type');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await expect(typeInput).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText("is not a list of event types or prefixes ending in '.'")).toBeVisible();
});

test('the users screen filters by role on the server, with the search', async ({ page, api, signIn }) => {
  const name = unique('Rolefilter');
  const admin = await api.token('admin');
  for (const role of ['approver', 'staff'])
    await api.ok('POST', '/api/v1/users', {
      token: admin,
      body: { email: `${name}-${role}@example.com`.toLowerCase(), password: 'role password 1', role },
    });
  await signIn(page, 'admin');
  await page.goto('/admin/users');
  await page.getByTestId('user-search').fill(name.slice(0, 24).toLowerCase());
  const rows = page.getByTestId('user-list').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  const asked = page.waitForRequest((r) => /\/api\/v1\/users\?.*role=approver/.test(r.url()) && /q=/.test(r.url()));
  await page.getByTestId('user-role').click();
  await page.getByRole('option', { name: 'approver', exact: true }).click();
  await asked;
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(`${name}-approver`.toLowerCase());
  await page.getByTestId('user-role').click();
  await page.getByRole('option', { name: 'customer', exact: true }).click();
  await expect(page.getByText('No user matches.')).toBeVisible();
});

test('a delivery log shows a failing delivery, then its success, live and without polling', async ({
  page,
  api,
  signIn,
  noReload,
}) => {
  let status = 500;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'Content-Length': '2' });
      res.end('ok');
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
  try {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/${unique('hook')}`;
    const admin = await api.token('admin');
    // an event only this test makes (other tests make products, orders, … meanwhile)
    const sub = await api.ok('POST', '/api/v1/webhooks', {
      token: admin,
      body: { url, events: ['webhook.subscription_secret_rotated'] },
    });
    await signIn(page, 'admin');
    await page.goto('/admin/webhooks');
    await page.getByRole('button', { name: url }).click();
    await expect(page.getByText('No delivery yet.')).toBeVisible();
    await noReload.arm(page);
    let reads = 0;
    page.on('request', (r) => {
      if (/\/api\/v1\/webhooks\/[^/]+\/deliveries/.test(r.url())) reads++;
    });
    await api.ok('POST', `/api/v1/webhooks/${sub.id}/secret`, { token: admin });
    const row = page.getByTestId('webhook-delivery');
    await expect(row).toHaveCount(1);
    await expect(row).toHaveAttribute('data-status', 'pending');
    await expect(row).toContainText('HTTP 500');
    status = 200;
    await expect(row).toHaveAttribute('data-status', 'delivered', { timeout: 15_000 });
    await expect(row.getByRole('cell').nth(2)).toHaveText(/^[2-9]$/); // the attempts, the failed ones counted
    // quiet now: no further reads (the old screen polled every 5 s)
    const after = reads;
    await page.waitForTimeout(6_000);
    expect(reads).toBe(after);
    await noReload.check(page);
  } finally {
    receiver.close();
  }
});

test('the storefront filters by category on the server, and back to all categories', async ({ page, api }) => {
  const admin = await api.token('admin');
  const name = unique('Shelf');
  const cat = await api.ok('POST', '/api/v1/categories', { token: admin, body: { name } });
  const sku = unique('CAT').toUpperCase().replace(/[^A-Z0-9._-]/g, '-');
  const p = await api.ok('POST', '/api/v1/products', {
    token: admin,
    body: { sku, name: `Shelved ${sku.slice(-6)}`, price: 990, currency: 'EUR', status: 'active', category_id: cat.id },
  });
  await page.goto('/');
  const grid = page.getByTestId('product-list');
  await expect(grid.getByRole('article').first()).toBeVisible();
  const category = page.getByLabel('Category');
  await expect(category.locator('option', { hasText: name })).toHaveCount(1);
  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.get('category_id') === cat.id);
  await category.selectOption(cat.id);
  await asked;
  await expect(page).toHaveURL(new RegExp(`[?&]category=${cat.id}`));
  await expect(grid.getByRole('article')).toHaveCount(1);
  await expect(grid.getByRole('article')).toContainText(p.name);
  // a reload keeps the filter (it lives in the URL) and the select shows it
  await page.reload();
  await expect(category).toHaveValue(cat.id);
  await expect(grid.getByRole('article')).toHaveCount(1);
  await category.selectOption({ label: 'All categories' });
  await expect(page).not.toHaveURL(/category=/);
  await expect.poll(() => grid.getByRole('article').count()).toBeGreaterThan(1);
  // a category the URL names but the list does not have (gone): the select says so, and
  // "All categories" clears it
  await page.goto('/?category=cat_gone');
  await expect(category).toHaveValue('cat_gone');
  await expect(category.locator('option:checked')).toHaveText('A category that no longer exists');
  await category.selectOption({ label: 'All categories' });
  await expect(page).not.toHaveURL(/category=/);
});

test('a toast appears for the first action that shows one (its container loads on demand)', async ({ page, signIn }) => {
  await signIn(page, 'admin');
  await page.goto('/admin/users');
  await expect(page.getByTestId('user-list')).toBeVisible();
  // what loads after the first screen has arrived (the account menu, which the build before
  // loaded together with the toasts' container), and two frames more: no toast yet, so the
  // container is not drawn at all
  await expect(page.getByTestId('user-menu')).toHaveAttribute('aria-haspopup', 'menu');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await expect(page.locator('.mantine-Notifications-root')).toHaveCount(0);
  const email = `${unique('toast')}@example.com`.toLowerCase();
  await page.getByTestId('new-user').click();
  const form = page.getByRole('form', { name: 'New account' });
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Initial password').fill('toast password 1');
  await page.getByTestId('create-user').click();
  // one check (the toast closes by itself after 4 s)
  await expect(
    page.getByRole('alert').filter({ hasText: 'Account created' }).filter({ hasText: `${email} can sign in now` }),
  ).toBeVisible();
});
