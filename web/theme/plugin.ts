// The theme's CSS variables and Mantine's global classes, written at build time
// (docs/web.md, "Performance"): a Vite plugin that serves them as the module
// `virtual:theme.css`, which src/main.tsx imports after Mantine's stylesheet.
//
// MantineProvider makes both at run time, in each of its renders: it resolves
// every variable of the theme (14 colours x 10 shades and their variants, in
// two schemes), turns them into 24 KB of CSS and puts that in a <style>; the
// browser then parses it and recomputes the whole page's style in the first
// commit. A 4x profile of the request detail counted a fifth of the first
// screen's script time there. The theme is static (src/app/theme.ts), so the
// same CSS is made here once, with Mantine's own functions, and App.tsx tells
// the provider to make neither (withCssVariables, withGlobalClasses).
//
// As the provider does with `deduplicateCssVariables`, the variables equal to
// those of Mantine's default theme are left out: Mantine's stylesheet
// (default-css-variables.css) already declares them.
import {
  DEFAULT_THEME,
  convertCssVariables,
  defaultCssVariablesResolver,
  em,
  mergeMantineTheme,
  px,
  type ConvertCSSVariablesInput,
  type MantineTheme,
} from "@mantine/core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import postcss from "postcss";
import type { Plugin, Rollup } from "vite";
import { MANTINE_CLASS, usedMantineClasses } from "../chunks/plugin";
import { cssVariables, theme } from "../src/app/theme";

/** A stylesheet module, `import "virtual:<name>.css"`, whose text `make` gives (its resolved id
 * ends in .css, so that Vite's CSS pipeline takes it into the stylesheet). */
function virtualCss(name: string, make: (this: Rollup.PluginContext) => string): Plugin {
  const id = `virtual:${name}.css`;
  const resolved = `\0virtual-${name}.css`;
  return {
    name: `sf-${name}-css`,
    resolveId: (source) => (source === id ? resolved : undefined),
    load(source) {
      return source === resolved ? make.call(this) : undefined;
    },
  };
}

/** The provider's variables (MantineCssVariables): the theme's, then the resolver's over them. */
function variables(merged: MantineTheme): ConvertCSSVariablesInput {
  const base = defaultCssVariablesResolver(merged);
  const own = cssVariables(merged);
  return {
    variables: { ...base.variables, ...own.variables },
    light: { ...base.light, ...own.light },
    dark: { ...base.dark, ...own.dark },
  };
}

// The default theme's variables, resolved before any merge: mergeMantineTheme writes the theme's
// font into DEFAULT_THEME.headings (an object the merge shares), after which the headings' font
// would look like a default and be left out. Mantine resolves them when its module loads, too.
const DEFAULTS = defaultCssVariablesResolver(DEFAULT_THEME);

/** Only what differs from the default theme's (MantineCssVariables' removeDefaultVariables). */
function withoutDefaults(input: ConvertCSSVariablesInput): ConvertCSSVariablesInput {
  const differ = (mine: Record<string, string>, theirs: Record<string, string>) =>
    Object.fromEntries(Object.entries(mine).filter(([k, v]) => theirs[k] !== v));
  return {
    variables: differ(input.variables, DEFAULTS.variables),
    light: differ(input.light, DEFAULTS.light),
    dark: differ(input.dark, DEFAULTS.dark),
  };
}

/** The provider's global classes (MantineClasses): hiddenFrom / visibleFrom per breakpoint. */
function breakpointClasses(merged: MantineTheme): string {
  return Object.entries(merged.breakpoints)
    .map(([bp, value]) => {
      const isPx = value.includes("px");
      const n = px(value) as number;
      const max = isPx ? `${n - 0.1}px` : em(n - 0.1);
      const min = isPx ? `${n}px` : em(n);
      return (
        `@media (max-width: ${max}) {.mantine-visible-from-${bp} {display: none !important;}}\n` +
        `@media (min-width: ${min}) {.mantine-hidden-from-${bp} {display: none !important;}}\n`
      );
    })
    .join("");
}

export function themeCss(): Plugin {
  return virtualCss("theme", () => {
    const merged = mergeMantineTheme(DEFAULT_THEME, theme);
    return (
      "/* src/app/theme.ts, made by theme/plugin.ts */\n" +
      convertCssVariables(withoutDefaults(variables(merged)), ":root") +
      "\n" +
      breakpointClasses(merged)
    );
  });
}

// Mantine's stylesheet, less the rules of components the app does not use: the module
// `virtual:mantine.css`, which src/main.tsx imports in place of @mantine/core/styles.css.
// The stylesheet holds every component's rules (201 KB; Lighthouse counted 18-20 of its 24 KB
// brotli unused on each measured page), and it blocks the first paint and shares the link with
// the first load's scripts. A component's rules select its classes (`m_` and eight hex
// digits), which its code names: a rule is kept when each class it names is named by the built
// code (chunks/plugin.ts, usedMantineClasses, from the probe build: every chunk, lazy ones
// too); a rule that names none (variables, the reset, `mantine-*` helpers) is kept. A class no
// code names is on no element, so no rule that needs it can match. The file's name is hashed
// from what is kept, as it is made here, before Rollup names the stylesheet.
function prune(css: string, used: Set<string>): string {
  const root = postcss.parse(css);
  root.walkRules((rule) => {
    // a rule inside @keyframes selects no element (0%, to): kept
    if (rule.parent?.type === "atrule" && /keyframes$/i.test((rule.parent as postcss.AtRule).name)) return;
    // a class inside :not() is not needed for the rule to match: only the others count
    const kept = rule.selectors.filter((sel) =>
      [...sel.replace(/:not\([^()]*\)/g, "").matchAll(MANTINE_CLASS)].every((m) => used.has(m[0])),
    );
    if (kept.length === 0) rule.remove();
    else if (kept.length < rule.selectors.length) rule.selectors = kept;
  });
  // at-rules left empty (a @media of removed rules), and the animations of removed components
  root.walkAtRules((at) => {
    if (at.nodes && at.nodes.length === 0) at.remove();
  });
  const values: string[] = [];
  root.walkDecls((d) => void values.push(d.value));
  const referenced = new Set(values.join(" ").match(MANTINE_CLASS) ?? []);
  root.walkAtRules(/keyframes$/i, (at) => {
    if (/^m_[0-9a-f]{8}$/.test(at.params) && !referenced.has(at.params)) at.remove();
  });
  return root.toString();
}

export function mantineCss(): Plugin {
  const require = createRequire(import.meta.url);
  return virtualCss("mantine", function () {
    const file = require.resolve("@mantine/core/styles.css");
    this.addWatchFile(file);
    const css = readFileSync(file, "utf8");
    const used = usedMantineClasses();
    return used ? prune(css, used) : css; // the dev server and the probe: all of it
  });
}
