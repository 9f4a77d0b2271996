import { createTheme, type CSSVariablesResolver } from "@mantine/core";

// Shade 8 of blue keeps white button text above 4.5:1 (WCAG AA); the
// default "dimmed" grey is too light on white, so it is one shade darker.
export const theme = createTheme({
  primaryColor: "blue",
  primaryShade: { light: 8, dark: 4 },
  defaultRadius: "md",
  fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
});

export const cssVariables: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    "--mantine-color-dimmed": "var(--mantine-color-gray-7)",
    "--mantine-color-error": "var(--mantine-color-red-9)",
    // "light" variants (active nav link, light buttons and badges) put
    // shade 6 text on a tinted background: below 4.5:1. Shade 9 passes.
    ...Object.fromEntries(
      ["blue", "red", "teal", "orange", "yellow", "green", "gray"].map((c) => [
        `--mantine-color-${c}-light-color`,
        `var(--mantine-color-${c}-9)`,
      ]),
    ),
  },
  dark: { "--mantine-color-dimmed": "var(--mantine-color-dark-1)" },
});
