import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The dev server proxies the API (and its WebSocket) to a running
// `serviceflow serve`; SF_API names it (default http://127.0.0.1:8080).
const api = process.env.SF_API || "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: api, ws: true, changeOrigin: false },
    },
  },
  build: {
    target: "es2020",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
});
