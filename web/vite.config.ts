import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { pwa } from "./pwa/plugin";

// The dev server proxies the API (and its WebSocket) to a running
// `serviceflow serve`; SF_API names it (default http://127.0.0.1:8080).
const api = process.env.SF_API || "http://127.0.0.1:8080";

// Vendor chunks (docs/web.md, "Performance"): the libraries change far less
// often than the app, so a new build leaves them cached (long-lived hashed
// names); they download in parallel with the app's own chunk.
const VENDORS: Array<[string, RegExp]> = [
  ["react", /\/node_modules\/(react|react-dom|scheduler)\//],
  ["router", /\/node_modules\/(react-router|react-router-dom|@remix-run\/router)\//],
  ["query", /\/node_modules\/@tanstack\//],
];

export default defineConfig({
  plugins: [react(), pwa()],
  server: {
    proxy: {
      "/api": { target: api, ws: true, changeOrigin: false },
    },
  },
  build: {
    target: "es2020",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    // .vite/manifest.json: the chunks and what each imports (pwa/plugin.ts
    // precaches them; tests/web/harness/initial-js.ts sums the first load)
    manifest: true,
    rollupOptions: {
      output: {
        manualChunks(id) {
          for (const [name, re] of VENDORS) if (re.test(id)) return name;
          return undefined;
        },
      },
    },
  },
});
