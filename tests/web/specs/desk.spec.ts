/* The service desk in the browser (issue 14, scenario 3): a customer opens a
 * purchase over 1000 from the form generated from its workflow's fields →
 * the approver's inbox shows it without a reload → the approver approves →
 * finance (the staff role) sees it arrive and approves → the customer's
 * screen shows "approved", live. Also: the form puts the server's 422 on the
 * fields it names, and the requester comments. */
import type { Browser, Page } from '@playwright/test';
import { test, expect } from '../harness/fixtures';
import { unique, type Role } from '../harness/api';
import { waitForScreen } from '../harness/ready';

/* A second person at another browser: their own context (own storage, own session). */
async function personPage(browser: Browser, baseURL: string, signIn: (p: Page, r: Role) => Promise<unknown>, role: Role) {
  const ctx = await browser.newContext({ baseURL });
  const page = await ctx.newPage();
  await signIn(page, role);
  return page;
}

test('a purchase over 1000: the approver and finance approve from their live inboxes, the customer sees it approved live', async ({
  page,
  browser,
  baseURL,
  signIn,
  noReload,
}) => {
  const title = unique('Standing desks');

  // the approver and finance already look at their inboxes
  const approver = await personPage(browser, baseURL!, signIn, 'approver');
  await approver.goto('/desk/approvals');
  await waitForScreen(approver, 'approver inbox');
  await noReload.arm(approver);
  const finance = await personPage(browser, baseURL!, signIn, 'staff');
  await finance.goto('/desk/approvals');
  await waitForScreen(finance, 'finance inbox');
  await noReload.arm(finance);

  // the customer opens the request from the catalog, with the generated form
  await signIn(page, 'customer');
  await page.goto('/portal');
  await waitForScreen(page, 'portal');
  await page.getByRole('link', { name: 'Open a request: Purchase request' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'New request: Purchase request' })).toBeVisible();
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Amount').fill('2400');
  await page.getByLabel('Justification').fill('Four standing desks for the support team');
  await page.getByLabel('Category').selectOption('hardware');
  await page.getByLabel('Needed by').fill('2027-03-01');
  await page.getByRole('button', { name: 'Open request' }).click();

  await expect(page).toHaveURL(/\/portal\/requests\/srq_/);
  const id = page.url().split('/').pop()!;
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'draft');
  await expect(page.getByTestId('request-data')).toContainText('2400');
  await noReload.arm(page);
  await page.getByTestId('action-submit').click();
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'review');

  // the approver's inbox fills without a reload; they approve with a comment
  const card = approver.locator(`[data-testid="inbox-item"][data-request-id="${id}"]`);
  await expect(card).toBeVisible();
  await expect(card).toContainText(title);
  await expect(card).toContainText('2400');
  await card.getByLabel('Comment (the requester sees it)').fill('Fine for the team');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect(card).toHaveCount(0);
  await noReload.check(approver);

  // the customer sees the first level approved and finance next, live
  await expect(page.getByTestId('approval-pending')).toContainText('Finance');
  await expect(page.getByTestId('timeline')).toContainText('Fine for the team');

  // finance's inbox gets it live; finance approves
  const fcard = finance.locator(`[data-testid="inbox-item"][data-request-id="${id}"]`);
  await expect(fcard).toBeVisible();
  await fcard.getByRole('button', { name: 'Approve' }).click();
  await expect(fcard).toHaveCount(0);
  await noReload.check(finance);

  // the customer's screen says approved, without a reload
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'approved');
  await expect(page.getByTestId('request-state')).toHaveText(/approved/i);
  await expect(page.getByTestId('approval-status')).toHaveAttribute('data-status', 'approved');
  await noReload.check(page);

  // and "my requests" lists it approved
  await page.getByRole('link', { name: '← My requests' }).click();
  await expect(page.locator(`[data-testid="my-request"][data-id="${id}"]`)).toContainText(/approved/i);

  await approver.context().close();
  await finance.context().close();
});

test("the generated form shows the server's errors on the fields they name", async ({ page, signIn }) => {
  await signIn(page, 'customer');
  await page.goto('/portal/new/purchase');
  await waitForScreen(page, 'purchase form');
  // no title: the server names it
  await page.getByRole('button', { name: 'Open request' }).click();
  await expect(page.getByTestId('form-error')).toBeVisible();
  await expect(page.getByLabel('Title')).toHaveAttribute('aria-invalid', 'true');
  // a title, but the required amount is missing
  await page.getByLabel('Title').fill(unique('Pens'));
  await page.getByRole('button', { name: 'Open request' }).click();
  await expect(page.getByLabel('Amount')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Title')).not.toHaveAttribute('aria-invalid', 'true');
  // an amount below its minimum and a justification too short: both at once, each on its field
  await page.getByLabel('Amount').fill('-5');
  await page.getByLabel('Justification').fill('short');
  await page.getByRole('button', { name: 'Open request' }).click();
  const amount = page.getByLabel('Amount');
  await expect(amount).toHaveAttribute('aria-invalid', 'true');
  // Mantine ties the message to the input (aria-describedby): the server's words, on the field
  await expect(page.getByText(/at least 0/i)).toBeVisible();
  await expect(page.getByText(/at least 10 characters/i)).toBeVisible();
  await expect(page.getByLabel('Justification')).toHaveAttribute('aria-invalid', 'true');
  // fixed: the request opens
  await amount.fill('12.5');
  await page.getByLabel('Justification').fill('Pens for the new starters');
  await page.getByRole('button', { name: 'Open request' }).click();
  await expect(page).toHaveURL(/\/portal\/requests\/srq_/);
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'draft');
});

test('the requester comments and an agent sees the comment live on the desk', async ({ page, browser, baseURL, api, signIn }) => {
  const r = await api.newRequest('incident', unique('Projector flickers'), { priority: 'P3', service: 'Meeting rooms' });
  const agent = await personPage(browser, baseURL!, signIn, 'staff');
  await agent.goto(`/desk/requests/${r.id}`);
  await waitForScreen(agent, 'desk request');
  await expect(agent.getByTestId('sla-panel')).toBeVisible();

  await signIn(page, 'customer');
  await page.goto(`/portal/requests/${r.id}`);
  await waitForScreen(page, 'portal request');
  await page.getByLabel('Add a comment').fill('It also buzzes loudly');
  await page.getByRole('button', { name: 'Post comment' }).click();
  await expect(page.getByTestId('timeline')).toContainText('It also buzzes loudly');
  await expect(agent.getByTestId('timeline')).toContainText('It also buzzes loudly');

  // the agent takes it: assigned to them, in progress; the customer sees the state move
  await agent.getByRole('button', { name: 'Assign to me' }).click();
  await expect(agent.getByTestId('assignee')).toHaveText('you');
  await agent.getByTestId('action-start').click();
  await expect(agent.getByTestId('request-state')).toHaveAttribute('data-state', 'in_progress');
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'in_progress');
  await agent.context().close();
});
