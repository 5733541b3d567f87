import { expect, test, type Page } from "@playwright/test";
import { undeployAndWait, watchErrors, waitForHydration } from "./helpers";

// The blueprint editor (/blueprints): templates, validation as you type with every issue marked at its
// line, the form view that rewrites only its members, and the server's fleet-aware check.
// Screenshots go to test-results/screenshots/blueprints-*.png.

const editor = (page: Page) => page.locator("#blueprint-json");
const errorsListed = (page: Page) => page.locator("#issues .issue-error");

async function open(page: Page, template: string) {
  await page.goto(`/blueprints?template=${template}`);
  await waitForHydration(page);
  await expect(editor(page)).toBeVisible();
}

/** 1-based line of the first line of `text` containing `needle`. */
function lineOf(text: string, needle: string) {
  const i = text.split("\n").findIndex((l) => l.includes(needle));
  expect(i, `"${needle}" is in the text`).toBeGreaterThanOrEqual(0);
  return i + 1;
}

test("the 10gb template: break it three ways, see three marked issues, fix them, see it valid", async ({ page }) => {
  const errors = watchErrors(page);
  await open(page, "mig_inference_single_replica_10gb");
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await expect(page.locator("#bp-status")).toContainText('"autoscale_mig" runs on BM.GPU.H100.8, 1 × 1g.10gb slice');

  const original = await editor(page).inputValue();
  const broken = original
    .replace('"mig_resource_request"', '"mig_resource_reqest"')
    .replace('"recipe_replica_count": 1', '"recipe_replica_count": "1"')
    .replace('"scheme": "HTTP"', '"scheme": "http"');
  await editor(page).fill(broken);

  await expect(errorsListed(page)).toHaveCount(3);
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "invalid");
  await expect(page.locator("#bp-status strong")).toHaveText("3 errors");
  await expect(page.locator("#deploy")).toBeDisabled();
  const expected = [
    ["unknown_key", "/mig_resource_reqest", lineOf(broken, "mig_resource_reqest"), "did you mean `mig_resource_request`?"],
    ["type", "/recipe_replica_count", lineOf(broken, '"recipe_replica_count"'), "remove the quotes: 1"],
    ["probe", "/recipe_startup_probe_params/scheme", lineOf(broken, '"scheme": "http"'), 'write "HTTP"'],
  ] as const;
  for (const [code, path, line, hint] of expected) {
    const item = page.locator(`#issues .issue-error[data-path="${path}"]`);
    await expect(item).toHaveAttribute("data-code", code);
    await expect(item).toHaveAttribute("data-line", String(line));
    await expect(item.locator(".issue-hint")).toHaveText(hint);
    // Marked at that line in the gutter and in the text.
    await expect(page.locator(`.bp-gutter .ln-error[data-line="${line}"]`)).toHaveCount(1);
    await expect(page.locator(`.bp-mark-error[data-line="${line}"]`)).toHaveCount(1);
  }
  await expect(page.locator(".bp-gutter .ln-error")).toHaveCount(3);
  await page.screenshot({ path: "test-results/screenshots/blueprints-three-issues.png", fullPage: true });

  // Clicking an issue puts the caret on its line and scrolls the editor to it.
  await page.locator(".bp-editor").evaluate((el) => (el.scrollTop = 0));
  await expect(page.locator('.bp-gutter .ln[data-line="3"]')).toBeInViewport();
  await page.locator('#issues .issue-error[data-path="/recipe_startup_probe_params/scheme"] .issue-jump').click();
  await expect(page.locator(`.bp-gutter .ln[data-line="${expected[2][2]}"]`)).toBeInViewport();
  await expect(page.locator('.bp-gutter .ln[data-line="3"]')).not.toBeInViewport();
  await expect(editor(page)).toBeFocused();
  const selected = await editor(page).evaluate((el: HTMLTextAreaElement) => el.value.slice(el.selectionStart, el.selectionEnd));
  expect(selected).toContain('"scheme": "http"');

  // Fix one in the text, one in the form, one in the text again.
  await editor(page).fill((await editor(page).inputValue()).replace('"scheme": "http"', '"scheme": "HTTP"'));
  await expect(errorsListed(page)).toHaveCount(2);
  await page.locator("#f-replicas").fill("2");
  await page.locator("#f-replicas").press("Tab");
  await expect(editor(page)).toHaveValue(/"recipe_replica_count": 2,/);
  await expect(errorsListed(page)).toHaveCount(1);
  await editor(page).fill((await editor(page).inputValue()).replace('"mig_resource_reqest"', '"mig_resource_request"'));

  // No error or warning is left; the browser's notes (#20) say what no platform carries out.
  await expect(page.locator("#issues .issue-error, #issues .issue-warning")).toHaveCount(0);
  await expect(page.locator('#issues .issue-note[data-code="not_carried"]')).toHaveCount(2);
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await expect(page.locator("#bp-status")).toContainText("Valid with 2 notes");
  await expect(page.locator("#bp-status")).toContainText("2 × 1g.10gb slice");
  await expect(page.locator("#deploy")).toBeEnabled();
  // The form rewrote only its member: everything else is as the template wrote it (4-space indents kept).
  expect(await editor(page).inputValue()).toBe(original.replace('"recipe_replica_count": 1', '"recipe_replica_count": 2'));

  // The server agrees, against the fleet (its h100migpool runs all-balanced, which has 1g.10gb slices).
  await page.locator("#validate-server").click();
  await expect(page.locator("#bp-status")).toContainText("checked on the server against the fleet (3 nodes)");
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await page.screenshot({ path: "test-results/screenshots/blueprints-valid.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("fleet rules run on the server: a 1g.20gb request fails with the guide's reason and the fix", async ({ page }) => {
  const errors = watchErrors(page);
  await open(page, "mig_inference_single_replica_10gb");
  await page.locator("#template").selectOption("mig_inference_single_replica.json");
  await expect(editor(page)).toHaveValue(/"mig_resource_request": "1g.20gb"/);
  // The browser cannot know the fleet: valid as far as it can tell.
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");
  await page.locator("#validate-server").click();
  const issue = page.locator('#issues .issue-error[data-code="mig_profile_unconfigured"]');
  await expect(issue).toBeVisible();
  await expect(issue.locator(".issue-message")).toContainText("1g.20gb is not configured on any node of the fleet");
  await expect(issue.locator(".issue-hint")).toContainText("`all-1g.20gb`");
  await expect(issue.locator(".issue-hint")).toContainText("h100migpool");
  await expect(page.locator("#deploy")).toBeDisabled();
  await page.screenshot({ path: "test-results/screenshots/blueprints-fleet-rule.png", fullPage: true });

  // Editing the text drops the server's answer for the old text: back to the browser's view.
  await page.locator("#f-request").selectOption("1g.10gb");
  await expect(editor(page)).toHaveValue(/"mig_resource_request": "1g.10gb"/);
  await expect(page.locator("#bp-status")).toContainText("checked in your browser");
  expect(errors).toEqual([]);
});

test("broken JSON is pinned to its line and column, the form waits, and the draft survives a reload", async ({ page }) => {
  const errors = watchErrors(page);
  await open(page, "mig_update_node_with_node_name");
  await expect(page.locator("#f-node")).toHaveValue("10.0.10.138");
  // The fleet has no such node: the server says which nodes exist.
  await page.locator("#validate-server").click();
  await expect(page.locator('#issues [data-code="node_unknown"] .issue-hint')).toContainText("10.0.10.11");
  // Retarget the update in the form; the server then accepts it.
  await page.locator("#f-node").fill("10.0.10.11");
  await page.locator("#f-node").press("Tab");
  await page.locator("#validate-server").click();
  await expect(page.locator("#bp-status")).toContainText("checked on the server");
  await expect(page.locator("#bp-status")).toHaveAttribute("data-state", "valid");

  const text = await editor(page).inputValue();
  await editor(page).fill(text.replace('"recipe_mode": "update",', '"recipe_mode": "update"'));
  const item = page.locator('#issues .issue-error[data-code="syntax"]');
  await expect(item).toHaveAttribute("data-line", "3");
  await expect(item.locator(".issue-message")).toContainText("line 3, column 5");
  await expect(page.locator("#form-disabled")).toBeVisible();
  await expect(page.locator("#f-mode")).toBeDisabled();

  // The draft is kept in this browser: opening /blueprints without a template restores it.
  await page.goto("/blueprints");
  await waitForHydration(page);
  await expect(page.locator("#bp-notice")).toHaveText("Restored your draft from this browser.");
  await expect(editor(page)).toHaveValue(/"recipe_node_name": "10.0.10.11"/);
  await expect(page.locator('#issues [data-code="syntax"]')).toBeVisible();
  expect(errors).toEqual([]);
});

test("an unknown template in the link is explained", async ({ page }) => {
  await page.goto("/blueprints?template=nope");
  await expect(page.locator("#link-error")).toContainText('There is no template "nope"');
  await expect(page.locator("#link-error")).toContainText("mig_enabled_shared_node_pool");
});

test("a blueprint carried in the link opens in the editor (the planner's export links here)", async ({ page }) => {
  const errors = watchErrors(page);
  const bp = { deployment_name: "mig-pool", recipe_mode: "shared_node_pool", shared_node_pool_size: 2, shared_node_pool_shape: "BM.GPU.H100.8", shared_node_pool_boot_volume_size_in_gbs: 500, shared_node_pool_mig_config: "all-balanced" };
  await page.goto(`/blueprints?json=${encodeURIComponent(JSON.stringify(bp, null, 2))}`);
  await waitForHydration(page);
  await expect(page.locator("#f-mode")).toHaveValue("shared_node_pool");
  await expect(page.locator("#f-config")).toHaveValue("all-balanced");
  await expect(page.locator("#bp-status")).toContainText('pool "mig-pool" of 2 × BM.GPU.H100.8 on all-balanced');
  // A config the shape's GPU lacks is caught in the browser once the catalogue has arrived.
  await page.locator("#f-config").fill("all-1g.5gb");
  await page.locator("#f-config").press("Tab");
  await expect(page.locator('#issues [data-code="mig_config_unknown"] .issue-message')).toContainText("for BM.GPU.H100.8");
  expect(errors).toEqual([]);
});

test("a request no node can serve offers to make room: Apply and deploy recuts one node and deploys onto it (#17)", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  await open(page, "mig_inference_single_replica_10gb");
  await page.locator("#template").selectOption("mig_inference_single_replica.json");
  await expect(editor(page)).toHaveValue(/"mig_resource_request": "1g.20gb"/);
  await page.locator("#validate-server").click();
  const issue = page.locator('#issues .issue-error[data-code="mig_profile_unconfigured"]');
  await expect(issue).toBeVisible();
  // The fix: the cheapest change to the live fleet, with what it does in its title.
  const apply = issue.locator(".make-room-apply");
  await expect(apply).toBeEnabled();
  const summary = (await apply.getAttribute("title")) ?? "";
  expect(summary).toMatch(/1g\.20gb/);
  await apply.click();
  // It saves the node's new layout, reconfigures that node, then deploys: the deployment's page opens.
  await expect(page).toHaveURL(/\/deployments\/\d+$/, { timeout: 90_000 });
  const id = Number(page.url().split("/").pop());
  await waitForHydration(page);
  let placed: { node: string; profile: string } | undefined;
  await expect
    .poll(async () => {
      placed = (await (await request.get(`/api/v1/deployments/${id}`)).json()).placements?.[0];
      return placed?.profile ?? "";
    }, { timeout: 30_000 })
    .toBe("1g.20gb");
  const node = placed!.node;
  await expect(page.locator('#placements tr[data-replica="0"] .replica-state')).toHaveText("running");
  // The node now has the custom config made for it, a 1g.20gb instance among its slices.
  const fleet = await (await request.get("/api/v1/fleet")).json();
  const recut = fleet.nodes.find((n: { name: string }) => n.name === node);
  expect(recut.mig_config).toBe(`room-${node}-1g.20gb`);
  expect(recut.gpus.some((g: { instances: { profile: string }[] }) => g.instances.some((i) => i.profile === "1g.20gb"))).toBe(true);
  await page.screenshot({ path: "test-results/screenshots/blueprints-make-room.png", fullPage: true });

  // Put things back as the later specs expect them: the replica away, the node on all-balanced,
  // and the config made for it deleted.
  await undeployAndWait(request, id);
  const back = await request.post("/api/v1/deployments", {
    data: { recipe_mode: "update", deployment_name: "make-room-back", recipe_node_name: node, shared_node_pool_mig_config: "all-balanced" },
  });
  expect(back.status()).toBe(201);
  const backId = (await back.json()).id;
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${backId}`)).json()).deployment.status, { timeout: 30_000 }).toBe("completed");
  expect((await request.delete(`/api/v1/mig-configs/${recut.mig_config}`)).status()).toBe(204);
  expect(errors).toEqual([]);
});
