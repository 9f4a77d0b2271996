/* The theme's CSS variables and Mantine's global classes come from the stylesheet made at
 * build time (web/theme/plugin.ts), not from a <style> the provider writes in each render:
 * no such element is in the document, and the theme still applies: the primary colour's
 * shade 8 (white text above 4.5:1), the darker "dimmed" grey and the "light" variants' text
 * of src/app/theme.ts, the light scheme, and the hiddenFrom/visibleFrom classes per
 * breakpoint, on a phone and on a desktop. And Mantine's stylesheet is cut to the components
 * the app uses: every Mantine class the built code names keeps its rules, and no rule names
 * a class that no code names. */
import fs from 'node:fs';
import path from 'node:path';
import { test, expect } from '../harness/fixtures';
import { REPO, WEB_ROOT } from '../harness/server';

const classesIn = (text: string) => new Set(text.match(/\bm_[0-9a-f]{8}\b/g) ?? []);
// in a stylesheet, the classes its selectors name (not the names of its @keyframes)
const selectorClassesIn = (css: string) => new Set([...css.matchAll(/\.(m_[0-9a-f]{8})\b/g)].map((m) => m[1]!));

test("the stylesheet keeps the rules of every Mantine class the app's code names, and only those", () => {
  const html = fs.readFileSync(path.join(WEB_ROOT, 'index.html'), 'utf8');
  const sheets = [...html.matchAll(/<link rel="stylesheet"[^>]* href="\/([^"]+\.css)"/g)].map((m) => m[1]!);
  expect(sheets.length, 'index.html links its stylesheet').toBeGreaterThan(0);
  const css = sheets.map((f) => fs.readFileSync(path.join(WEB_ROOT, f), 'utf8')).join('\n');
  const assets = path.join(WEB_ROOT, 'assets');
  const code = fs.readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(assets, f), 'utf8')).join('\n');
  const mantine = fs.readFileSync(path.join(REPO, 'web', 'node_modules', '@mantine', 'core', 'styles.css'), 'utf8');
  const named = classesIn(code);
  const all = selectorClassesIn(mantine);
  const kept = selectorClassesIn(css);
  const missing = [...named].filter((c) => all.has(c) && !kept.has(c));
  expect(missing, "classes the code names whose rules are not in the stylesheet").toEqual([]);
  const unused = [...kept].filter((c) => !named.has(c));
  expect(unused, 'classes in the stylesheet that no code names').toEqual([]);
  expect(kept.size).toBeLessThan(all.size);
});

async function rootColor(page: import('@playwright/test').Page, variable: string): Promise<string> {
  // a custom property's computed value keeps var() unresolved in some engines: resolve it through a colour
  return page.evaluate((v) => {
    const probe = document.createElement('span');
    probe.style.color = `var(${v})`;
    document.body.append(probe);
    const c = getComputedStyle(probe).color;
    probe.remove();
    return c;
  }, variable);
}

async function display(page: import('@playwright/test').Page, cls: string): Promise<string> {
  return page.evaluate((c) => {
    const probe = document.createElement('div');
    probe.className = c;
    document.body.append(probe);
    const d = getComputedStyle(probe).display;
    probe.remove();
    return d;
  }, cls);
}

test('the theme is a stylesheet made at build time, and applies', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  // the provider's: the variables (data-mantine-styles="true") and the classes ("classes");
  // components with responsive props still write their own ("inline")
  expect(await page.locator('style[data-mantine-styles="true"], style[data-mantine-styles="classes"]').count(), 'styles written by MantineProvider').toBe(0);
  expect(await page.evaluate(() => document.documentElement.dataset.mantineColorScheme)).toBe('light');
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--mantine-color-scheme').trim())).toBe('light');
  // primaryShade light 8: blue-8
  expect(await rootColor(page, '--mantine-primary-color-filled')).toBe('rgb(25, 113, 194)');
  expect(await rootColor(page, '--mantine-color-blue-filled')).toBe('rgb(25, 113, 194)');
  // the resolver of theme.ts: dimmed is gray-7, the light variants' text shade 9, errors red-9
  expect(await rootColor(page, '--mantine-color-dimmed')).toBe('rgb(73, 80, 87)');
  expect(await rootColor(page, '--mantine-color-teal-light-color')).toBe('rgb(8, 127, 91)');
  expect(await rootColor(page, '--mantine-color-error')).toBe('rgb(201, 42, 42)');
  // theme.ts's font, for the text and the headings (an <h1> is a Mantine Title)
  const css = (v: string) => page.evaluate((x) => getComputedStyle(document.documentElement).getPropertyValue(x).trim(), v);
  const font = await css('--mantine-font-family');
  expect(font).toMatch(/^system-ui, -apple-system, ["']Segoe UI["'], Roboto, sans-serif$/);
  expect(await css('--mantine-font-family-headings')).toBe(font);
  expect(await page.getByRole('heading', { level: 1 }).evaluate((el) => getComputedStyle(el).fontFamily)).toBe(
    await page.locator('body').evaluate((el) => getComputedStyle(el).fontFamily),
  );
  // and the components are drawn in it: the header's cart link is a "subtle" button, in the
  // light variant's text colour (blue-9)
  const cart = page.getByTestId('cart-button');
  await expect(cart).toBeVisible();
  expect(await cart.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(24, 100, 171)');
  // the global classes, per breakpoint (sm = 48em = 768 px)
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(await display(page, 'mantine-hidden-from-sm')).toBe('none');
  expect(await display(page, 'mantine-visible-from-sm')).toBe('block');
  await page.setViewportSize({ width: 390, height: 800 });
  expect(await display(page, 'mantine-hidden-from-sm')).toBe('block');
  expect(await display(page, 'mantine-visible-from-sm')).toBe('none');
});
