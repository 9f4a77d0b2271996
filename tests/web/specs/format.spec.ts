/* Money is written by the app itself (web/src/ui/format.ts), not by Intl.NumberFormat, whose
 * first use on a page loads ICU's locale data in the middle of the first screen's draw. It must
 * read as Chromium's Intl writes it in English: the same symbols, grouping, sign and spacing,
 * for every amount. The minor units are ISO 4217's, which differ from CLDR's for a few
 * currencies (a stored HUF amount has two decimals, an IQD amount three): those are checked
 * against the standard's own figures. And a first screen with prices (the storefront) builds
 * no Intl number formatter at all. */
import { test, expect } from '../harness/fixtures';
import { fractionDigits, money } from '../../../web/src/ui/format';

const AMOUNTS = [0, 1, 5, 99, 100, 1234, 100000, 123456, 1234567, 99999999, 123456789012, -1, -250, -123456789];
// where ISO 4217 and CLDR agree on the minor unit, Intl's English output is the reference
const SAME = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'JPY', 'KRW', 'KWD', 'BHD', 'XOF', 'XAF', 'XPF', 'BRL', 'INR', 'CNY', 'AUD', 'CAD', 'NZD', 'PLN', 'ZAR', 'ABC'];

test('money reads as Intl writes it in English, in ISO 4217 minor units', async ({ page }) => {
  const reference = await page.evaluate(
    ({ currencies, amounts }) =>
      currencies.map((c) => {
        const f = new Intl.NumberFormat('en', { style: 'currency', currency: c });
        const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
        return { c, digits, out: amounts.map((m) => f.format(m / 10 ** digits)) };
      }),
    { currencies: SAME, amounts: AMOUNTS },
  );
  for (const { c, digits, out } of reference) {
    expect(fractionDigits(c), `${c}'s minor unit`).toBe(digits);
    expect(AMOUNTS.map((m) => money(m, c)), c).toEqual(out);
  }
  // the standard's minor units where CLDR writes fewer (or more) digits
  expect([fractionDigits('HUF'), fractionDigits('IDR'), fractionDigits('IQD'), fractionDigits('CLF'), fractionDigits('ISK')]).toEqual([2, 2, 3, 4, 0]);
  expect(money(123456, 'HUF')).toBe('HUF\u00a01,234.56');
  expect(money(1234, 'IQD')).toBe('IQD\u00a01.234');
  expect(money(-5, 'CLF')).toBe('-CLF\u00a00.0005');
  expect(money(1234, 'ISK')).toBe('ISK\u00a01,234');
  // no currency: the shop's default; no amount: a dash
  expect(money(1250, null)).toBe('€12.50');
  expect(money(Number.NaN, 'EUR')).toBe('—');
});

test('the storefront draws its prices without building an Intl number formatter', async ({ page }) => {
  await page.addInitScript(() => {
    const Real = Intl.NumberFormat;
    (window as any).__sfIntlNumberFormats = 0;
    const Counted = function (this: unknown, ...args: ConstructorParameters<typeof Intl.NumberFormat>) {
      (window as any).__sfIntlNumberFormats++;
      return new Real(...args);
    } as unknown as typeof Intl.NumberFormat;
    Object.assign(Counted, Real);
    Counted.prototype = Real.prototype;
    Intl.NumberFormat = Counted;
    const toLocale = Number.prototype.toLocaleString;
    Number.prototype.toLocaleString = function (this: number, ...args: Parameters<typeof toLocale>) {
      (window as any).__sfIntlNumberFormats++;
      return toLocale.apply(this, args);
    };
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByText(/€\d/).first()).toBeVisible();
  expect(await page.evaluate(() => (window as any).__sfIntlNumberFormats)).toBe(0);
});
