import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";
import { chip, drag, instance, slot } from "./planner-board";

// Plan → apply → verify, as drawn (#16): two different layouts drawn with real drags on GPUs 0-3
// and 4-7 of an H100 node, the diff against node 10.0.10.12 of h100migpool, applied as a custom
// config and watched live; the fleet then shows exactly those placements, and "Open in planner"
// loads the same plan back, and the node's layout history reverts it to all-balanced (as the other
// specs expect it).
// Screenshots: test-results/screenshots/apply-*.png.

const NODE = "10.0.10.12";

const SMALL: [string, number][] = [["3g.40gb", 0], ["1g.10gb", 6]];
const BIG: [string, number][] = [["4g.40gb", 0], ["1g.20gb", 4], ["1g.10gb", 6]];
const layoutOf = (gpu: number) => (gpu < 4 ? SMALL : BIG);

test("draw two layouts, see the diff, apply them to a node, and open the node back in the planner", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  // The node's layout as migboard last set it: all-balanced, recorded by an update (nothing changes),
  // so its history has a layout to go back to.
  const before = await request.post("/api/v1/deployments", {
    data: { recipe_mode: "update", deployment_name: "e2e-balanced-before", recipe_node_name: NODE, shared_node_pool_mig_config: "all-balanced" },
  });
  expect(before.status()).toBe(201);
  const beforeId = (await before.json()).id;
  await expect
    .poll(async () => (await (await request.get(`/api/v1/deployments/${beforeId}`)).json()).deployment.status, { timeout: 30_000 })
    .toBe("completed");
  await page.goto("/plan");
  await waitForHydration(page);
  await expect(page.locator("#model")).toHaveAttribute("data-ready", "true");
  await expect(page.locator(".gpu")).toHaveCount(8);

  // Draw: GPUs 0-3 get 3g.40gb@0 + 1g.10gb@6, GPUs 4-7 get 4g.40gb@0 + 1g.20gb@4 + 1g.10gb@6.
  for (let gpu = 0; gpu < 8; gpu++) {
    for (const [profile, start] of layoutOf(gpu)) {
      await drag(page, chip(page, profile), slot(page, gpu, start));
      await expect(instance(page, gpu, profile, start)).toBeVisible();
    }
  }
  await page.screenshot({ path: "test-results/screenshots/apply-1-drawn.png", fullPage: true });

  // The diff against the node, before anything is applied: all-balanced's instances go, ours come.
  await page.locator("#config-name").fill("e2e-mix");
  await page.locator("#apply-target").selectOption(`node:${NODE}`);
  const diff = page.locator(`#apply-diff .apply-diff[data-node="${NODE}"]`);
  await expect(diff).toBeVisible();
  await expect(diff.locator('tr[data-gpu="0"] td.created')).toHaveText("3g.40gb@0 1g.10gb@6");
  await expect(diff.locator('tr[data-gpu="0"] td.destroyed')).toContainText("3g.40gb@4");
  await expect(diff.locator('tr[data-gpu="5"] td.created')).toContainText("4g.40gb@0");
  await expect(diff.locator(".apply-diff-head")).toContainText("NVML call(s)");
  await diff.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/apply-2-diff.png", fullPage: true });

  // Apply: an update deployment, followed live to completion.
  await page.locator("#apply-plan").click();
  await expect(page).toHaveURL(/\/deployments\/\d+$/, { timeout: 15_000 });
  await expect(page.locator(".page-header .badge")).toHaveText("completed", { timeout: 30_000 });
  await expect(page.locator("main")).toContainText("on e2e-mix v1");
  await page.screenshot({ path: "test-results/screenshots/apply-3-deployed.png", fullPage: true });

  // The fleet shows exactly those placements on the node, and the config it matches.
  await page.goto("/");
  await waitForHydration(page);
  const node = page.locator(`.fleet-node[data-node="${NODE}"]`);
  await expect(node.locator(".fleet-config")).toHaveText("e2e-mix");
  for (let gpu = 0; gpu < 8; gpu++) {
    const g = node.locator(`.fleet-gpu[data-gpu="${gpu}"]`);
    await expect(g.locator(".fleet-inst")).toHaveCount(layoutOf(gpu).length);
    for (const [profile, start] of layoutOf(gpu)) {
      await expect(g.locator(`.fleet-inst[data-profile="${profile}"][data-start="${start}"]`)).toHaveCount(1);
    }
  }
  await node.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/apply-4-fleet.png", fullPage: true });

  // "Open in planner" loads the node's live layout: the same plan.
  await node.locator(".open-in-planner").click();
  await expect(page).toHaveURL(/\/plan\?/);
  await waitForHydration(page);
  for (let gpu = 0; gpu < 8; gpu++) {
    await expect(page.locator(`#gpu-${gpu} .inst`)).toHaveCount(layoutOf(gpu).length);
    for (const [profile, start] of layoutOf(gpu)) {
      await expect(instance(page, gpu, profile, start)).toBeVisible();
    }
  }
  await page.screenshot({ path: "test-results/screenshots/apply-5-open-in-planner.png", fullPage: true });

  // The node's history: e2e-mix v1 now, all-balanced before it; "Revert to this" puts it back.
  await page.goto(`/fleet/nodes/${NODE}`);
  await waitForHydration(page);
  const history = page.locator("#layout-history");
  await expect(history.locator("tr.current .history-config")).toHaveText("e2e-mix v1");
  const earlier = history.locator(`tr[data-deployment="${beforeId}"]`);
  await expect(earlier.locator(".history-config")).toHaveText("all-balanced");
  await history.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/apply-6-history.png", fullPage: true });
  await earlier.locator("button.revert").click();
  await expect(page).toHaveURL(/\/deployments\/\d+$/, { timeout: 15_000 });
  await expect(page.locator(".page-header .badge")).toHaveText("completed", { timeout: 30_000 });
  await page.goto("/");
  await waitForHydration(page);
  await expect(node.locator(".fleet-config")).toHaveText("all-balanced");
  await expect(page.locator('#fleet-totals tr[data-profile="1g.10gb"] .free')).toHaveText("32");
  await page.screenshot({ path: "test-results/screenshots/apply-7-reverted.png", fullPage: true });
  expect(errors).toEqual([]);
});
