import { defineConfig } from "vitest/config";

// Browser tests: the real back-end (default model) and the built page, driven through Debian's
// Chromium by playwright-core. See e2e/README.md.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    globalSetup: ["./e2e/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
