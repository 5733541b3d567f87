import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// The node page as an operator reads it (#22 item 10): each GPU's facts from NVML, the node's GPU
// Operator labels, and charts that follow the theme, read as clock times and cover a chosen range.

test("the node page shows each GPU, the node's labels, and themed charts over 1 h, 24 h or 7 d", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/fleet/nodes/10.0.10.11");
  await waitForHydration(page);
  const rows = page.locator("#gpu-details tbody tr");
  await expect(rows).toHaveCount(8);
  await expect(rows.first().locator(".gpu-uuid")).toHaveText(/^GPU-/);
  await expect(rows.first().locator(".gpu-mode")).toHaveText("MIG on");
  await expect(rows.first().locator(".gpu-memory")).toContainText(/of 79\.6 GiB/);
  await expect(page.locator('#node-labels [data-label="nvidia.com/mig.config"] dd')).toHaveText("all-balanced");
  await expect(page.locator('#node-labels [data-label="nvidia.com/mig.config.state"] dd')).toHaveText("success");
  await expect(page.locator('#node-labels [data-label="nvidia.com/gpu.product"] dd')).toContainText("H100");

  // 24 h unless asked; the axis reads as UTC clock times, never "-60.0", with whole counts.
  await expect(page.locator('#chart-range a[aria-current="true"]')).toHaveText("24h");
  await expect(page.locator("#applies-chart")).toContainText("last 24 h");
  const labels = await page.locator("#applies-chart svg text").allTextContents();
  const trimmed = labels.map((l) => l.trim());
  expect(trimmed.some((l) => /^\d\d:\d\d$/.test(l)), trimmed.join("|")).toBe(true);
  expect(trimmed.filter((l) => l.startsWith("-") || /^\d+\.\d+$/.test(l))).toEqual([]);
  await page.locator('#chart-range a[data-range="7d"]').click();
  await expect(page).toHaveURL(/\?range=7d$/);
  await waitForHydration(page);
  await expect(page.locator('#chart-range a[aria-current="true"]')).toHaveText("7d");
  await expect(page.locator("#applies-chart")).toContainText("per 6 h, last 7 days");
  await expect(page.locator("#memory-chart")).toContainText("last 7 days");

  // The charts take the page's colours: no white box, text in the page's text colour, dark or light.
  for (const scheme of ["dark", "light"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const [svgBg, textFill, bodyColour] = await page.evaluate(() => {
      const svg = document.querySelector("#applies-chart svg")!;
      const text = svg.querySelector("text")!;
      return [getComputedStyle(svg).backgroundColor, getComputedStyle(text).fill, getComputedStyle(document.body).color];
    });
    expect(svgBg, scheme).toBe("rgba(0, 0, 0, 0)");
    expect(textFill, scheme).toBe(bodyColour);
  }
  expect(errors).toEqual([]);
});

test("an unknown chart range is refused by the API with what to write", async ({ request }) => {
  const r = await request.get("/api/v1/nodes/10.0.10.11?range=2w");
  expect(r.status()).toBe(400);
  expect((await r.json()).error.message).toContain("use 1h, 24h or 7d");
});
