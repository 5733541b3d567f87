import { expect, test, type Page } from "@playwright/test";
import { undeployAndWait, watchErrors, waitForHydration } from "./helpers";

// OCI's MIG guide quickstart (#20), its sample blueprints verbatim: the editor's templates are the
// reference files (a Rust test compares them byte for byte). The embedded default fleet is named so
// the samples' targets exist: the pool's new node is 10.0.10.138, the default H100 pool h100migpool.
// Every inference sample is called `autoscale_mig`, so the first is undeployed before the second
// (as the guide's step 4 "launch the recipe again" implies; names are unique among live deployments).

async function deployTemplate(page: Page, template: string): Promise<number> {
  await page.goto(`/blueprints?template=${template}`);
  await waitForHydration(page);
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await page.locator("#deploy").click();
  await expect(page).toHaveURL(/\/deployments\/\d+$/);
  return Number(new URL(page.url()).pathname.split("/").pop());
}

test("the OCI guide's quickstart runs verbatim: pool, inference, updates by node and by pool name, inference again", async ({ page, request }) => {
  test.setTimeout(240_000);
  const errors = watchErrors(page);
  const shot = (name: string) => page.screenshot({ path: `test-results/screenshots/quickstart-${name}.png`, fullPage: true });
  const badge = page.locator(".page-header .badge");

  // 1. Launch the shared pool; it is "active" when ready, as the guide says.
  const poolId = await deployTemplate(page, "mig_enabled_shared_node_pool");
  await expect(badge).toHaveText("active", { timeout: 60_000 });
  await expect(page.locator("#deployment-message")).toContainText('pool "H100_pool_mig" ready: 1 node(s) on all-1g.20gb');
  await expect(page.locator('#steps .step[data-key="node/10.0.10.138"]')).toHaveAttribute("data-state", "done");
  await shot("1-pool-active");

  // 2. MIG inference, once the pool is active: before deploying, the editor says what the embedded
  //    fleet does not carry out (the server's check knows the platform).
  await page.goto("/blueprints?template=mig_inference_single_replica");
  await waitForHydration(page);
  await page.locator("#validate-server").click();
  // Notes, not warnings: what this platform does not carry out is worth knowing, not a mistake.
  await expect(page.locator('#issues .issue-note[data-code="autoscaling_needs_metrics"]')).toBeVisible();
  await expect(page.locator('#issues .issue-note[data-code="simulated"]')).toBeVisible();
  await expect(page.locator("#issues .issue-error, #issues .issue-warning")).toHaveCount(0);
  await expect(page.locator("#bp-status")).toContainText("Valid with 4 notes");
  await shot("2-inference-notices");
  const firstId = await deployTemplate(page, "mig_inference_single_replica");
  await expect(badge).toHaveText("monitoring", { timeout: 30_000 });
  const first = page.locator('#placements tr[data-replica="0"]');
  await expect(first).toContainText("10.0.10.138");
  await expect(first).toContainText("1g.20gb@");
  await expect(first.locator(".replica-state")).toHaveText("running");
  await shot("2-inference-running");

  // 3. Smaller slices: undeploy the inference, then update the node by name (verbatim: 10.0.10.138).
  await undeployAndWait(request, firstId);
  const byNode = await deployTemplate(page, "mig_update_node_with_node_name");
  await expect(badge).toHaveText("completed", { timeout: 60_000 });
  await expect(page.locator('#steps .step[data-key="busy-check"]')).toHaveAttribute("data-state", "done");
  await shot("3-update-by-node");

  // The guide's other update, by pool name (verbatim: h100migpool, to all-2g.20gb).
  const byPool = await deployTemplate(page, "mig_update_shared_pool_with_node_pool_name");
  await expect(badge).toHaveText("completed", { timeout: 60_000 });
  await shot("3-update-by-pool");
  const fleet = await (await request.get("/api/v1/fleet")).json();
  const config = (name: string) => fleet.nodes.find((n: { name: string }) => n.name === name)?.mig_config;
  expect([config("10.0.10.138"), config("10.0.10.11"), config("10.0.10.12")]).toEqual(["all-1g.10gb", "all-2g.20gb", "all-2g.20gb"]);

  // 4. The inference again, on 1g.10gb: only the updated node has them.
  const secondId = await deployTemplate(page, "mig_inference_single_replica_10gb");
  await expect(badge).toHaveText("monitoring", { timeout: 30_000 });
  const second = page.locator('#placements tr[data-replica="0"]');
  await expect(second).toContainText("10.0.10.138");
  await expect(second).toContainText("1g.10gb@");
  await shot("4-inference-again");

  // The fleet page shows the result: the quickstart pool's node on all-1g.10gb with one busy slice.
  await page.goto("/");
  await waitForHydration(page);
  await expect(page.locator("body")).toContainText("H100_pool_mig");
  await shot("4-fleet");
  expect(errors).toEqual([]);

  // Put the fleet back for the specs that follow: the inference, the pool, h100migpool's layout.
  await undeployAndWait(request, secondId);
  await undeployAndWait(request, poolId);
  const back = await request.post("/api/v1/deployments", {
    data: { recipe_mode: "update", deployment_name: "e2e-quickstart-back", recipe_node_pool_name: "h100migpool", shared_node_pool_mig_config: "all-balanced" },
  });
  expect(back.status()).toBe(201);
  const backId: number = (await back.json()).id;
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${backId}`)).json()).deployment.status, { timeout: 60_000 }).toBe("completed");
  expect([byNode, byPool].every((id) => id > poolId)).toBe(true);
});
