import { expect, test } from "@playwright/test";
import { deployOneReplica, undeployAndWait, watchErrors, waitForHydration } from "./helpers";

// Deploy from the blueprint editor, watch the per-GPU progress bars fill without reloading, see the
// node page's charts, and undeploy. The embedded fleet's simulated GPUs take 20 ms per MIG change, so a
// node's reconfiguration takes a second or two: long enough to be seen running.
// Screenshots go to test-results/screenshots/deploy-*.png.

test("deploy the guide's shared MIG pool from the editor, watch it reconfigure live, undeploy it", async ({ page }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  await page.goto("/blueprints?template=mig_enabled_shared_node_pool");
  await waitForHydration(page);
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await page.locator("#deploy").click();

  // The editor navigates (client-side) to the new deployment's page.
  await expect(page).toHaveURL(/\/deployments\/\d+$/);
  await expect(page.locator("#deployment-name")).toHaveText("H100_pool_mig");
  // Mark the document: a reload would lose it.
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

  const node = page.locator(".node-progress").first();
  await expect(node).toBeVisible();
  await expect(node.locator(".segment")).toHaveCount(8);
  // Record every value the bar shows, as it changes in place.
  await page.evaluate(() => {
    const w = window as unknown as { __seen: string[] };
    w.__seen = [];
    const note = () => {
      const v = document.querySelector(".node-progress")?.getAttribute("data-done");
      if (v !== null && v !== undefined && w.__seen[w.__seen.length - 1] !== v) w.__seen.push(v);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await expect
    .poll(async () => Number(await node.getAttribute("data-done")), { timeout: 20_000, intervals: [50] })
    .toBeGreaterThan(0);
  await page.screenshot({ path: "test-results/screenshots/deploy-progress.png", fullPage: true });
  await expect(node).toHaveAttribute("data-done", "8", { timeout: 30_000 });
  await expect(node.locator('.segment[data-state="done"]')).toHaveCount(8);
  await expect(page.locator(".page-header .badge")).toHaveText("active");
  await expect(page.locator("#deployment-message")).toContainText('pool "H100_pool_mig" ready: 1 node(s) on all-1g.20gb');
  await expect(page.locator('#steps .step[data-key="pool/create"]')).toHaveAttribute("data-state", "done");
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  // The bar moved while we watched: several values, ending at 8 of 8.
  const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
  expect(seen.length, `values seen: ${seen}`).toBeGreaterThanOrEqual(3);
  expect(seen[seen.length - 1]).toBe("8");
  await page.screenshot({ path: "test-results/screenshots/deploy-done.png", fullPage: true });

  // The new node's page: its layout, and the reconfiguration chart counts its eight GPU applies.
  const nodeName = (await node.getAttribute("data-node"))!;
  const deploymentUrl = page.url();
  await node.locator(".node-progress-name").click();
  await expect(page).toHaveURL(new RegExp(`/fleet/nodes/${nodeName.replaceAll(".", "\\.")}$`));
  await expect(page.locator("#node-name")).toHaveText(nodeName);
  await expect(page.locator('.fleet-gpu[data-gpu="0"] .fleet-inst[data-profile="1g.20gb"]')).toHaveCount(4);
  await expect(page.locator("#applies-chart svg")).toBeVisible();
  await expect(page.locator("#applies-chart")).toContainText("(8 in all)");
  await expect(page.locator("#memory-chart svg")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/deploy-node.png", fullPage: true });

  // Undeploy: confirm, and watch it go (the pool's node is removed).
  await page.goto(deploymentUrl);
  await waitForHydration(page);
  page.once("dialog", (d) => d.accept());
  await page.locator("#undeploy").click();
  await expect(page.locator(".page-header .badge")).toHaveText("undeployed", { timeout: 20_000 });
  await expect(page.locator(`#steps .step[data-key="undeploy/node/${nodeName}"]`)).toHaveAttribute("data-state", "done");
  await expect(page.locator("#undeploy")).toBeDisabled();

  // The list shows it, with its status.
  await page.goto("/deployments");
  await waitForHydration(page);
  const row = page.locator("#deployments tr", { hasText: "H100_pool_mig" });
  await expect(row.locator(".badge")).toHaveText("undeployed");
  await page.screenshot({ path: "test-results/screenshots/deploy-list.png", fullPage: true });
  // The fleet is back to its three nodes.
  const fleet = await (await page.request.get("/api/v1/fleet")).json();
  expect(fleet.nodes.map((n: { name: string }) => n.name)).not.toContain(nodeName);
  expect(errors).toEqual([]);
});

test("the deployments list updates live when a deployment starts elsewhere", async ({ page, request }) => {
  const errors = watchErrors(page);
  await page.goto("/deployments");
  await waitForHydration(page);
  const update = { recipe_mode: "update", deployment_name: "live-list-check", recipe_node_name: "10.0.20.11", shared_node_pool_mig_config: "all-1g.5gb" };
  const answer = await request.post("/api/v1/deployments", { data: update });
  expect(answer.status()).toBe(201);
  const row = page.locator("#deployments tr", { hasText: "live-list-check" });
  await expect(row.locator(".badge")).toHaveText("completed", { timeout: 20_000 });
  // Another one, started elsewhere too, appears without a reload.
  const again = await request.post("/api/v1/deployments", { data: { ...update, deployment_name: "live-list-again" } });
  expect(again.status()).toBe(201);
  await expect(page.locator("#deployments tr", { hasText: "live-list-again" }).locator(".badge")).toHaveText("completed", { timeout: 20_000 });
  expect(errors).toEqual([]);
});

test("an update offers to revert to the layout it replaced, never to undeploy (#22 item 4)", async ({ page, request }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  const node = "10.0.20.11";
  const deploy = async (name: string, config: string) => {
    const created = await request.post("/api/v1/deployments", { data: { recipe_mode: "update", deployment_name: name, recipe_node_name: node, shared_node_pool_mig_config: config } });
    expect(created.status()).toBe(201);
    const id = (await created.json()).id;
    await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.status, { timeout: 30_000 }).toBe("completed");
    return id;
  };
  await deploy("revert-base", "all-1g.5gb");
  const changed = await deploy("revert-away", "all-2g.10gb");
  await page.goto(`/deployments/${changed}`);
  await waitForHydration(page);
  // No "Undeploy" that would claim the layout went away; what it replaced, and the way back.
  await expect(page.locator("#undeploy")).toHaveCount(0);
  await expect(page.locator("#revert-targets li")).toHaveText([`${node} → all-1g.5gb (from revert-base)`]);
  await expect(page.locator("#revert-previous")).toBeEnabled();
  await page.screenshot({ path: "test-results/screenshots/deploy-revert-offer.png", fullPage: true });
  const asked: string[] = [];
  page.once("dialog", (d) => {
    asked.push(d.message());
    void d.accept();
  });
  await page.locator("#revert-previous").click();
  await expect(page).not.toHaveURL(new RegExp(`/deployments/${changed}$`));
  expect(asked[0]).toContain(`${node} → all-1g.5gb`);
  await expect(page.locator(".page-header .badge")).toHaveText("completed", { timeout: 30_000 });
  await expect(page.locator("#deployment-name")).toContainText(`revert-${node}-to-all-1g.5gb`);
  const fleet = await (await request.get("/api/v1/fleet")).json();
  const gpus = fleet.nodes.find((n: { name: string }) => n.name === node).gpus;
  expect(gpus.every((g: { instances: { profile: string }[] }) => g.instances.length === 7 && g.instances.every((i) => i.profile === "1g.5gb"))).toBe(true);
  // The API says the same: undeploying an update is refused with the way out.
  const refused = await request.post(`/api/v1/deployments/${changed}/undeploy`);
  expect(refused.status()).toBe(409);
  expect((await refused.json()).error.message).toContain("nothing to undeploy");
  expect(errors).toEqual([]);
});

test("an unknown deployment gets a helpful page", async ({ page }) => {
  await page.goto("/deployments/424242");
  await expect(page.locator("h1")).toHaveText("Deployment not found");
  await expect(page.locator("main")).toContainText("no deployment 424242");
});

test("an update of a busy node waits for drain, says where to tick it, and a refused one retries with drain (#22 item 3)", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  // A replica on a 1g.10gb slice of an H100 node.
  const { id: serviceId, node } = await deployOneReplica(request, "busy-maker");
  // An update that takes its 1g.10gb slices away (all-3g.40gb has none).
  const update = { recipe_mode: "update", deployment_name: "busy-update", recipe_node_name: node, shared_node_pool_mig_config: "all-3g.40gb" };
  await page.goto("/blueprints");
  await waitForHydration(page);
  await page.locator("#blueprint-json").fill(JSON.stringify(update, null, 2));
  await page.locator("#validate-server").click();
  // The server's warning names the replica, not a process id, and Deploy waits for drain.
  const warning = page.locator('#issues [data-code="node_busy"]');
  await expect(warning).toContainText("busy-maker replica");
  await expect(warning).not.toContainText("pid ");
  await expect(page.locator("#deploy")).toBeDisabled();
  await expect(page.locator("#busy-note")).toContainText("Drain busy nodes");
  await page.screenshot({ path: "test-results/screenshots/deploy-busy-blocked.png", fullPage: true });
  await page.locator("#drain").check();
  await expect(page.locator("#busy-note")).toHaveCount(0);
  await expect(page.locator("#deploy")).toBeEnabled();

  // Deployed without drain through the API: refused at its busy check, which heads the steps; the
  // page says how to go on and offers it; the GPU steps it never reached read "not run".
  const refused = await request.post("/api/v1/deployments", { data: update });
  expect(refused.status()).toBe(201);
  const refusedId = (await refused.json()).id;
  await page.goto(`/deployments/${refusedId}`);
  await waitForHydration(page);
  await expect(page.locator(".page-header .badge")).toHaveText("failed", { timeout: 30_000 });
  const keys = await page.locator("#steps .step").evaluateAll((steps) => steps.map((s) => s.getAttribute("data-key") ?? ""));
  expect(keys.indexOf("busy-check")).toBeGreaterThanOrEqual(0);
  expect(keys.indexOf("busy-check")).toBeLessThan(keys.findIndex((k) => k.startsWith("reconfigure/")));
  await expect(page.locator('#steps .step[data-key="busy-check"]')).toHaveAttribute("data-state", "failed");
  await expect(page.locator("#deployment-message")).toContainText("Retry with drain");
  await expect(page.locator("#deployment-message")).toContainText("busy-maker replica");
  await expect(page.locator('#steps .step[data-state="pending"]')).toHaveCount(0);
  await expect(page.locator('#steps .step[data-state="not_run"]').first().locator(".step-state")).toHaveText("not run");
  await page.screenshot({ path: "test-results/screenshots/deploy-busy-refused.png", fullPage: true });
  await page.locator("#retry-with-drain").click();
  await expect(page).not.toHaveURL(new RegExp(`/deployments/${refusedId}$`));
  await expect(page.locator("#deployment-name")).toHaveText("busy-update");
  await expect(page.locator(".page-header .badge")).toHaveText("completed", { timeout: 60_000 });
  await expect(page.locator('#steps .step[data-key^="drain/"]')).toHaveAttribute("data-state", "done");

  // Put things back as the later specs expect them: the replica away, the node on all-balanced.
  expect((await request.post(`/api/v1/deployments/${serviceId}/undeploy`)).status()).toBe(202);
  const back = await request.post("/api/v1/deployments", { data: { ...update, deployment_name: "busy-back", shared_node_pool_mig_config: "all-balanced" } });
  expect(back.status()).toBe(201);
  const backId = (await back.json()).id;
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${backId}`)).json()).deployment.status, { timeout: 60_000 }).toBe("completed");
  expect(errors).toEqual([]);
});

test("a service's replicas read running as its header does, say where it answers, and the shared view lists them (#22 item 13)", async ({ page, request, browser }) => {
  const errors = watchErrors(page);
  const { id } = await deployOneReplica(request, "replica-words");
  await page.goto(`/deployments/${id}`);
  await waitForHydration(page);
  const replica = page.locator('#placements tr[data-replica="0"]');
  await expect(replica).toHaveAttribute("data-state", "placed");
  await expect(replica.locator(".replica-state")).toHaveText("running");
  // The embedded fleet's replicas serve nothing, and the page says so rather than showing nothing.
  await expect(page.locator("#service-endpoint")).toHaveAttribute("data-endpoint", "none");
  await expect(page.locator("#service-endpoint")).toContainText("simulated");

  const share = await request.post(`/api/v1/deployments/${id}/shares`, { data: { days: 1 } });
  expect(share.status()).toBe(201);
  const path = (await share.json()).path as string;
  const other = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const viewer = await other.newPage();
  await viewer.goto(path);
  await waitForHydration(viewer);
  await expect(viewer.locator('#placements tr[data-replica="0"] .replica-state')).toHaveText("running");
  await expect(viewer.locator("#service-endpoint")).toBeVisible();
  await expect(viewer.locator("a")).toHaveCount(0);
  await other.close();
  await undeployAndWait(request, id);
  expect(errors).toEqual([]);
});
