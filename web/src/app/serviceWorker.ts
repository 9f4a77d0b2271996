// Registers the service worker (/sw.js, built from web/pwa/sw.js) once the
// page has loaded and the browser is idle, so it never competes with the
// first screen, and tells the app when a new build is installed and waiting
// ("a new version is available: reload").
interface SwState {
  waiting: ServiceWorker | null;
  listeners: Set<() => void>;
}

const sw: SwState = { waiting: null, listeners: new Set() };

function announce(worker: ServiceWorker): void {
  sw.waiting = worker;
  sw.listeners.forEach((fn) => fn());
}

/** The installed build waiting to take over (null: none). */
export function waitingWorker(): ServiceWorker | null {
  return sw.waiting;
}

export function subscribeWaitingWorker(fn: () => void): () => void {
  sw.listeners.add(fn);
  return () => sw.listeners.delete(fn);
}

/** Lets the waiting build take over, then reloads the page into it. */
export function activateUpdate(): void {
  const worker = sw.waiting;
  if (!worker) return;
  let reloaded = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (reloaded) return;
    reloaded = true;
    location.reload();
  });
  worker.postMessage({ type: "skip-waiting" });
}

function watch(reg: ServiceWorkerRegistration): void {
  // a worker that installs while another controls the page is a new build
  if (reg.waiting && navigator.serviceWorker.controller) announce(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const worker = reg.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) announce(worker);
    });
  });
  // a tab left open looks for a new build whenever it comes back into view
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") void reg.update().catch(() => {});
  });
}

export function registerServiceWorker(): void {
  if (import.meta.env.DEV || !("serviceWorker" in navigator)) return;
  const register = () =>
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(watch, (e) => console.warn("service worker", e));
  const idle = () =>
    "requestIdleCallback" in window ? requestIdleCallback(() => void register(), { timeout: 5000 }) : setTimeout(register, 1000);
  if (document.readyState === "complete") idle();
  else window.addEventListener("load", idle, { once: true });
}
