import { defineConfig } from "@playwright/test";

// The server started here serves the site built by `cargo leptos build --release`. MIGBOARD_E2E_SERVER
// names its binary: `make test` passes the test build's (target/debug/migboard), `make test-e2e` the
// release one (the default).
const port = Number(process.env.MIGBOARD_E2E_PORT ?? 3900);
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  // Every test runs signed in as admin (saved by the setup project); a test that needs a stranger
  // opens a fresh context or signs in itself.
  projects: [
    { name: "setup", testDir: "./setup", testMatch: /.*\.setup\.ts/ },
    { name: "chromium", dependencies: ["setup"], use: { storageState: ".auth/admin.json" } },
  ],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      // Debian's Chromium; Playwright's own browser download is never used (no network here).
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    // A fresh embedded fleet per run: its simulated nodes live in target/e2e-data.
    command: `rm -rf ../target/e2e-data && ${process.env.MIGBOARD_E2E_SERVER ?? "../target/release/migboard"}`,
    env: {
      MIGBOARD_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "../target/site",
      MIGBOARD_DATA_DIR: "../target/e2e-data",
      // The embed test serves a "portal" page on the next port; only it may frame migboard's
      // /embed views. Signed embed links name their own portals among these: one on another site
      // (localhost is not 127.0.0.1 to the browser), port + 3.
      MIGBOARD_FRAME_ANCESTORS: `http://127.0.0.1:${port + 1},http://localhost:${port + 3}`,
      RUST_LOG: "warn",
      // The first start's admin (see setup/auth.setup.ts).
      MIGBOARD_ADMIN_PASSWORD: process.env.MIGBOARD_E2E_ADMIN_PASSWORD ?? "e2e-admin-password",
    },
    // Readiness, not just an open port: /readyz is 200 only once the built bundle is found.
    url: `${baseURL}/readyz`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
