// Money is an integer in minor units with an ISO 4217 currency (docs/commerce.md).
//
// Amounts are written out here, not by Intl.NumberFormat: the first Intl
// formatter of a page loads ICU's locale data, 30-75 ms of the main thread at
// full speed (120-300 ms at Lighthouse's 4x slowdown) in the middle of the
// first screen's draw. Written as Chromium's Intl writes them in English
// ("€1,234.50", "-CHF 1,234.50", "¥1,235"), the way the app writes dates.

/** ISO 4217 minor units other than 2 (the standard's own list: a stored amount
 * is in these units, so the point goes where the standard puts it). */
const MINOR_DIGITS: Record<string, number> = {
  ...Object.fromEntries(
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"].map((c) => [c, 0]),
  ),
  ...Object.fromEntries(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"].map((c) => [c, 3])),
  CLF: 4,
  UYW: 4,
};

/** The English symbols (CLDR's, as Intl writes them for "en"); any other currency is written by its code. */
const SYMBOLS: Record<string, string> = {
  AUD: "A$", BRL: "R$", CAD: "CA$", CNY: "CN¥", EUR: "€", GBP: "£", HKD: "HK$", ILS: "₪", INR: "₹",
  JPY: "¥", KRW: "₩", MXN: "MX$", NZD: "NZ$", PHP: "₱", TWD: "NT$", USD: "$", VND: "₫", XAF: "FCFA",
  XCD: "EC$", XOF: "F\u202fCFA", XPF: "CFPF",
};

/** The currency's minor unit: ISO 4217's (2 for a code it does not list). */
export function fractionDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2;
}

/** "1,234,567" */
function grouped(whole: string): string {
  let out = "";
  for (let i = whole.length; i > 0; i -= 3) out = whole.slice(Math.max(0, i - 3), i) + (out ? "," + out : "");
  return out;
}

export function money(minor: number, currency: string | null | undefined): string {
  const cur = currency || "EUR";
  if (!Number.isFinite(minor)) return "—"; // no amount (Intl wrote "€NaN")
  const digits = fractionDigits(cur);
  const neg = minor < 0;
  // minor units are integers: the digits are cut from the integer, never rounded through a float
  const units = String(Math.abs(Math.round(minor))).padStart(digits + 1, "0");
  const whole = grouped(units.slice(0, units.length - digits));
  const amount = digits ? `${whole}.${units.slice(units.length - digits)}` : whole;
  const symbol = SYMBOLS[cur] ?? cur;
  // CLDR's currency spacing: a no-break space after a symbol that ends in a letter ("CHF 5.00")
  return (neg ? "-" : "") + symbol + (/\p{S}$/u.test(symbol) ? "" : "\u00a0") + amount;
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
