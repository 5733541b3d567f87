import { expect, test, type Locator, type Page } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// Plan → apply → verify, as drawn (#16): two different layouts drawn with real drags on GPUs 0-3
// and 4-7 of an H100 node, the diff against node 10.0.10.12 of h100-pool, applied as a custom
// config and watched live; the fleet then shows exactly those placements, and "Open in planner"
// loads the same plan back. The node is put back on all-balanced at the end for the other specs.
// Screenshots: test-results/screenshots/apply-*.png.

const NODE = "10.0.10.12";

const chip = (page: Page, profile: string) => page.locator(`#palette .chip[data-profile="${profile}"]`);
const slot = (page: Page, gpu: number, s: number) => page.locator(`.slot[data-gpu="${gpu}"][data-slot="${s}"]`);
const instance = (page: Page, gpu: number, profile: string, start: number) =>
  page.locator(`#gpu-${gpu} .inst[data-profile="${profile}"][data-start="${start}"]`);

async function center(l: Locator) {
  const box = await l.boundingBox();
  expect(box, "element is on screen").not.toBeNull();
  return { x: box!.x + box!.width / 2, y: box!.y + box!.height / 2 };
}

async function drag(page: Page, from: Locator, to: Locator) {
  await to.evaluate((el) => el.scrollIntoView({ block: "center" }));
  const a = await center(from);
  const b = await center(to);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(a.x + 8, a.y + 8, { steps: 2 });
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
}

const SMALL: [string, number][] = [["3g.40gb", 0], ["1g.10gb", 6]];
const BIG: [string, number][] = [["4g.40gb", 0], ["1g.20gb", 4], ["1g.10gb", 6]];
const layoutOf = (gpu: number) => (gpu < 4 ? SMALL : BIG);

test("draw two layouts, see the diff, apply them to a node, and open the node back in the planner", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.goto("/plan");
  await waitForHydration(page);
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
  await expect(diff.locator('tr[data-gpu="0"] td.created')).toHaveText("1g.10gb@6");
  await expect(diff.locator('tr[data-gpu="0"] td.destroyed')).toContainText("1g.10gb@0");
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
  expect(errors).toEqual([]);

  // Put the node back as the other specs expect it.
  const back = await request.post("/api/v1/deployments", {
    data: { recipe_mode: "update", deployment_name: "e2e-apply-revert", recipe_node_name: NODE, shared_node_pool_mig_config: "all-balanced" },
  });
  expect(back.status()).toBe(201);
  const id = (await back.json()).id;
  await expect
    .poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.status, { timeout: 30_000 })
    .toBe("completed");
});
