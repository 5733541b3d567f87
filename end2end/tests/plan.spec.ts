import { expect, test, type Page } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";
import { center, chip, drag, instance, slot } from "./planner-board";

// The slice planner (/plan): drag-to-plan with live placement rules, named configs, the summary,
// the keyboard path, shared links, and the narrow layout. Screenshots of each state go to
// test-results/screenshots/plan-*.png.

async function openPlanner(page: Page, query = "") {
  await page.goto(`/plan${query}`);
  await waitForHydration(page);
  // The planner is a lazily loaded route: its controls work once it has hydrated too (a change
  // before then is lost), and the named configs arrive with the page.
  await expect(page.locator("#model")).toHaveAttribute("data-ready", "true");
  await expect(page.locator("#named-config")).toBeVisible();
}

async function perNode(page: Page, profile: string) {
  return page.locator(`#summary-counts tr[data-profile="${profile}"] .per-node`);
}

test("drag profiles onto a GPU: allowed starts accept, others refuse with the reason", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await openPlanner(page);
  await expect(page.locator(".gpu")).toHaveCount(8);
  await expect(page.locator("#summary-empty")).toBeVisible();

  // 3g.40gb onto GPU 0, memory slice 4: allowed.
  await slot(page, 0, 4).scrollIntoViewIfNeeded();
  await drag(page, chip(page, "3g.40gb"), slot(page, 0, 4));
  await expect(instance(page, 0, "3g.40gb", 4)).toBeVisible();
  await expect(page.locator("#plan-notice")).toHaveAttribute("data-kind", "done");
  await expect(page.locator("#plan-notice")).toHaveText("Placed 3g.40gb on GPU 0 at memory slice 4");
  await page.screenshot({ path: "test-results/screenshots/plan-1-3g-placed.png" });

  // 4g.40gb: while dragging, the valid starts light up and the others are marked.
  await drag(page, chip(page, "4g.40gb"), slot(page, 0, 4), false);
  await expect(page.locator("#board")).toHaveClass(/dragging/);
  await expect(slot(page, 0, 0)).toHaveClass(/\bok\b/); // 4g.40gb@0 would not overlap slices 4-7
  await expect(slot(page, 0, 4)).toHaveClass(/\bbad\b/);
  await expect(slot(page, 0, 4)).toHaveClass(/hover-bad/);
  await expect(slot(page, 1, 0)).toHaveClass(/\bok\b/);
  await expect(slot(page, 1, 1)).toHaveClass(/\bbad\b/);
  await expect(page.locator(".ghost")).toContainText("cannot start at memory slice 4");
  await page.screenshot({ path: "test-results/screenshots/plan-2-dragging-4g.png" });
  await page.mouse.up();
  await expect(page.locator("#plan-notice")).toHaveAttribute("data-kind", "refused");
  await expect(page.locator("#plan-notice")).toHaveText(
    "GPU 0: 4g.40gb cannot start at memory slice 4; it may start only at 0",
  );
  await expect(page.locator('#gpu-0 .inst[data-profile="4g.40gb"]')).toHaveCount(0);
  await expect(page.locator("#board")).not.toHaveClass(/dragging/);
  await page.screenshot({ path: "test-results/screenshots/plan-3-4g-refused.png" });

  // Overlap is refused with the instance in the way named.
  await drag(page, chip(page, "2g.20gb"), slot(page, 0, 4));
  await expect(page.locator("#plan-notice")).toContainText("would overlap the 3g.40gb at slice 4");

  // Move the 3g.40gb to GPU 1 by dragging it; then drag it off the GPUs to remove it.
  await drag(page, instance(page, 0, "3g.40gb", 4), slot(page, 1, 0));
  await expect(instance(page, 1, "3g.40gb", 0)).toBeVisible();
  await expect(page.locator("#gpu-0 .inst")).toHaveCount(0);
  await expect(page.locator("#plan-notice")).toHaveText("Moved 3g.40gb from GPU 0 slice 4 to GPU 1 slice 0");
  await drag(page, instance(page, 1, "3g.40gb", 0), page.locator("#palette-title"));
  await expect(page.locator(".inst")).toHaveCount(0);
  await expect(page.locator("#plan-notice")).toHaveText("Removed 3g.40gb from GPU 1");

  // Undo brings it back where it was; redo removes it again.
  await page.locator("#undo").click();
  await expect(instance(page, 1, "3g.40gb", 0)).toBeVisible();
  await page.locator("#redo").click();
  await expect(page.locator(".inst")).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("dragging works whatever text is selected, and a cancelled drag resets cleanly", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await openPlanner(page);
  // The palette's help line, triple-clicked: the chips' own text is not in it.
  await page.locator(".palette .hint").click({ clickCount: 3 });
  await drag(page, chip(page, "3g.40gb"), slot(page, 0, 4));
  await expect(instance(page, 0, "3g.40gb", 4)).toBeVisible();
  // Everything selected (the chips' text too): a press on selected text must still drag a profile.
  await page.locator(".palette .hint").click();
  await page.keyboard.press("Control+A");
  expect((await page.evaluate(() => window.getSelection()?.toString() ?? "")).length).toBeGreaterThan(100);
  await drag(page, chip(page, "2g.20gb"), slot(page, 1, 2));
  await expect(instance(page, 1, "2g.20gb", 2)).toBeVisible();
  // An instance is moved the same way while text is selected.
  await page.keyboard.press("Control+A");
  await drag(page, instance(page, 1, "2g.20gb", 2), slot(page, 1, 4));
  await expect(instance(page, 1, "2g.20gb", 4)).toBeVisible();
  // A drag the browser cancels leaves nothing held: the next press and drag work at once.
  await page.mouse.move(10, 10);
  await page.mouse.down();
  await page.evaluate(() => window.dispatchEvent(new PointerEvent("pointercancel", { bubbles: true })));
  await page.mouse.up();
  await expect(page.locator(".dragging, .drag-ghost")).toHaveCount(0);
  await drag(page, chip(page, "1g.10gb"), slot(page, 2, 0));
  await expect(instance(page, 2, "1g.10gb", 0)).toBeVisible();
  expect(errors).toEqual([]);
});

test("a +me slice is named as the device plugin advertises it (no + in a resource name)", async ({ page }) => {
  const errors = watchErrors(page);
  await openPlanner(page);
  await page.locator("#named-config").selectOption("all-1g.10gb.me");
  await page.locator("#config-target").selectOption("all");
  await page.locator("#apply-config").click();
  await expect(await perNode(page, "1g.10gb+me")).toHaveText("8");
  await expect(page.locator("#resources")).toHaveText("nvidia.com/mig-1g.10gb.me: 8");
  expect(errors).toEqual([]);
});

test("all-balanced on every GPU: the summary counts a node and the pool", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await openPlanner(page);
  await page.locator("#named-config").selectOption("all-balanced");
  await page.locator("#config-target").selectOption("all");
  await page.locator("#apply-config").click();
  await expect(page.locator("#plan-notice")).toHaveText("Applied all-balanced to every GPU");
  await expect(await perNode(page, "1g.10gb")).toHaveText("16");
  await expect(await perNode(page, "2g.20gb")).toHaveText("8");
  await expect(await perNode(page, "3g.40gb")).toHaveText("8");
  await expect(page.locator("#config-match")).toHaveText("all-balanced");
  await expect(page.locator("#compute-used")).toHaveText("56 / 56 (100%)");
  await expect(page.locator("#stranded")).toHaveText("0 compute, 0 memory (0 GiB)");
  await expect(page.locator("#resources")).toHaveText(
    "nvidia.com/mig-1g.10gb: 16\nnvidia.com/mig-2g.20gb: 8\nnvidia.com/mig-3g.40gb: 8",
  );
  // The pool multiplies.
  await page.locator("#pool-nodes").fill("3");
  await page.locator("#pool-nodes").press("Tab");
  await expect(page.locator('#summary-counts tr[data-profile="1g.10gb"] .per-pool')).toHaveText("48");
  // The export is a shared_node_pool blueprint naming the config.
  await expect(page.locator("#export-blueprint")).toContainText('"shared_node_pool_mig_config": "all-balanced"');
  await expect(page.locator("#export-blueprint")).toContainText('"shared_node_pool_size": 3');
  await expect(page.locator("#open-in-editor")).toHaveAttribute("href", /^\/blueprints\?json=.*all-balanced/);
  await page.screenshot({ path: "test-results/screenshots/plan-4-all-balanced.png", fullPage: true });

  // One GPU changed: the plan is custom and the blueprint export says why it cannot be one.
  await page.locator("#config-target").selectOption("5");
  await page.locator("#named-config").selectOption("all-7g.80gb");
  await page.locator("#apply-config").click();
  await expect(page.locator("#config-match")).toHaveText("custom (GPUs differ)");
  await expect(page.locator("#export-blueprint-note")).toContainText("export the mig-parted YAML");
  await page.locator("#tab-yaml").click();
  await expect(page.locator("#export-yaml")).toContainText('"7g.80gb": 1');
  await expect(page.locator("#export-yaml")).toContainText("devices: [5]");
  // The gallery lists valid layouts; picking one applies it to the chosen GPU.
  await page.locator("#gallery .combo", { hasText: "7 × 1g.10gb" }).first().click();
  await expect(page.locator("#gpu-5 .inst")).toHaveCount(7);
  expect(errors).toEqual([]);
});

/** Presses Tab until `predicate` holds for the focused element; fails after `max` presses. */
async function tabTo(page: Page, predicate: string, key: "Tab" | "Shift+Tab" = "Tab", max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const hit = await page.evaluate((p) => {
      const el = document.activeElement as HTMLElement | null;
      return !!el && (el.matches(p) as boolean);
    }, predicate);
    if (hit) return;
  }
  throw new Error(`no focusable element matching ${predicate} within ${max} Tab presses`);
}

test("the same by keyboard only", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await openPlanner(page);
  await page.locator("body").focus();

  // Pick 3g.40gb, arrow to GPU 0 slice 4, Enter.
  await tabTo(page, '.chip[data-profile="3g.40gb"]');
  await page.keyboard.press("Enter");
  await expect(chip(page, "3g.40gb")).toHaveAttribute("aria-pressed", "true");
  await expect(slot(page, 0, 0)).toBeFocused();
  for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowRight");
  await expect(slot(page, 0, 4)).toBeFocused();
  await expect(slot(page, 0, 4)).toHaveAttribute("aria-label", "GPU 0, memory slice 4: 3g.40gb can start here");
  await page.keyboard.press("Enter");
  await expect(instance(page, 0, "3g.40gb", 4)).toBeVisible();

  // 4g.40gb at slice 4: refused, with the reason announced.
  await tabTo(page, '.chip[data-profile="4g.40gb"]', "Shift+Tab");
  await page.keyboard.press("Enter");
  await expect(slot(page, 0, 4)).toBeFocused(); // the cursor stayed where the last drop went
  await expect(slot(page, 0, 4)).toHaveAttribute("aria-label", /cannot start at memory slice 4/);
  await page.keyboard.press("Enter");
  await expect(page.locator("#plan-notice")).toHaveAttribute("data-kind", "refused");
  await expect(page.locator("#plan-notice")).toContainText("4g.40gb cannot start at memory slice 4");
  await page.keyboard.press("Escape");
  await expect(chip(page, "4g.40gb")).toHaveAttribute("aria-pressed", "false");

  // Pick the 3g.40gb up, move it to GPU 1 slice 0, then delete it there.
  await page.keyboard.press("Enter");
  await page.keyboard.press("ArrowDown");
  for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowLeft");
  await expect(slot(page, 1, 0)).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(instance(page, 1, "3g.40gb", 0)).toBeVisible();
  await page.keyboard.press("Delete");
  await expect(page.locator(".inst")).toHaveCount(0);
  await page.keyboard.press("Control+z");
  await expect(instance(page, 1, "3g.40gb", 0)).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/plan-5-keyboard.png" });

  // all-balanced on every GPU, by keyboard.
  await tabTo(page, "#named-config", "Shift+Tab");
  await page.keyboard.type("all-balanced");
  await expect(page.locator("#named-config")).toHaveValue("all-balanced");
  await tabTo(page, "#apply-config");
  await page.keyboard.press("Enter");
  await expect(await perNode(page, "1g.10gb")).toHaveText("16");
  await expect(await perNode(page, "2g.20gb")).toHaveText("8");
  await expect(await perNode(page, "3g.40gb")).toHaveText("8");
  await expect(page.locator("#config-match")).toHaveText("all-balanced");
  await page.screenshot({ path: "test-results/screenshots/plan-6-keyboard-balanced.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("the shared link restores the exact plan, rendered by the server", async ({ page, request }) => {
  const errors = watchErrors(page);
  await openPlanner(page);
  await drag(page, chip(page, "3g.40gb"), slot(page, 2, 4));
  await drag(page, chip(page, "1g.10gb+me"), slot(page, 2, 0));
  await page.locator('[data-gpu-row="7"] .btn-mini', { hasText: "MIG off" }).click();
  await page.locator("#pool-nodes").fill("4");
  await page.locator("#pool-nodes").press("Tab");
  await page.locator("#tab-link").click();
  const link = await page.locator("#share-link").inputValue();
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/plan\?shape=BM\.GPU\.H100\.8&layout=/);
  expect(link).toContain("1g.10gb%2Bme@0");
  expect(link).toContain("nodes=4");
  // The address bar follows the plan too.
  expect(page.url()).toBe(link);

  // Server-rendered: the HTML itself holds the plan, before any wasm runs.
  const html = await (await request.get(link)).text();
  expect(html).toContain('data-profile="3g.40gb" data-start="4" data-gpu-of="2"');
  expect(html).toContain('data-profile="1g.10gb+me" data-start="0" data-gpu-of="2"');
  expect(html).toContain('data-gpu-row="7" data-mig="false"');

  await page.goto(link);
  await expect(page.locator("#live-status")).toHaveAttribute("data-hydrated", "true");
  await expect(instance(page, 2, "3g.40gb", 4)).toBeVisible();
  await expect(instance(page, 2, "1g.10gb+me", 0)).toBeVisible();
  await expect(page.locator('[data-gpu-row="7"]')).toHaveAttribute("data-mig", "false");
  await expect(page.locator("#pool-nodes")).toHaveValue("4");
  await expect(page.locator(".inst")).toHaveCount(2);
  await page.screenshot({ path: "test-results/screenshots/plan-7-shared-link.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("a broken link says what is wrong and falls back to an empty plan", async ({ page }) => {
  await openPlanner(page, "?shape=BM.GPU.H100.8&layout=4g.40gb@4*8");
  await expect(page.locator("#link-error")).toContainText(
    "link parameter `layout`: GPU 0: instance 0: 4g.40gb cannot start at memory slice 4; it may start at 0",
  );
  await expect(page.locator(".gpu")).toHaveCount(8);
  await expect(page.locator(".inst")).toHaveCount(0);
});

test("other models and custom nodes", async ({ page }) => {
  await openPlanner(page);
  await page.locator("#model").selectOption("a100-40gb");
  await expect(page.locator("#shape")).toHaveValue("BM.GPU4.8");
  await expect(chip(page, "1g.5gb")).toBeVisible();
  await page.locator("#shape").selectOption("custom");
  await page.locator("#gpu-count").fill("2");
  await page.locator("#gpu-count").press("Tab");
  await expect(page.locator(".gpu")).toHaveCount(2);
  await page.locator("#named-config").selectOption("all-1g.5gb");
  await page.locator("#apply-config").click();
  await expect(page.locator("#gpu-1 .inst")).toHaveCount(7);
  await page.locator("#tab-blueprint").click();
  await expect(page.locator("#export-blueprint-note")).toContainText("needs an OCI shape");
});

test("narrow screens: the planner fits 390 px and taps place profiles", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await openPlanner(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  // Tap a profile, then tap a slot.
  await chip(page, "2g.20gb").click();
  await slot(page, 0, 2).click();
  await expect(instance(page, 0, "2g.20gb", 2)).toBeVisible();
  const bar = await page.locator("#gpu-0").boundingBox();
  expect(bar!.x + bar!.width).toBeLessThanOrEqual(390);
  await page.screenshot({ path: "test-results/screenshots/plan-8-narrow.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("the planner's code is a separate chunk that other pages do not download", async ({ page }) => {
  const wasm: string[] = [];
  page.on("request", (r) => {
    // A module by itself (`/pkg/split_….wasm`), or in the pack a load asks for (`/pkg/pack?m=…,split_….wasm`).
    if (r.url().endsWith(".wasm")) wasm.push(decodeURIComponent(new URL(r.url()).pathname + new URL(r.url()).search));
  });
  await page.goto("/");
  await expect(page.locator("#live-status")).toHaveAttribute("data-hydrated", "true");
  expect(wasm).toContain("/pkg/migboard.wasm");
  expect(wasm.filter((p) => p.includes("plan_route"))).toEqual([]);
  // Client-side navigation fetches the chunk, and the planner works.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Plan" }).click();
  await expect(chip(page, "3g.40gb")).toBeVisible();
  await expect.poll(() => wasm.filter((p) => p.includes("plan_route")).length).toBe(1);
  await drag(page, chip(page, "3g.40gb"), slot(page, 0, 4));
  await expect(instance(page, 0, "3g.40gb", 4)).toBeVisible();
});

test("touch: a finger drags a profile onto a GPU", async ({ browser }) => {
  const context = await browser.newContext({ storageState: ".auth/admin.json", hasTouch: true, isMobile: true, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await openPlanner(page);
  const target = slot(page, 0, 4);
  await target.evaluate((el) => el.scrollIntoView({ block: "center" }));
  // On a phone the palette scrolls sideways: bring the chip into view first.
  await chip(page, "3g.40gb").evaluate((el) => el.scrollIntoView({ inline: "center", block: "nearest" }));
  const a = await center(chip(page, "3g.40gb"));
  const b = await center(target);
  // Real touch input through the DevTools protocol: the browser turns it into pointer events
  // (pointerType "touch"), which is what the planner listens to.
  const cdp = await context.newCDPSession(page);
  const touch = (type: string, x: number, y: number) =>
    cdp.send("Input.dispatchTouchEvent", {
      type,
      touchPoints: type === "touchEnd" ? [] : [{ x: Math.round(x), y: Math.round(y) }],
    });
  await touch("touchStart", a.x, a.y);
  for (let i = 1; i <= 10; i++) await touch("touchMove", a.x + ((b.x - a.x) * i) / 10, a.y + ((b.y - a.y) * i) / 10);
  await expect(page.locator("#board")).toHaveClass(/dragging/);
  await touch("touchEnd", b.x, b.y);
  await expect(instance(page, 0, "3g.40gb", 4)).toBeVisible();
  await expect(page.locator("#plan-notice")).toHaveText("Placed 3g.40gb on GPU 0 at memory slice 4");
  await context.close();
});

test("the result of a drop is in view while working on GPU 0, whatever the window's height (#22 item 6)", async ({ page }) => {
  const errors = watchErrors(page);
  for (const [gpu, height] of [[0, 900], [1, 700]]) {
    await page.setViewportSize({ width: 1400, height });
    await openPlanner(page);
    await page.evaluate(() => window.scrollTo(0, 0));
    await slot(page, gpu, 0).scrollIntoViewIfNeeded();
    await drag(page, chip(page, "1g.10gb"), slot(page, gpu, 6));
    await expect(page.locator("#plan-notice")).toHaveText(`Placed 1g.10gb on GPU ${gpu} at memory slice 6`);
    await expect(page.locator("#plan-notice")).toBeInViewport({ ratio: 1 });
    // A refusal too (slice 6 is taken now).
    await drag(page, chip(page, "1g.10gb"), slot(page, gpu, 6));
    await expect(page.locator("#plan-notice")).toHaveAttribute("data-kind", "refused");
    await expect(page.locator("#plan-notice")).toBeInViewport({ ratio: 1 });
    await expect(slot(page, gpu, 0)).toBeInViewport();
  }
  await page.screenshot({ path: "test-results/screenshots/plan-notice-in-view.png" });
  expect(errors).toEqual([]);
});

test("planner labels say what they do and fit the GPU in the plan (#22 item 11, part)", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  await openPlanner(page);
  // A button that changes MIG mode says so (it read like a status).
  await expect(page.locator('[data-gpu-row="0"] .gpu-actions .btn-mini').first()).toHaveText("Turn MIG off");
  // The sizing card names the guide, and one byte is "1 byte".
  await page.locator("#sizing-precision").selectOption("fp8");
  await expect(page.locator(".sizing")).toContainText("OCI AI Blueprints' MIG guide");
  await expect(page.locator(".sizing .assumptions")).toContainText("× 1 byte (Fp8)");
  // On a full plan, "Fill free space" is off and says why (it reported "Added 0 × …").
  await page.locator("#named-config").selectOption("all-1g.10gb");
  await page.locator("#config-target").selectOption("all");
  await page.locator("#apply-config").click();
  await expect(page.locator("#sizing-fill")).toBeDisabled();
  await expect(page.locator("#sizing-fill")).toHaveText(/^No free space for a \d+g\.\d+gb/);
  // The bandwidth note's example is this GPU's own profile: 1g.35gb on an H200, not the H100's 1g.20gb.
  await openPlanner(page, "?shape=BM.GPU.H200.8");
  await page.locator("#named-config").selectOption("all-balanced");
  await page.locator("#config-target").selectOption("all");
  await page.locator("#apply-config").click();
  await expect(page.locator("#throughput")).toContainText("(a 1g.35gb gets 2/8)");
  await expect(page.locator("#throughput")).not.toContainText("1g.20gb");
  expect(errors).toEqual([]);
});

test("the export shows the whole blueprint and its link keeps the deployment name (#22 item 11, part)", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  await openPlanner(page);
  // What the select does, not what the board is (an empty board is all-enabled, the select offers all-balanced).
  await expect(page.locator("#named-config-label")).toHaveText("Apply a named config");
  await page.locator("#named-config").selectOption("all-balanced");
  await page.locator("#config-target").selectOption("all");
  await page.locator("#apply-config").click();
  await page.locator("#export-name").fill("chat-pool");
  const blueprint = page.locator("#export-blueprint");
  await expect(blueprint).toContainText('"deployment_name": "chat-pool"');
  const clipped = await blueprint.evaluate((e) => e.scrollWidth > e.clientWidth + 1);
  expect(clipped).toBe(false);
  await page.locator("#tab-link").click();
  const link = await page.locator("#share-link").inputValue();
  expect(link).toContain("&name=chat-pool");
  await page.goto(link);
  await waitForHydration(page);
  await expect(page.locator("#export-name")).toHaveValue("chat-pool");
  await expect(page.locator("#export-blueprint")).toContainText('"deployment_name": "chat-pool"');
  expect(errors).toEqual([]);
});
