/* The service worker (docs/web.md, "Installable app"). Hand-written; the
 * build (pwa/plugin.ts) fills in VERSION (a hash of the build) and PRECACHE
 * (index.html, the manifest, the icons and every hashed asset of Vite's
 * manifest) and writes it as /sw.js, which the server sends with
 * Cache-Control: no-cache so a new build is seen on the next visit.
 *
 * - Precached files are served cache-first (hashed names never change).
 * - Navigations go to the network first; offline, the cached index.html
 *   (the app then shows what it can and says the server is unreachable).
 * - /api/ is never cached nor even looked at: the worker does not answer it.
 * - A new build installs beside the old one and waits; the page offers
 *   "a new version is available: reload", whose button sends skip-waiting.
 *   The new worker then drops the caches of older builds. */
const VERSION = "__SF_VERSION__";
const PRECACHE = __SF_PRECACHE__;
const CACHE = "sf-shell-" + VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("sf-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skip-waiting") self.skipWaiting();
  if (event.data && event.data.type === "version" && event.ports[0]) event.ports[0].postMessage(VERSION);
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (req.mode === "navigate") {
    event.respondWith(
      fetch(req).catch(() =>
        caches.open(CACHE).then((cache) => cache.match("/index.html")).then((r) => r || Response.error()),
      ),
    );
    return;
  }
  event.respondWith(
    caches
      .open(CACHE)
      .then((cache) => cache.match(req))
      .then((hit) => hit || fetch(req)),
  );
});
