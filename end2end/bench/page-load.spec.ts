import { expect, test } from "@playwright/test";
import { mkdirSync, writeFileSync } from "node:fs";

// How fast each page becomes interactive from a cold cache, and how many requests it makes (#22,
// "also measured"): a fresh browser context per load, the time from navigation start to the moment
// hydration finished (the shell's `#live-status` marker flips in an Effect, which runs only once
// the page's wasm is loaded and hydrated), on loopback and with 100 ms of added latency per request
// (Chrome DevTools network emulation). Targets: under 1 s on loopback, under 1.5 s at 100 ms.

const PAGES = ["/", "/plan", "/blueprints", "/deployments", "/fleet/nodes/10.0.10.11", "/settings"];
const RUNS = 3;

type Row = { page: string; latency_ms: number; tti_ms: number[]; requests: number; wasm_requests: number };

test("time to interactive and requests per page, cold cache, 0 and 100 ms latency", async ({ browser }) => {
  const rows: Row[] = [];
  for (const latency of [0, 100]) {
    for (const path of PAGES) {
      const row: Row = { page: path, latency_ms: latency, tti_ms: [], requests: 0, wasm_requests: 0 };
      for (let run = 0; run < RUNS; run++) {
        const context = await browser.newContext({ storageState: ".auth/admin.json" });
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.enable");
        await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
        await cdp.send("Network.emulateNetworkConditions", { offline: false, latency, downloadThroughput: -1, uploadThroughput: -1 });
        let requests = 0, wasm = 0;
        page.on("request", (r) => {
          requests++;
          // The main module, and the route's pack (`/pkg/pack?m=….wasm`) or, unpacked, each module.
          if (r.url().includes("/pkg/") && r.url().endsWith(".wasm")) wasm++;
        });
        await page.goto(path, { waitUntil: "commit" });
        await expect(page.locator("#live-status")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
        const tti = await page.evaluate(() => performance.now());
        row.tti_ms.push(Math.round(tti));
        row.requests = requests;
        row.wasm_requests = wasm;
        await context.close();
      }
      row.tti_ms.sort((a, b) => a - b);
      rows.push(row);
      console.log(`page-load ${JSON.stringify(row)}`);
    }
  }
  mkdirSync("test-results/bench", { recursive: true });
  writeFileSync("test-results/bench/page-load.json", JSON.stringify(rows, null, 2));
});
