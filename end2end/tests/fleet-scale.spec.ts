import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, request as playwrightRequest, test, type APIRequestContext } from "@playwright/test";
import { waitForHydration, watchErrors } from "./helpers";

// The fleet page at 500 nodes / 4,000 GPUs: a second migboard with its own embedded fleet, every
// node a real agent (one `serve-many` process for all of them), started by this test. The shared
// server of the other specs is not touched.

const PORT = Number(process.env.MIGBOARD_E2E_PORT ?? 3900) + 50;
const BASE = `http://127.0.0.1:${PORT}`;
const PASSWORD = "scale-admin-password";
const SERVER = process.env.MIGBOARD_E2E_SERVER ?? "../target/release/migboard";

/** Five pools of 100 nodes: four of BM.GPU.H100.8 on different configs, one of BM.GPU4.8 (A100). */
function fleetFile(): string {
  const pools = [
    ["h100-balanced", "BM.GPU.H100.8", "all-balanced"],
    ["h100-small", "BM.GPU.H100.8", "all-1g.10gb"],
    ["h100-large", "BM.GPU.H100.8", "all-3g.40gb"],
    ["h100-mixed", "BM.GPU.H100.8", "all-2g.20gb"],
    ["a100-pool", "BM.GPU4.8", "all-1g.5gb"],
  ];
  return pools
    .map(([name, shape, config], p) => {
      const nodes = Array.from({ length: 100 }, (_, k) => `"10.${p}.${Math.floor(k / 50)}.${10 + (k % 50)}"`);
      return `[[pools]]\nname = "${name}"\nshape = "${shape}"\nmig_config = "${config}"\nnodes = [${nodes.join(", ")}]\n`;
    })
    .join("\n");
}

let server: ChildProcess | undefined;
let dir = "";

async function start(): Promise<void> {
  server = spawn(SERVER, [], {
    env: {
      ...process.env,
      MIGBOARD_ADDR: `127.0.0.1:${PORT}`,
      MIGBOARD_DATA_DIR: join(dir, "data"),
      MIGBOARD_FLEET_FILE: join(dir, "fleet.toml"),
      LEPTOS_SITE_ROOT: "../target/site",
      MIGBOARD_ADMIN_PASSWORD: PASSWORD,
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await expect
    .poll(async () => fetch(`${BASE}/readyz`).then((r) => r.status, () => 0), { timeout: 120_000, intervals: [500] })
    .toBe(200);
}

async function stop(): Promise<void> {
  if (!server) return;
  const exited = new Promise((resolve) => server!.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
  server = undefined;
}

async function api(): Promise<APIRequestContext> {
  const login = await fetch(`${BASE}/api/v1/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "admin", password: PASSWORD }),
  });
  expect(login.status).toBe(201);
  const { token } = await login.json();
  return playwrightRequest.newContext({ baseURL: BASE, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
}

async function waitDone(api: APIRequestContext, id: number, timeout = 120_000) {
  await expect
    .poll(async () => (await (await api.get(`/api/v1/deployments/${id}`)).json()).deployment.status, { timeout, intervals: [500] })
    .toMatch(/completed|active|monitoring/);
}

test.describe.configure({ timeout: 420_000 });

test.beforeAll(async () => {
  test.setTimeout(420_000);
  dir = mkdtempSync(join(tmpdir(), "migboard-scale-"));
  writeFileSync(join(dir, "fleet.toml"), fleetFile());
  await start();
  // Record h100-small's config as migboard's own (an update to the config it already has changes
  // nothing and records it), then change 7 of its nodes "by hand": their simulated GPUs replaced,
  // server stopped, by those of an all-balanced node. Started again, the fleet finds them drifted.
  let a = await api();
  const update = { recipe_mode: "update", deployment_name: "record-h100-small", recipe_node_pool_name: "h100-small", shared_node_pool_mig_config: "all-1g.10gb" };
  const made = await a.post("/api/v1/deployments?max_unavailable=100", { data: update });
  expect(made.status(), await made.text()).toBe(201);
  await waitDone(a, (await made.json()).id);
  await a.dispose();
  await stop();
  for (let k = 0; k < 7; k++) {
    copyFileSync(join(dir, "data", "nodes", "10.0.0.10.json"), join(dir, "data", "nodes", `10.1.0.${10 + k}.json`));
  }
  await start();
  // One inference replica: a busy slice somewhere.
  a = await api();
  const service = JSON.parse(readFileSync("../mig/data/oci-blueprints/mig_inference_single_replica_10gb.json", "utf8"));
  service.deployment_name = "scale-chat";
  delete service.recipe_pod_autoscaling_params;
  const svc = await a.post("/api/v1/deployments", { data: service });
  expect(svc.status(), await svc.text()).toBe(201);
  await expect
    .poll(async () => (await (await a.get("/api/v1/fleet/summary")).json()).busy, { timeout: 60_000 })
    .toBeGreaterThan(0);
  await a.dispose();
});

test.afterAll(async () => {
  await stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the fleet page at 500 nodes: pools in counts, one page of nodes, filters in the address (#21)", async ({ browser }) => {
  // A context of its own: the shared server's session cookie is for another server.
  const context = await browser.newContext({ storageState: undefined, baseURL: BASE });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto("/login");
  await page.locator("#username").fill("admin");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#sign-in").click();
  await expect(page.locator("#who")).toContainText("admin");

  // The page ships counts and 20 nodes, not the fleet: no node of page 2 is in the HTML.
  const html = await (await context.request.get("/")).text();
  expect(html.length).toBeLessThan(400_000);
  expect(html).not.toContain("10.0.1.35");
  await page.goto("/");
  await waitForHydration(page);
  await expect(page.locator("#fleet-summary")).toHaveText("5 pools · 500 nodes · 4000 GPUs");
  await expect(page.locator(".pool-use")).toHaveCount(5);
  await expect(page.locator('.pool-use[data-pool="h100-small"] .flag-drifted')).toHaveText("7 drifted");
  await expect(page.locator("#nodes-count")).toHaveText("Nodes 1–20 of 500");
  await expect(page.locator(".fleet-node")).toHaveCount(20);
  await expect(page.locator("#page-info")).toHaveText("Page 1 of 25");
  await page.screenshot({ path: "test-results/screenshots/fleet-500-overview.png" });

  // Paging: the next page is another 20 nodes, and its own address.
  await page.locator("#page-next").click();
  await expect(page).toHaveURL(/\?page=2$/);
  await expect(page.locator("#page-info")).toHaveText("Page 2 of 25");
  await expect(page.locator('.fleet-node[data-node="10.0.0.40"]')).toBeVisible();

  // A pool: 100 nodes, 5 pages, page 1 again.
  await page.locator("#filter-pool").selectOption("a100-pool");
  await expect(page).toHaveURL(/\?pool=a100-pool$/);
  await expect(page.locator("#nodes-count")).toHaveText("Nodes 1–20 of 100 matching (500 in the fleet)");
  await expect(page.locator(".fleet-pool")).toHaveCount(1);
  await expect(page.locator('.fleet-node .fleet-config').first()).toHaveText("all-1g.5gb");

  // GPU model and config: the A100s are the A100 pool; all-3g.40gb is one H100 pool.
  await page.locator("#filter-pool").selectOption("");
  await page.locator("#filter-model").selectOption("a100-40gb");
  await expect(page.locator("#nodes-count")).toContainText("of 100 matching");
  await page.locator("#filter-model").selectOption("");
  await page.locator("#filter-config").selectOption("all-3g.40gb");
  await expect(page.locator("#nodes-count")).toContainText("of 100 matching");
  await expect(page.locator('.fleet-pool[data-pool="h100-large"]')).toBeVisible();
  await page.locator("#filter-config").selectOption("");

  // Drifted: the 7 changed by hand, each saying what it has against what its config wants.
  await page.locator("#filter-drifted").check();
  await expect(page).toHaveURL(/\?drifted=1$/);
  await expect(page.locator("#nodes-count")).toHaveText("Nodes 1–7 of 7 matching (500 in the fleet)");
  await expect(page.locator(".fleet-node .banner.drifted")).toHaveCount(7);
  await expect(page.locator("#fleet-pager")).toHaveCount(0);
  await page.screenshot({ path: "test-results/screenshots/fleet-500-drifted.png", fullPage: true });
  await page.locator("#filter-drifted").uncheck();

  // Busy: the node running the replica, its slice named.
  await page.locator("#filter-busy").check();
  await expect(page.locator("#nodes-count")).toContainText("of 1 matching");
  await expect(page.locator(".fleet-inst.busy .inst-owner")).toContainText("scale-chat replica");
  await page.locator("#filter-busy").uncheck();

  // Search by name, as typed; the focus stays in the box.
  await page.locator("#filter-search").fill("10.3.1.5");
  await expect(page).toHaveURL(/q=10\.3\.1\.5/);
  await expect(page.locator("#nodes-count")).toContainText("of 10 matching");
  await expect(page.locator("#filter-search")).toBeFocused();
  await page.screenshot({ path: "test-results/screenshots/fleet-500-search.png" });

  // A filtered address opens as it was left: the link is the view.
  await page.goto("/?pool=h100-small&drifted=1");
  await waitForHydration(page);
  await expect(page.locator("#filter-pool")).toHaveValue("h100-small");
  await expect(page.locator("#filter-drifted")).toBeChecked();
  await expect(page.locator("#nodes-count")).toContainText("of 7 matching");
  await page.locator("#filter-clear").click();
  await expect(page.locator("#nodes-count")).toHaveText("Nodes 1–20 of 500");
  // Nothing matches: said so, with the way back.
  await page.goto("/?q=no-such-node");
  await expect(page.locator("#nodes-count")).toHaveText("No node matches these filters");
  await expect(page.locator("#clear-filters-link")).toBeVisible();
  expect(errors).toEqual([]);
  await context.close();
});
