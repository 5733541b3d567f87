import base from "./playwright.config";
import { defineConfig } from "@playwright/test";

// Browser benchmarks (not tests): `make bench-e2e`. Results are printed and written to
// test-results/bench/*.json; BENCHMARKS.md records them.
export default defineConfig({ ...base, testDir: "./bench", timeout: 120_000 });
