import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { expect, test } from "@playwright/test";
import { waitForHydration } from "./helpers";

// Embedding: a portal on an allowed origin frames /embed/... views, which render without navigation
// chrome, follow live state and tell the portal their height; a portal on another origin is refused by
// the browser (CSP frame-ancestors). The allowed origin is the next port (playwright.config.ts).

const port = Number(process.env.MIGBOARD_E2E_PORT ?? 3900);
const migboard = `http://127.0.0.1:${port}`;

function portal(listenPort: number, src: string, origin = migboard): Promise<Server> {
  const html = `<!doctype html><title>portal</title>
<h1>Team portal</h1>
<iframe id="mb" src="${src}" style="width:640px;height:200px;border:1px solid #ccc"></iframe>
<script>
  window.heights = [];
  addEventListener("message", (e) => {
    if (e.origin === ${JSON.stringify(origin)} && e.data && e.data.type === "migboard:resize") {
      window.heights.push(e.data.height);
      document.getElementById("mb").style.height = e.data.height + "px";
    }
  });
</script>`;
  const server = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  return new Promise((resolve) => server.listen(listenPort, "127.0.0.1", () => resolve(server)));
}

test("an allowed portal frames a live deployment view that sizes itself; another origin is refused", async ({ page, request }) => {
  test.setTimeout(60_000);
  const update = { recipe_mode: "update", deployment_name: "embed-check", recipe_node_name: "10.0.20.11", shared_node_pool_mig_config: "all-1g.5gb" };
  const created = await request.post("/api/v1/deployments", { data: update });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id;

  const allowed = await portal(port + 1, `${migboard}/embed/deployments/${id}`);
  const other = await portal(port + 2, `${migboard}/embed/deployments/${id}`);
  try {
    await page.goto(`http://127.0.0.1:${port + 1}/`);
    const frame = page.frameLocator("#mb");
    await expect(frame.locator("#embed-deployment")).toHaveAttribute("data-status", "completed", { timeout: 20_000 });
    await expect(frame.locator(".node-progress")).toHaveAttribute("data-done", "8");
    await expect(frame.locator(".sidebar")).toHaveCount(0);
    // The view told the portal its height, and the portal used it.
    await expect.poll(() => page.evaluate(() => (window as unknown as { heights: number[] }).heights.length)).toBeGreaterThan(0);
    const height = await page.evaluate(() => (window as unknown as { heights: number[] }).heights.at(-1));
    expect(height).toBeGreaterThan(50);
    await expect(page.locator("#mb")).toHaveAttribute("style", new RegExp(`height: ${height}px`));
    await page.screenshot({ path: "test-results/screenshots/embed-portal.png" });

    // Another origin: the browser refuses to render migboard in its frame.
    const refused: string[] = [];
    page.on("console", (m) => refused.push(m.text()));
    await page.goto(`http://127.0.0.1:${port + 2}/`);
    await expect.poll(() => refused.some((t) => t.includes("frame-ancestors")), { timeout: 10_000 }).toBe(true);
    await expect(page.frameLocator("#mb").locator("#embed-deployment")).toHaveCount(0);
  } finally {
    allowed.close();
    other.close();
  }
});

test("the embedded fleet and node views render without chrome", async ({ page }) => {
  await page.goto("/embed/fleet");
  await expect(page.locator("main.embed")).toBeVisible();
  await expect(page.locator(".sidebar")).toHaveCount(0);
  await expect(page.locator("#fleet-summary")).toContainText("3 nodes");
  await page.goto("/embed/nodes/10.0.10.11");
  await expect(page.locator('.fleet-node[data-node="10.0.10.11"] .fleet-gpu')).toHaveCount(8);
  await expect(page.locator(".sidebar")).toHaveCount(0);
});

test("even an allowed portal cannot frame a page that changes things, only the embed views", async ({ page }) => {
  // The allowed portal's origin (the next port) frames the Deployments page: refused by the browser
  // (frame-ancestors 'none', X-Frame-Options: DENY), so no portal can click Deploy or Undeploy.
  const portalServer = await portal(port + 1, `${migboard}/deployments`);
  try {
    const refused: string[] = [];
    page.on("console", (m) => refused.push(m.text()));
    await page.goto(`http://127.0.0.1:${port + 1}/`);
    await expect.poll(() => refused.some((t) => t.includes("frame-ancestors") || t.includes("X-Frame-Options")), { timeout: 10_000 }).toBe(true);
    // Chromium shows its own error page in the frame: nothing of migboard renders there.
    await expect(page.frameLocator("#mb").locator("#live-status")).toHaveCount(0);
    await expect(page.frameLocator("#mb").locator(".sidebar")).toHaveCount(0);
  } finally {
    portalServer.close();
  }
  // The page itself, opened directly, hydrates under the nonce policy (no 'unsafe-inline'): the
  // hydration scripts carry the nonce the policy names.
  const response = await page.goto("/deployments");
  await waitForHydration(page);
  const csp = response?.headers()["content-security-policy"] ?? "";
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
  expect(csp).not.toContain("'unsafe-inline' 'wasm");
  expect(csp).toContain("frame-ancestors 'none'");
});

test("a signed fleet link shows the live fleet in a portal on another site, with no sign-in, until revoked", async ({ browser, request }) => {
  test.setTimeout(90_000);
  // The portal is http://localhost:<port + 3>, migboard http://127.0.0.1:<port>: different sites, so
  // the frame gets no migboard cookie (partitioned, or blocked) and only the link can open the view.
  const portalOrigin = `http://localhost:${port + 3}`;
  const made = await request.post("/api/v1/embeds", { data: { view: "fleet", days: 1, origins: [portalOrigin] } });
  expect(made.status()).toBe(201);
  const link = await made.json();
  expect(link.path).toMatch(/^\/embed\/link\/[0-9a-f]{64}$/);
  expect(link.url).toBe(`${migboard}${link.path}`);

  const crossSite = await portal(port + 3, link.url);
  // A portal the server admits for its /embed views, but this link does not name.
  const notNamed = await portal(port + 1, link.url);
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  try {
    await page.goto(`${portalOrigin}/`);
    const frame = page.frameLocator("#mb");
    await expect(frame.locator("#embed-link")).toHaveAttribute("data-view", "fleet");
    await expect(frame.locator(".fleet-node")).toHaveCount(3);
    await expect(frame.locator('.fleet-node[data-node="10.0.20.11"] .fleet-config')).toHaveText("all-1g.5gb");
    // No sign-in form, no navigation, nothing that leads elsewhere in migboard.
    await expect(frame.locator("#login-form, #username, .sidebar, .open-in-planner, .reapply")).toHaveCount(0);
    await expect(frame.locator("a")).toHaveCount(0);
    // It sized itself in the portal.
    await expect.poll(() => page.evaluate(() => (window as unknown as { heights: number[] }).heights.length)).toBeGreaterThan(0);
    await page.screenshot({ path: "test-results/screenshots/embed-link-portal.png", fullPage: true });

    // A placement elsewhere (an inference replica on a 1g.10gb slice) reaches the open frame live,
    // and so does its removal.
    const used = frame.locator('#fleet-totals tr[data-profile="1g.10gb"] .used');
    const before = Number(await used.textContent());
    const blueprint = JSON.parse(readFileSync("../mig/data/oci-blueprints/mig_inference_single_replica_10gb.json", "utf8"));
    blueprint.deployment_name = "embed-link-placed";
    const placed = await request.post("/api/v1/deployments", { data: blueprint });
    expect(placed.status()).toBe(201);
    await expect(used).toHaveText(String(before + 1), { timeout: 30_000 });
    await expect(frame.locator(".fleet-inst.busy")).not.toHaveCount(0);
    await page.screenshot({ path: "test-results/screenshots/embed-link-updated.png", fullPage: true });
    const removed = await request.post(`/api/v1/deployments/${(await placed.json()).id}/undeploy`);
    expect(removed.status()).toBe(202);
    await expect(used).toHaveText(String(before), { timeout: 30_000 });

    // The same link framed by a portal it does not name: refused by the browser.
    const other = await context.newPage();
    const refused: string[] = [];
    other.on("console", (m) => refused.push(m.text()));
    await other.goto(`http://127.0.0.1:${port + 1}/`);
    await expect.poll(() => refused.some((t) => t.includes("frame-ancestors")), { timeout: 10_000 }).toBe(true);
    await expect(other.frameLocator("#mb").locator("#embed-link")).toHaveCount(0);
    await other.close();

    // Revoked: the open frame says so within seconds, without a reload.
    const revoked = await request.post(`/api/v1/embeds/${link.id}/revoke`);
    expect(revoked.status()).toBe(200);
    await expect(frame.locator("#embed-refused")).toContainText(/this link was revoked at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\./, { timeout: 15_000 });
    await expect(frame.locator(".fleet-node")).toHaveCount(0);
    await page.screenshot({ path: "test-results/screenshots/embed-link-revoked.png", fullPage: true });
  } finally {
    await context.close();
    crossSite.close();
    notNamed.close();
  }
});

test("an operator makes, copies and revokes an embed link in Settings", async ({ page }) => {
  await page.goto("/settings");
  await waitForHydration(page);
  await expect(page.locator("#embed-create")).toBeEnabled();
  // A mistake is said plainly, with what to write instead.
  await page.locator("#embed-view").fill("pool");
  await page.locator("#embed-origins").fill("https://portal.example.com");
  await page.locator("#embed-create").click();
  await expect(page.locator("#embed-error")).toHaveText(/^No link made: "pool" is not a view/);
  await page.locator("#embed-view").fill("node/10.0.10.11");
  await page.locator("#embed-origins").fill(`http://localhost:${port + 3}`);
  await page.locator("#embed-create").click();
  await expect(page.locator("#embed-url")).toHaveValue(new RegExp(`^${migboard.replace(/\./g, "\\.")}/embed/link/[0-9a-f]{64}$`));
  await expect(page.locator("#embed-snippet")).toHaveValue(/^<iframe src="http:\/\/127\.0\.0\.1:\d+\/embed\/link\/[0-9a-f]{64}"/);
  const row = page.locator("#embeds tbody tr").filter({ hasText: "node/10.0.10.11" });
  await expect(row).toHaveAttribute("data-state", "active");
  await page.screenshot({ path: "test-results/screenshots/settings-embed-links.png", fullPage: true });
  // The link opens the node alone, with no session (a fresh context).
  const url = await page.locator("#embed-url").inputValue();
  const stranger = await page.context().browser()!.newContext({ storageState: { cookies: [], origins: [] } });
  const view = await stranger.newPage();
  await view.goto(url);
  await expect(view.locator('.fleet-node[data-node="10.0.10.11"] .fleet-gpu')).toHaveCount(8);
  await expect(view.locator("a")).toHaveCount(0);
  await row.locator(".revoke").click();
  await expect(page.locator("#embeds tbody tr").filter({ hasText: "node/10.0.10.11" })).toHaveAttribute("data-state", "revoked");
  await expect(view.locator("#embed-refused")).toContainText("revoked", { timeout: 15_000 });
  await stranger.close();
});
