import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "./app/app.css";
import { startSession } from "./api/session";
import { App } from "./app/App";
import { registerServiceWorker } from "./app/serviceWorker";

startSession();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
registerServiceWorker(); // after load, when idle: never in the first screen's way
