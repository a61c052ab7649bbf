/// <reference types="vitest/config" />
import path from "node:path";
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type ProxyOptions } from "vite";

// The page calls the API at /api (same origin, as behind nginx). In development and `vite preview`
// that path is proxied to the back-end, with the /api prefix removed: the API itself keeps the seed's paths.
const apiTarget = process.env.MMER_API_URL ?? "http://localhost:8000";
const proxy: Record<string, ProxyOptions> = {
  "/api": {
    target: apiTarget,
    changeOrigin: true,
    rewrite: (p) => p.replace(/^\/api/, ""),
    // As nginx does: the API then links its /docs to /api/openapi.json.
    headers: { "X-Forwarded-Prefix": "/api" },
  },
};

export default defineConfig({
  plugins: [react(), tailwindcss()],
  resolve: {
    alias: { "@": path.resolve(import.meta.dirname, "src") },
  },
  server: { port: 5173, strictPort: true, proxy },
  preview: { port: 8080, strictPort: true, proxy },
  build: { outDir: "dist", sourcemap: true },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
