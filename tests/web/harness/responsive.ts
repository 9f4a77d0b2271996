/* "Responsive to 360 px wide" (issue 14, Quality), as a check: at a phone's
 * width the page must not scroll sideways. A wide table may scroll inside
 * its own box (overflow-x: auto); the page itself may not. On failure the
 * message names the elements that stick out past the right edge (outside
 * any box that scrolls or clips them), so the fix is findable. */
import { expect, type Page } from '@playwright/test';

export const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

export async function expectNoSidewaysScroll(page: Page, label: string): Promise<void> {
  const r = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const clipped = (el: Element): boolean => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return true;
      }
      return false;
    };
    const name = (el: Element) => {
      const id = el.id ? `#${el.id}` : '';
      const testid = el.getAttribute('data-testid') ? `[data-testid=${el.getAttribute('data-testid')}]` : '';
      const text = ((el as HTMLElement).innerText || '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `<${el.tagName.toLowerCase()}${id}${testid}> "${text}"`;
    };
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1 && !clipped(el))
      .slice(0, 6)
      .map((el) => `${name(el)} reaches ${Math.round(el.getBoundingClientRect().right)} px`);
    return { width, scrollWidth: document.documentElement.scrollWidth, wide };
  });
  expect(
    r.scrollWidth,
    `${label}: the page is ${r.scrollWidth} px wide on a ${r.width} px screen (it scrolls sideways):\n  ` +
      r.wide.join('\n  '),
  ).toBeLessThanOrEqual(r.width);
}
