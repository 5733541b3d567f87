import { expect, test } from "@playwright/test";
import { deployOneReplica, undeployAndWait, watchErrors, waitForHydration } from "./helpers";

// The fleet page against the embedded fleet: real node agents on simulated GPUs, started by the server.

test("the fleet page draws every node and GPU of the embedded fleet with its live layout", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/");
  await waitForHydration(page);
  await expect(page.locator("#server-backend")).toContainText("embedded fleet (simulated GPUs, real agents)");
  await expect(page.locator("#fleet-summary")).toHaveText("2 pools · 3 nodes · 24 GPUs");
  // h100migpool runs all-balanced: per GPU 2 × 1g.10gb, 1 × 2g.20gb, 1 × 3g.40gb; a100-pool all-1g.5gb.
  const h100 = page.locator('.fleet-node[data-node="10.0.10.11"]');
  await expect(h100.locator(".fleet-config")).toHaveText("all-balanced");
  await expect(h100.locator(".fleet-gpu")).toHaveCount(8);
  await expect(h100.locator('.fleet-gpu[data-gpu="0"] .fleet-inst')).toHaveCount(4);
  await expect(h100.locator('.fleet-gpu[data-gpu="0"] .fleet-inst[data-profile="3g.40gb"]')).toHaveAttribute("data-start", "4");
  await expect(page.locator('#fleet-totals tr[data-profile="1g.10gb"] .free')).toHaveText("32");
  await expect(page.locator('#fleet-totals tr[data-profile="1g.5gb"] .free')).toHaveText("56");
  await expect(page.locator('.fleet-node[data-node="10.0.20.11"] .fleet-config')).toHaveText("all-1g.5gb");
  await page.screenshot({ path: "test-results/screenshots/fleet.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("the fleet page shows a placement and its removal as they happen, not at its next poll (#22 item 8)", async ({ page, request }) => {
  const errors = watchErrors(page);
  await page.goto("/");
  await waitForHydration(page);
  const used = page.locator('#fleet-totals tr[data-profile="1g.10gb"] .used');
  await expect(used).toHaveText("0");
  // Placed within a second or so: the page reads the fleet again on the server's `fleet` event
  // (it polled every 5 s, so this waited up to 5 s).
  const { id } = await deployOneReplica(request, "fleet-live");
  await expect(used).toHaveText("1", { timeout: 2_500 });
  await expect(page.locator(".fleet-inst.busy")).toHaveCount(1);
  await undeployAndWait(request, id);
  await expect(used).toHaveText("0", { timeout: 2_500 });
  expect(errors).toEqual([]);
});

/** WCAG contrast ratio of two CSS colours as getComputedStyle reports them (`rgb(…)`, `rgba(…)`, `color(srgb …)`). */
function contrast(fg: string, bg: string): number {
  const channels = (c: string): number[] => {
    const srgb = c.match(/color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)/);
    if (srgb) return srgb.slice(1, 4).map(Number);
    const rgb = c.match(/rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)/);
    if (rgb) return rgb.slice(1, 4).map((v) => Number(v) / 255);
    throw new Error(`unparsed colour ${c}`);
  };
  const lum = (c: string) => {
    const [r, g, b] = channels(c).map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}

test("the fleet at a glance: per-pool use first, a legend, whole slice labels at every width, the replica on its slice (#22 item 7)", async ({ page, request }) => {
  const errors = watchErrors(page);
  const { id } = await deployOneReplica(request, "glance-replica");
  for (const scheme of ["light", "dark"] as const) {
    // 1000 and 1240 px: just wide enough for two and three GPUs a row, where slices are narrowest.
    for (const width of [1400, 1240, 1000, 390]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: 900 });
      await page.goto("/");
      await waitForHydration(page);
      // Use per pool comes first, the server's facts last.
      const use = page.locator("#pool-use");
      const status = page.locator(".status-card");
      expect((await use.boundingBox())!.y).toBeLessThan((await status.boundingBox())!.y);
      expect((await use.boundingBox())!.y).toBeLessThan((await page.locator(".fleet-pool").first().boundingBox())!.y);
      const h100 = use.locator('.pool-use[data-pool="h100migpool"]');
      await expect(h100.locator('tr[data-profile="1g.10gb"] .used')).toHaveText("1");
      await expect(h100.locator('tr[data-profile="1g.10gb"] .free')).toHaveText("31");
      await expect(h100.locator('tr[data-profile="1g.10gb"] .use-bar')).toHaveAttribute("aria-label", "1 of 32 in use");
      // A100 40GB on all-1g.5gb: 7 instances cover 7 of 8 memory slices, so 8 slices are stranded.
      await expect(use.locator('.pool-use[data-pool="a100-pool"] tr.stranded')).toHaveAttribute("data-stranded", "8");
      await expect(page.locator('.fleet-node[data-node="10.0.20.11"] .fleet-gap')).toHaveCount(8);
      await expect(page.locator("#fleet-legend li")).toHaveCount(4);
      // The replica is named on its slice, not only in a tooltip.
      await expect(page.locator(".fleet-inst.busy .inst-owner")).toContainText("glance-replica");
      // Every slice label is whole: its text fits its box (no "1g.1…").
      const cut = await page.locator(".fleet-inst .inst-profile").evaluateAll((els) =>
        els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.parentElement!.scrollWidth > e.parentElement!.clientWidth + 1).map((e) => e.textContent),
      );
      expect(cut, `${scheme} ${width}px`).toEqual([]);
      // Text on free and busy slices reads at 4.5:1 or better.
      for (const sel of [".fleet-inst:not(.busy):not(.fleet-whole)", ".fleet-inst.busy"]) {
        const [fg, bg] = await page.locator(sel).first().evaluate((e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);
        expect(contrast(fg, bg), `${sel} ${scheme}: ${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
      await page.screenshot({ path: `test-results/screenshots/fleet-glance-${scheme}-${width}.png`, fullPage: width > 1000 });
    }
  }
  await undeployAndWait(request, id);
  expect(errors).toEqual([]);
});

test("config names, nodes and pools lead to the planner, whose export updates that node or pool (#22 item 9)", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/");
  await waitForHydration(page);
  const config = page.locator('.fleet-node[data-node="10.0.10.11"] a.fleet-config');
  await expect(config).toHaveText("all-balanced");
  await expect(page.locator('.fleet-node[data-node="10.0.10.11"] a.fleet-node-name')).toHaveAttribute("href", "/fleet/nodes/10.0.10.11");
  await config.click();
  await expect(page).toHaveURL(/\/plan\?.*update=node%3A10\.0\.10\.11/);
  await waitForHydration(page);
  await expect(page.locator("#export-as-update")).toBeChecked();
  let exported = JSON.parse(await page.locator("#export-blueprint").innerText());
  expect(exported).toEqual({ recipe_mode: "update", deployment_name: "update-10.0.10.11", recipe_node_name: "10.0.10.11", shared_node_pool_mig_config: "all-balanced" });

  await page.goto("/");
  await waitForHydration(page);
  await page.locator('.pool-use[data-pool="h100migpool"] .open-in-planner').click();
  await expect(page).toHaveURL(/\/plan\?.*nodes=2.*update=pool%3Ah100migpool/);
  await waitForHydration(page);
  exported = JSON.parse(await page.locator("#export-blueprint").innerText());
  expect(exported).toEqual({ recipe_mode: "update", deployment_name: "update-h100migpool", recipe_node_pool_name: "h100migpool", shared_node_pool_mig_config: "all-balanced" });
  // A new pool instead, from the same plan.
  await page.locator("#export-as-pool").check();
  await expect(page.locator("#export-blueprint")).toContainText('"recipe_mode": "shared_node_pool"');
  await expect(page.locator("#export-blueprint")).toContainText('"shared_node_pool_size": 2');
  expect(errors).toEqual([]);
});
