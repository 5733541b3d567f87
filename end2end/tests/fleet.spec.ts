import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// The fleet page against the embedded fleet: real node agents on simulated GPUs, started by the server.

test("the fleet page draws every node and GPU of the embedded fleet with its live layout", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/");
  await waitForHydration(page);
  await expect(page.locator("#server-backend")).toContainText("embedded fleet (simulated GPUs, real agents)");
  await expect(page.locator("#fleet-summary")).toHaveText("2 pools · 3 nodes · 24 GPUs");
  // h100-pool runs all-balanced: per GPU 2 × 1g.10gb, 1 × 2g.20gb, 1 × 3g.40gb; a100-pool all-1g.5gb.
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
  const blueprint = JSON.parse(readFileSync("../mig/data/oci-blueprints/mig_inference_single_replica_10gb.json", "utf8"));
  blueprint.deployment_name = "fleet-live";
  const made = await request.post("/api/v1/deployments", { data: blueprint });
  expect(made.status()).toBe(201);
  const id = (await made.json()).id;
  // Placed within a second or so: the page reads the fleet again on the server's `fleet` event
  // (it polled every 5 s, so this waited up to 5 s).
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).placements?.length ?? 0).toBe(1);
  await expect(used).toHaveText("1", { timeout: 2_500 });
  await expect(page.locator(".fleet-inst.busy")).toHaveCount(1);
  expect((await request.post(`/api/v1/deployments/${id}/undeploy`)).status()).toBe(202);
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.status).toBe("undeployed");
  await expect(used).toHaveText("0", { timeout: 2_500 });
  expect(errors).toEqual([]);
});
