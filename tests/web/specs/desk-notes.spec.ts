/* Internal notes and the desk's server-side filters (issue 14): an agent
 * adds an internal note and a reply on the desk; the note is labelled in
 * words on the desk and never reaches the requester's screen, live or after
 * a reload, while the reply does. The admin's user search asks the server
 * (GET /users?q=): a user beyond the loaded page is found by the start of
 * their name. */
import type { Browser, Page } from '@playwright/test';
import { test, expect } from '../harness/fixtures';
import { unique, type Role } from '../harness/api';
import { waitForScreen } from '../harness/ready';
import { scan } from '../harness/axe';

async function personPage(browser: Browser, baseURL: string, signIn: (p: Page, r: Role) => Promise<unknown>, role: Role) {
  const ctx = await browser.newContext({ baseURL });
  const page = await ctx.newPage();
  await signIn(page, role);
  return page;
}

test('an internal note is labelled on the desk and never reaches the requester', async ({ page, browser, baseURL, api, signIn }) => {
  const r = await api.newRequest('incident', unique('Laptop battery swells'), { priority: 'P3', service: 'Laptops' });
  await signIn(page, 'customer');
  await page.goto(`/portal/requests/${r.id}`);
  await waitForScreen(page, 'portal request');

  const agent = await personPage(browser, baseURL!, signIn, 'staff');
  await agent.goto(`/desk/requests/${r.id}`);
  await waitForScreen(agent, 'desk request');
  const secret = unique('Known faulty batch');
  // Mantine's switch input is drawn by its track: a person clicks the label
  const toggle = agent.getByRole('switch', { name: 'Internal note' });
  await agent.getByText('Internal note', { exact: true }).click();
  await expect(toggle).toBeChecked();
  await agent.getByLabel('Internal note (not visible to the requester)').fill(secret);
  await agent.getByRole('button', { name: 'Add internal note' }).click();
  const note = agent.getByTestId('timeline').locator('[data-type="request.noted"]');
  await expect(note).toContainText(secret);
  await expect(note.getByTestId('internal-label')).toHaveText('Internal — not visible to the requester');
  await scan(agent, 'desk request with an internal note, the switch on');

  // a reply the requester sees, after the note: it arrives live, the note never does
  await agent.getByText('Internal note', { exact: true }).click();
  await expect(toggle).not.toBeChecked();
  await agent.getByLabel('Add a comment (the requester sees it)').fill('We are replacing it');
  await agent.getByRole('button', { name: 'Post comment' }).click();
  await expect(agent.getByTestId('timeline')).toContainText('We are replacing it');
  await expect(page.getByTestId('timeline')).toContainText('We are replacing it');
  await expect(page.getByTestId('timeline')).not.toContainText(secret);
  await page.reload();
  await waitForScreen(page, 'portal request again');
  await expect(page.getByTestId('timeline')).toContainText('We are replacing it');
  await expect(page.getByText(secret)).toHaveCount(0);
  await expect(page.getByText('internal note', { exact: false })).toHaveCount(0);
  await agent.context().close();
});

test('the admin finds a user by the start of their name, asked of the server', async ({ page, api, signIn }) => {
  const name = unique('Zephyrine');
  const c = await api.newCustomer(name);
  await signIn(page, 'admin');
  await page.goto('/admin/users');
  await waitForScreen(page, 'users');
  await page.getByTestId('user-search').fill(name.slice(0, 12).toUpperCase());
  await expect(page.getByTestId(`user-${c.email}`)).toBeVisible();
  await page.getByTestId('user-search').fill(unique('nobody-by-this-name'));
  await expect(page.getByText('No user matches.')).toBeVisible();
});
