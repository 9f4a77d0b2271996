// first: the session starts before the other modules are evaluated; in a build
// api/sessionStart.ts is also an entry of its own, run before this one (chunks/plugin.ts)
import "./api/sessionStart";
import { StrictMode, startTransition } from "react";
import { createRoot } from "react-dom/client";
import "virtual:mantine.css"; // Mantine's stylesheet, the rules the app uses (theme/plugin.ts)
import "@mantine/notifications/styles.css";
import "virtual:theme.css"; // the theme's variables (theme/plugin.ts)
import "./app/app.css";
import { App } from "./app/App";
import { firstScreen } from "./app/routes";
import { sessionKnown } from "./api/session";
import { registerServiceWorker } from "./app/serviceWorker";

// The first render waits for the first screen's chunks, its first reads and
// the session (app/routes.tsx firstScreen, at most FIRST_DRAW_WAIT_MS; the
// static header of index.html stays until then) and then draws it whole, in
// one commit: nothing suspends (app/lazyPage.ts), so no "Loading" is drawn to
// be replaced. Drawing the shell first and the screen after cost two to four
// commits more, and React 18 holds a screen revealed after a Suspense fallback
// back by up to 500 ms (its fallback throttle): first page interactive went
// from medians of 1.21-1.57 s to 0.79-1.0 s on loopback (bench/README.md).
// A transition: React renders it in slices, yielding to the browser between
// them, instead of one long task (Lighthouse's total blocking time).
const FIRST_DRAW_WAIT_MS = 1500;
const root = createRoot(document.getElementById("root")!);
const waited = new Promise((resolve) => setTimeout(resolve, FIRST_DRAW_WAIT_MS));
const ready = Promise.all([firstScreen, sessionKnown()]).then(() => true);
void Promise.race([ready, waited.then(() => false)]).then((whole) => {
  // in a trace (and for tests/web/specs/first-draw.spec.ts): did the first draw wait it all out?
  performance.mark("sf-first-draw", { detail: { whole } });
  startTransition(() =>
    root.render(
      <StrictMode>
        <App />
      </StrictMode>,
    ),
  );
});
registerServiceWorker(); // after load, when idle: never in the first screen's way
