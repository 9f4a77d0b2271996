import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { chunks, sessionFirst } from "./chunks/plugin";
import { pwa } from "./pwa/plugin";
import { mantineCss, themeCss } from "./theme/plugin";

// The dev server proxies the API (and its WebSocket) to a running
// `serviceflow serve`; SF_API names it (default http://127.0.0.1:8080).
const api = process.env.SF_API || "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), mantineCss(), themeCss(), chunks(), sessionFirst("src/api/sessionStart.ts"), pwa()],
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
    // the chunks: chunks/plugin.ts
  },
});
