import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// Share links: create one on a deployment's page, open it in a fresh browser (no shared cookies or
// storage), see the live status and no way to change anything, revoke it, reload, see the refusal.

test("a read-only link shows a deployment live to a fresh browser until it is revoked", async ({ page, browser, request }) => {
  const errors = watchErrors(page);
  const update = { recipe_mode: "update", deployment_name: "share-check", recipe_node_name: "10.0.20.11", shared_node_pool_mig_config: "all-1g.5gb" };
  const created = await request.post("/api/v1/deployments", { data: update });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id;
  await page.goto(`/deployments/${id}`);
  await waitForHydration(page);
  await page.locator("#share-create").click();
  const url = await page.locator("#share-url").inputValue();
  expect(url).toMatch(/\/share\/[0-9a-f]{64}$/);
  await expect(page.locator("#share-links li")).toHaveCount(1);

  const other = await browser.newContext();
  const viewer = await other.newPage();
  await viewer.goto(url);
  await waitForHydration(viewer);
  await expect(viewer.locator("#deployment-name")).toHaveText("share-check");
  await expect(viewer.locator(".page-header .badge")).toHaveText("completed", { timeout: 20_000 });
  await expect(viewer.locator(".node-progress")).toHaveAttribute("data-done", "8");
  // Read-only: no navigation, no undeploy, no share panel, no blueprint.
  await expect(viewer.locator(".sidebar, #undeploy, #share-create, .blueprint-source")).toHaveCount(0);
  // Nothing leads into the rest of migboard.
  await expect(viewer.locator("a")).toHaveCount(0);
  await viewer.screenshot({ path: "test-results/screenshots/share-view.png", fullPage: true });

  await page.locator("#share-links .revoke").click();
  await expect(page.locator('#share-links li[data-revoked="true"]')).toHaveCount(1);
  await viewer.reload();
  await expect(viewer.locator("#share-refused")).toContainText("this link was revoked at");
  await expect(viewer.locator("#deployment-name")).toHaveCount(0);
  await viewer.screenshot({ path: "test-results/screenshots/share-revoked.png" });
  await other.close();
  expect(errors).toEqual([]);
});
