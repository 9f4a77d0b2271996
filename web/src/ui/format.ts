// Money is an integer in minor units with an ISO 4217 currency (docs/commerce.md).
//
// The Intl formatters are made once (per currency) and kept: building one
// loads locale data (tens of ms at Lighthouse's 4x slowdown), and a
// screen formats dozens of prices and dates while it is drawn (each
// `toLocaleString()` builds a new formatter too).
const digitsCache = new Map<string, number>();
const moneyFormats = new Map<string, Intl.NumberFormat>();

/** The currency's minor unit (ISO 4217, from CLDR: the same in every locale),
 * read off the formatter its amounts are written with (2 for an unknown code). */
export function fractionDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    try {
      d = moneyFormat(currency).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      d = 2;
    }
    digitsCache.set(currency, d);
  }
  return d;
}

function moneyFormat(currency: string): Intl.NumberFormat {
  let f = moneyFormats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { style: "currency", currency }); // throws on an unknown code
    moneyFormats.set(currency, f);
  }
  return f;
}

export function money(minor: number, currency: string | null | undefined): string {
  const cur = currency || "EUR";
  const value = minor / 10 ** fractionDigits(cur);
  try {
    return moneyFormat(cur).format(value);
  } catch {
    return `${value.toFixed(2)} ${cur}`;
  }
}

// Dates are written out here, not by Intl.DateTimeFormat: the first such
// formatter of a page loads the locale's date patterns, 200 ms of a slow
// phone's main thread (Chromium at 4x slowdown), before the screen can
// answer (docs/web.md, "Performance"). Local time, day month year: one
// reading in every country, "7 Dec 2026, 14:05:09".
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => (n < 10 ? "0" + n : String(n));

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return (
    `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}, ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}
