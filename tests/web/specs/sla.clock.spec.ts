/* Issue 14, scenario 5: an agent works a P1 incident on the test-clock
 * server. The SLA clocks count down on the business calendar; when the
 * server's clock is moved past the response target (POST /_test/clock) the
 * breach arrives live (request.sla_breached) and the target turns red, on the
 * request's page and in the queue, without a reload. Runs in the e2e-clock
 * project: after the others, one at a time (the clock is the whole server's). */
import { test, expect } from '../harness/fixtures';
import { Api, unique } from '../harness/api';
import { waitForScreen } from '../harness/ready';

test('an agent works a P1 incident and sees its response SLA breach live', async ({ page, baseURL, api, signIn, noReload }) => {
  const title = unique('Mail server down');
  const r = await api.newRequest('incident', title, { priority: 'P1', service: 'Mail', description: 'Nobody gets mail' });
  const response = r.sla.targets.find((t: { name: string }) => t.name === 'response');
  expect(response.status).toBe('running');

  await signIn(page, 'staff');
  await page.goto(`/desk/requests/${r.id}`);
  await waitForScreen(page, 'incident on the desk');
  await noReload.arm(page);
  const target = page.getByTestId('sla-response');
  await expect(target).toHaveAttribute('data-status', 'running');
  await expect(target.getByTestId('sla-left')).toContainText('left');
  // the clock counts down (seconds tick on screen)
  const before = await target.getByTestId('sla-left').textContent();
  await expect(target.getByTestId('sla-left')).not.toHaveText(before!, { timeout: 5_000 });

  // the agent takes the incident
  await page.getByRole('button', { name: 'Assign to me' }).click();
  await expect(page.getByTestId('assignee')).toHaveText('you');
  await page.getByLabel('Add a comment (the requester sees it)').fill('Looking at the mail queue');
  await page.getByRole('button', { name: 'Post comment' }).click();
  await expect(page.getByTestId('timeline')).toContainText('Looking at the mail queue');

  // the server's clock passes the response target's due time (business time: maybe overnight)
  const asOf = Date.parse(r.sla.as_of);
  const due = Date.parse(response.due_at);
  await api.advanceClock((due - asOf) / 1000 + 120);

  // the breach comes live: the target is red, the escalation (assigned to admins) shows
  await expect(target).toHaveAttribute('data-status', 'breached', { timeout: 20_000 });
  await expect(target).toHaveAttribute('data-tone', 'breached');
  await expect(target.getByTestId('sla-status')).toHaveText(/breached/i);
  await expect(page.getByTestId('timeline')).toContainText('SLA breached: response');
  await expect(page.getByTestId('assignee')).toHaveText('the admin queue');
  const color = await target.getByTestId('sla-status').evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(color, 'a breached target is red').toMatch(/rgb\((2\d\d|1[5-9]\d), \d{1,2}, \d{1,2}\)/);
  await noReload.check(page);

  // the queue shows it breached too, and the SLA filter finds it
  await page.goto('/desk?type=incident&sla=breached');
  await waitForScreen(page, 'queue of breached incidents');
  const row = page.locator('[data-testid="queue-row"]', { hasText: title });
  await expect(row.getByTestId('sla-badge')).toHaveAttribute('data-status', 'breached');

  // starting work meets the response target late; the customer's view says so as well
  await row.getByRole('link', { name: title }).click();
  await page.getByTestId('action-start').click();
  await expect(page.getByTestId('request-state')).toHaveAttribute('data-state', 'in_progress');
  await expect(page.getByTestId('sla-response')).toHaveAttribute('data-status', 'met late');
  // tokens made before the jump are expired in server time: sign in again for the check
  const fresh = new Api(baseURL!);
  const seen = await fresh.ok('GET', `/api/v1/requests/${r.id}`, { token: await fresh.token('customer') });
  expect(seen.sla.targets.find((t: { name: string }) => t.name === 'response').breached).toBe(true);
});
