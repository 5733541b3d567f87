import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// The fleet planner (#17): five workloads entered in the table, the GPU count proven optimal, the
// saving over both baselines and the layouts drawn; the shared URL re-solves to the same answer (and the
// REST API agrees with the browser); the layouts saved as custom configs and written as pool blueprints.
// Screenshots: test-results/screenshots/capacity-*.png.

const MIX = [
  { name: "support-chat", model: "Llama-3.1-8B", precision: "bf16", context: "4096", concurrency: "8", tps: "20000" },
  { name: "code-assist", model: "Qwen2.5-7B", precision: "fp8", context: "8192", concurrency: "4", replicas: "24" },
  { name: "summarise", model: "Mistral-7B-v0.3", precision: "bf16", context: "4096", concurrency: "1", replicas: "30" },
  { name: "classify", model: "Llama-3.2-1B", precision: "bf16", context: "2048", concurrency: "1", replicas: "60" },
  { name: "embed", model: "Llama-3.2-3B", precision: "int8", context: "1024", concurrency: "1", replicas: "40" },
];

test("enter five workloads, read the optimal fleet and the saving, share it, and save its layouts", async ({ page, request }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.goto("/capacity");
  await waitForHydration(page);
  await expect(page.locator("#capacity-empty")).toBeVisible();

  for (const [i, w] of MIX.entries()) {
    await page.locator("#add-workload").click();
    const row = page.locator("#workloads tr.workload").nth(i);
    await row.locator(".w-name").fill(w.name);
    await row.locator(".w-model").selectOption(w.model);
    await row.locator(".w-precision").selectOption(w.precision);
    await row.locator(".w-context").fill(w.context);
    await row.locator(".w-concurrency").fill(w.concurrency);
    if (w.tps) await row.locator(".w-tps").fill(w.tps);
    else await row.locator(".w-replicas").fill(w.replicas!);
  }
  await expect(page.locator("#workloads tr.workload")).toHaveCount(5);

  const gpusText = page.locator("#plan-gpus");
  await expect(gpusText).toHaveText(/^\d+ GPUs$/);
  const gpus = Number(await gpusText.getAttribute("data-gpus"));
  expect(gpus).toBeGreaterThan(0);
  await expect(page.locator("#plan-optimal")).toContainText(`Proven optimal: no answer uses fewer than ${gpus} GPUs`);
  await expect(page.locator("#plan-saving")).toContainText(/^Saves \d+ GPUs \(\d+ %\) over one pool per profile/);
  // The layouts drawn account for every GPU, and each workload has its throughput row.
  const counts = await page.locator("#plan-layouts .layout-group").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-count"))));
  expect(counts.reduce((a, b) => a + b, 0)).toBe(gpus);
  await expect(page.locator("#plan-throughput tbody tr")).toHaveCount(5);
  await expect(page.locator('#plan-throughput tr[data-workload="support-chat"]')).toContainText("memory bandwidth");
  // The baselines are drawn as bars: none shorter than this plan's.
  const uniform = Number((await page.locator("#cmp-uniform .cmp-value").textContent())!.replace(/\D/g, ""));
  expect(uniform).toBeGreaterThan(gpus);
  await page.screenshot({ path: "test-results/screenshots/capacity-1-answer.png", fullPage: true });

  // The address bar carries the request: a reload re-solves it to the same answer.
  await expect(page).toHaveURL(/\/capacity\?q=/);
  const url = page.url();
  const q = new URL(url).searchParams.get("q")!;
  await page.goto(url);
  await waitForHydration(page);
  await expect(page.locator("#workloads tr.workload")).toHaveCount(5);
  await expect(page.locator("#workloads tr.workload").nth(3).locator(".w-name")).toHaveValue("classify");
  await expect(page.locator("#plan-gpus")).toHaveAttribute("data-gpus", String(gpus));
  // The server's planner, asked the same over REST, agrees with the browser's.
  const api = await request.post("/api/v1/fleet-plans", { data: JSON.parse(q) });
  expect(api.status()).toBe(200);
  const body = await api.json();
  expect(body.gpus).toBe(gpus);
  expect(body.optimal).toBe(true);

  // Save the layouts as custom configs, then write the pool blueprints that name them.
  await page.locator("#config-prefix").fill("e2e-cap");
  await page.locator("#save-configs").click();
  await expect(page.locator("#saved-configs")).toContainText("e2e-cap-1 v1");
  const saved = await request.get("/api/v1/mig-configs/e2e-cap-1");
  expect(saved.status()).toBe(200);
  expect((await saved.json()).source).toBe("custom");
  await page.locator("#pool-blueprints").click();
  await expect(page.locator("#blueprint-list .blueprint-out")).toHaveCount(counts.length);
  await expect(page.locator("#blueprint-list .blueprint-out").first()).toContainText('"shared_node_pool_mig_config": "e2e-cap-1"');
  await page.locator("#capacity-actions").scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/capacity-2-saved.png", fullPage: true });

  // Leave the fleet's catalogue as the other specs expect it.
  for (let i = 1; i <= counts.length; i++) {
    expect((await request.delete(`/api/v1/mig-configs/e2e-cap-${i}`)).status()).toBe(204);
  }
  expect(errors).toEqual([]);
});

test("bad input says where, and a phone shows the answer", async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: "dark" });
  const req = { model: "h100-80gb", demand: { "1g.10gb": 59, "2g.20gb": 10, "3g.40gb": 21 }, gpus_per_node: 8 };
  await page.goto(`/capacity?q=${encodeURIComponent(JSON.stringify(req))}`);
  await waitForHydration(page);
  await expect(page.locator("#plan-optimal")).toContainText("Proven optimal");
  await expect(page.locator("#demand-1g\\.10gb")).toHaveValue("59");
  await page.screenshot({ path: "test-results/screenshots/capacity-3-phone-dark.png", fullPage: true });
  // A workload no slice holds: the issue names the row.
  await page.locator("#add-workload").click();
  await page.locator("#workloads tr.workload").first().locator(".w-model").selectOption("Llama-3.1-70B");
  await expect(page.locator("#plan-issues")).toContainText("/workloads/0");
  await expect(page.locator("#plan-issues")).toContainText("cannot be joined");
  expect(errors).toEqual([]);
});

test("compare node shapes with their costs: the cheapest mix, each shape alone, the split, and a shared link", async ({ page, request }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.goto("/capacity");
  await waitForHydration(page);
  await page.locator("#load-example").click();
  await expect(page.locator("#workloads tr.workload")).toHaveCount(5);
  await page.locator("#compare-shapes").check();
  // Two of OCI's shapes to start; one model of your own added: a two-GPU H100 box.
  await expect(page.locator("#shapes tr.shape")).toHaveCount(2);
  await expect(page.locator("#capacity-model")).toBeHidden();
  await page.locator("#add-shape").click();
  const mine = page.locator("#shapes tr.shape").nth(2);
  await mine.locator(".s-name").fill("h100-2x");
  await mine.locator(".s-name").press("Tab");
  await expect(page.locator("#plan-issues")).toContainText("/shapes/2/name");
  await mine.locator(".s-model").selectOption("h100-80gb");
  await mine.locator(".s-gpus").fill("2");
  await mine.locator(".s-gpus").press("Tab");
  await mine.locator(".s-cost").fill("3");
  await mine.locator(".s-cost").press("Tab");

  const cost = page.locator("#shapes-cost");
  await expect(cost).toHaveText(/^cost [\d.]+$/);
  const total = Number(await cost.getAttribute("data-cost"));
  await expect(page.locator("#plan-optimal")).toContainText("Proven optimal: no mix of these shapes serves this for less than");
  await expect(page.locator("#plan-saving")).toContainText(/over the cheapest single shape/);
  // The per-shape rows add up to the cost; each shape used has its boards; every workload is split.
  const rows = page.locator("#shapes-result tbody tr");
  await expect(rows).toHaveCount(3);
  const perShape = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-nodes"))));
  const costs = [10, 6, 3];
  expect(perShape.reduce((a, n, i) => a + n * costs[i], 0)).toBeCloseTo(total, 6);
  await expect(page.locator("section.shape-layouts")).toHaveCount(perShape.filter((n) => n > 0).length);
  await expect(page.locator("#shapes-split tbody tr")).toHaveCount(5);
  await page.screenshot({ path: "test-results/screenshots/capacity-6-shapes.png", fullPage: true });

  // The link re-solves to the same answer, and the REST API agrees with the browser.
  await expect(page).toHaveURL(/\/capacity\?q=/);
  const url = page.url();
  const q = JSON.parse(new URL(url).searchParams.get("q")!);
  expect(q.shapes).toHaveLength(3);
  expect(q.model).toBeUndefined();
  await page.goto(url);
  await waitForHydration(page);
  await expect(page.locator("#shapes tr.shape")).toHaveCount(3);
  await expect(page.locator("#shapes-cost")).toHaveAttribute("data-cost", String(total));
  const api = await request.post("/api/v1/fleet-plans", { data: q });
  expect(api.status()).toBe(200);
  const body = await api.json();
  expect(body.cost).toBeCloseTo(total, 6);
  expect(body.optimal).toBe(true);

  // A cost of 0 is refused at its pointer; turning shapes off plans the one model again.
  await page.locator("#shapes tr.shape").first().locator(".s-cost").fill("0");
  await page.locator("#shapes tr.shape").first().locator(".s-cost").press("Tab");
  await expect(page.locator("#plan-issues")).toContainText("/shapes/0/cost");
  await page.locator("#compare-shapes").uncheck();
  await expect(page.locator("#plan-gpus")).toHaveText(/^\d+ GPUs$/);
  await expect(page.locator("#capacity-model")).toBeVisible();
  expect(errors).toEqual([]);
});

test("a fleet of about 512 and 4,096 GPUs solves in the browser's wasm, proven", async ({ page }) => {
  const errors = watchErrors(page);
  // Instances per profile for about 512 GPUs, then 8 times that (BENCHMARKS.md records the times printed).
  const base: Record<string, number> = { "1g.10gb": 1100, "1g.20gb": 260, "2g.20gb": 330, "3g.40gb": 410, "4g.40gb": 40 };
  for (const scale of [1, 8]) {
    const demand = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v * scale]));
    await page.goto(`/capacity?q=${encodeURIComponent(JSON.stringify({ model: "h100-80gb", demand, gpus_per_node: 8 }))}`);
    await waitForHydration(page);
    await expect(page.locator("#plan-optimal")).toContainText("Proven optimal");
    // Typing re-solves in the browser: one more 1g.10gb, and the time of that solve.
    await page.locator("#demand-1g\\.10gb").fill(String(demand["1g.10gb"] + 1));
    await expect(page.locator("#plan-optimal")).toContainText("Proven optimal");
    const gpus = await page.locator("#plan-gpus").getAttribute("data-gpus");
    const solved = await page.locator("#solve-ms").textContent();
    console.log(`capacity wasm: ${gpus} GPUs,${solved}`);
    expect(Number(gpus)).toBeGreaterThan(400 * scale);
  }
  expect(errors).toEqual([]);
});

test("against the live fleet: the GPUs to recut, applied in one click, until the fleet serves the plan", async ({ page, request }) => {
  test.setTimeout(150_000);
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1400, height: 900 });
  const fleet = await (await request.get("/api/v1/fleet")).json();
  const h100Nodes = fleet.nodes.filter((n: any) => n.gpus.some((g: any) => g.model === "h100-80gb" && g.mig_mode === "enabled"));
  const per = h100Nodes.flatMap((n: any) => n.gpus).filter((g: any) => g.model === "h100-80gb" && g.mig_mode === "enabled").length;
  expect(per).toBeGreaterThanOrEqual(16);
  // Two more 3g.40gb and fewer 1g.10gb than the all-balanced GPUs hold.
  const req = { model: "h100-80gb", demand: { "1g.10gb": 2 * per - 2, "2g.20gb": per - 1, "3g.40gb": per + 1 }, fleet: "current", gpus_per_node: 8 };
  await page.goto(`/capacity?q=${encodeURIComponent(JSON.stringify(req))}`);
  await waitForHydration(page);
  await expect(page.locator("#against-fleet")).toBeChecked();
  const rows = page.locator("#plan-changes tr.change");
  await expect(rows.first()).toBeVisible();
  const changed: { node: string; gpu: number }[] = await rows.evaluateAll((els) =>
    els.map((e) => ({ node: e.getAttribute("data-node")!, gpu: Number(e.getAttribute("data-gpu")) })),
  );
  expect(changed.length).toBeGreaterThan(0);
  await expect(page.locator("#fleet-outcome")).toHaveAttribute("data-reconfigured", String(changed.length));
  await expect(page.locator("#fleet-outcome")).toContainText(/keeps \d+ as they are, recuts \d+/);
  await page.locator("#fleet-changes").scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/capacity-4-live.png", fullPage: true });

  // The server's plan, asked the same, recuts the same GPUs.
  const planned = await (await request.post("/api/v1/fleet-plans", { data: req })).json();
  expect(planned.fleet.changes.map((c: any) => `${c.node}/${c.gpu}`).sort()).toEqual(changed.map((c) => `${c.node}/${c.gpu}`).sort());

  await page.locator("#apply-plan").click();
  const nodes = [...new Set(changed.map((c) => c.node))];
  await expect(page.locator("#apply-result li.submitted")).toHaveCount(nodes.length);
  // The page follows the updates and reads the fleet again: nothing left to recut.
  await expect(page.locator("#fleet-matches")).toBeVisible({ timeout: 90_000 });
  await expect(page.locator("#fleet-outcome")).toHaveAttribute("data-reconfigured", "0");
  await page.locator("#fleet-changes").scrollIntoViewIfNeeded();
  await page.screenshot({ path: "test-results/screenshots/capacity-5-applied.png", fullPage: true });
  // The fleet has exactly the planned placements on the recut GPUs.
  const after = await (await request.get("/api/v1/fleet")).json();
  for (const c of planned.fleet.changes) {
    const gpu = after.nodes.find((n: any) => n.name === c.node).gpus.find((g: any) => g.index === c.gpu);
    const key = (l: any[]) => l.map((i: any) => `${i.profile}@${i.start}`).sort();
    expect(key(gpu.instances)).toEqual(key(c.to));
  }

  // Leave the fleet as the other specs expect it: each node back on its config, the plan's configs gone.
  for (const node of nodes) {
    const config = h100Nodes.find((n: any) => n.name === node).mig_config;
    const back = await request.post("/api/v1/deployments", {
      data: { recipe_mode: "update", deployment_name: `e2e-capacity-back-${node}`, recipe_node_name: node, shared_node_pool_mig_config: config },
    });
    expect(back.status()).toBe(201);
    const id = (await back.json()).id;
    await expect
      .poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.status, { timeout: 60_000 })
      .toBe("completed");
    expect((await request.delete(`/api/v1/mig-configs/plan-${node}`)).status()).toBe(204);
  }
  expect(errors).toEqual([]);
});
