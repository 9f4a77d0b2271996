/* The accessibility scan of a page: axe-core with the WCAG 2.0/2.1 A and AA
 * rules. Serious and critical violations fail the test; each is printed as
 * rule, impact, help text, the page's elements (their selector and the
 * failure summary) and the rule's help URL, so a CI log says what to mend. */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const FAILING = new Set(['serious', 'critical']);

type Violation = Awaited<ReturnType<AxeBuilder['analyze']>>['violations'][number];

export function describeViolations(violations: Violation[]): string {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 8)
        .map((n) => `    - ${n.target.join(' ')}\n      ${(n.failureSummary || '').replace(/\n/g, '\n      ')}`)
        .join('\n');
      const more = v.nodes.length > 8 ? `\n    … and ${v.nodes.length - 8} more elements` : '';
      return `  [${v.impact}] ${v.id}: ${v.help}\n${nodes}${more}\n    ${v.helpUrl}`;
    })
    .join('\n');
}

/* Scans the page as it is now; `label` names it in the report. Minor and
 * moderate findings are attached to the test report, not failed on. */
export async function scan(page: Page, label: string, exclude: string[] = []): Promise<void> {
  let builder = new AxeBuilder({ page }).withTags(WCAG_TAGS);
  for (const sel of exclude) builder = builder.exclude(sel);
  const result = await builder.analyze();
  const failing = result.violations.filter((v) => FAILING.has(v.impact || ''));
  const other = result.violations.filter((v) => !FAILING.has(v.impact || ''));
  if (other.length)
    await test.info().attach(`axe ${label} (minor/moderate)`, {
      body: describeViolations(other),
      contentType: 'text/plain',
    });
  expect(
    failing.length,
    `${label}: ${failing.length} serious/critical accessibility violation(s) (WCAG 2.1 A/AA):\n${describeViolations(failing)}`,
  ).toBe(0);
}
