/* Issue 14, Quality (4): an admin publishes a broken workflow and sees each
 * error on its line, fixes it, and sees the diagram (web/src/features/admin/
 * workflows). The editor is CodeMirror: its text is replaced by selecting
 * all and inserting, as a person pasting would. */
import { test, expect } from '../harness/fixtures';
import { unique } from '../harness/api';
import type { Page } from '@playwright/test';

async function replaceSource(page: Page, text: string) {
  const editor = page.getByTestId('workflow-source');
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/* The editor's line n (1-based): CodeMirror renders every line of a short text. */
const editorLine = (page: Page, n: number) => page.locator('.cm-content .cm-line').nth(n - 1);

test('an admin publishes a broken workflow, sees each error on its line, fixes it and sees the diagram', async ({
  page,
  api,
  signIn,
  axe,
}) => {
  const type = unique('web_flow').toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40);
  const broken = [
    'name: Web test flow', //           1
    `type: ${type}`, //                 2
    'initial: draft', //                3
    'states:', //                       4
    '  draft: {}', //                   5
    '  review: {}', //                  6
    '  done: {final: true}', //         7
    'transitions:', //                  8
    '  - {action: submit, from: draft, to: limbo}', //      9: no such state
    '  - {action: approve, from: review, to: done}', //     10
    '  - {action: close, from: nowhere, to: done}', //      11: no such state
    'timers:', //                       12
    '  - {in: review, after: 3 weeks, action: approve}', // 13: not a duration
    '',
  ].join('\n');
  await signIn(page, 'admin');
  await page.goto('/admin/workflows/new');
  await expect(page.getByRole('heading', { level: 1, name: 'New workflow' })).toBeVisible();
  await replaceSource(page, broken);
  await page.getByTestId('publish-workflow').click();

  // each problem the server named, listed with its line and marked on that line
  const problems = page.getByTestId('workflow-problems');
  await expect(problems).toBeVisible();
  for (const [line, field] of [
    [9, 'transitions[0].to'],
    [11, 'transitions[2].from'],
    [13, 'timers[0].after'],
  ] as const) {
    const item = problems.locator(`li[data-line="${line}"]`, { hasText: field });
    await expect(item).toHaveCount(1);
    await expect(item).toContainText(`Line ${line}`);
    await expect(editorLine(page, line).locator('.cm-lintRange-error')).toHaveCount(1);
  }
  // the states nothing leads to are named on their own lines too
  await expect(problems.locator('li[data-line="6"]')).toContainText('states.review');
  await expect(problems.locator('li[data-line="7"]')).toContainText('states.done');
  await expect(page.locator('.cm-gutter-lint .cm-lint-marker-error')).toHaveCount(5);
  await expect(page.getByTestId('workflow-status')).toContainText('5 problems');
  // nothing was published
  expect((await api.call('GET', `/api/v1/workflows/${type}`, { token: await api.token('admin') })).status).toBe(404);
  // a problem's line number takes the cursor there
  await problems.getByRole('button', { name: 'Go to line 13' }).click();
  await expect(page.locator('.cm-activeLine')).toContainText('after: 3 weeks');
  await axe.scan(page, 'admin workflow editor with problems');

  // fixed: the problems go away as it is checked, it publishes, the diagram shows it
  const fixed = broken
    .replace('to: limbo', 'to: review')
    .replace('from: nowhere', 'from: review')
    .replace('after: 3 weeks', 'after: 21d');
  await replaceSource(page, fixed);
  await expect(page.getByTestId('workflow-status')).toContainText('Valid', { timeout: 15_000 });
  await expect(page.getByTestId('workflow-problems')).toHaveCount(0);
  await expect(page.locator('.cm-lintRange-error')).toHaveCount(0);
  await page.getByTestId('publish-workflow').click();
  await expect(page).toHaveURL(new RegExp(`/admin/workflows/${type}$`));
  await expect(page.getByText('version 1 is published')).toBeVisible();

  const diagram = page.getByTestId('workflow-diagram');
  await expect(diagram.getByRole('img', { name: /State diagram of Web test flow: 3 states, 3 transitions/ })).toBeVisible();
  for (const state of ['draft', 'review', 'done']) await expect(diagram.locator(`[data-state="${state}"]`)).toBeVisible();
  await expect(diagram.locator('[data-edge="draft->review"]')).toContainText('submit');
  await expect(diagram.locator('[data-edge="review->done"]').first()).toBeVisible();
  await expect(diagram.locator('[data-state="review"]')).toContainText('timer 21d → approve');
  await expect(page.getByTestId('workflow-versions')).toContainText('1 (latest)');

  const published = await api.ok('GET', `/api/v1/workflows/${type}`, { token: await api.token('admin') });
  expect(published.version).toBe(1);
  expect(published.source).toBe(fixed);
});
