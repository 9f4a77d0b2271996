// first: the session starts before the other modules are evaluated; in a build
// api/sessionStart.ts is also an entry of its own, run before this one (chunks/plugin.ts)
import "./api/sessionStart";
import { StrictMode, startTransition } from "react";
import { createRoot } from "react-dom/client";
import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "./app/app.css";
import { App } from "./app/App";
import { registerServiceWorker } from "./app/serviceWorker";

// A transition: React renders the first screen in slices, yielding to the
// browser between them, instead of one long task (Lighthouse's total blocking
// time; bench/README.md). The static header of index.html stays until then.
const root = createRoot(document.getElementById("root")!);
startTransition(() =>
  root.render(
    <StrictMode>
      <App />
    </StrictMode>,
  ),
);
registerServiceWorker(); // after load, when idle: never in the first screen's way
