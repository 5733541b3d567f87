import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

const NAV = [
  { label: "Fleet", path: "/", heading: "Fleet" },
  { label: "Plan", path: "/plan", heading: "Plan" },
  { label: "Capacity", path: "/capacity", heading: "Capacity" },
  { label: "Blueprints", path: "/blueprints", heading: "Blueprints" },
  { label: "Deployments", path: "/deployments", heading: "Deployments" },
  { label: "Settings", path: "/settings", heading: "Settings" },
];

test("the server renders the status before any wasm runs", async ({ request }) => {
  const response = await request.get("/");
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain('id="server-version"');
  expect(html).toContain('data-hydrated="false"');
  expect(html).toMatch(/data-sequence="\d+"/);
});

test("home hydrates, refreshes the server status and navigates everywhere", async ({ page }) => {
  const errors = watchErrors(page);
  const response = await page.goto("/");
  // The server-rendered value, from the HTML itself: by the time the DOM is read the browser may already
  // have refreshed it.
  const ssrMatch = (await response!.text()).match(/data-sequence="(\d+)"/);
  expect(ssrMatch).not.toBeNull();
  const ssrSequence = Number(ssrMatch![1]);
  expect(ssrSequence).toBeGreaterThan(0);

  await waitForHydration(page);

  // The server function answered during SSR; after hydration the browser calls it again itself.
  await expect(page.locator("#server-version")).toHaveText(/^\d+\.\d+\.\d+/);
  await expect
    .poll(async () => Number(await page.locator("#server-status").getAttribute("data-sequence")))
    .toBeGreaterThan(ssrSequence);
  // The Refresh button asks once more, client-side.
  const before = Number(await page.locator("#server-status").getAttribute("data-sequence"));
  await page.getByRole("button", { name: "Refresh" }).click();
  await expect
    .poll(async () => Number(await page.locator("#server-status").getAttribute("data-sequence")))
    .toBeGreaterThan(before);

  await page.screenshot({ path: "test-results/screenshots/fleet-light.png", fullPage: true });

  // Client-side navigation through every entry of the menu.
  for (const entry of [...NAV.slice(1), NAV[0]]) {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: entry.label }).click();
    await expect(page).toHaveURL(entry.path);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(entry.heading);
    await expect(
      page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: entry.label }),
    ).toHaveAttribute("aria-current", "page");
    await expect(page).toHaveTitle(entry.heading === "Fleet" ? "Fleet · migboard" : `${entry.heading} · migboard`);
  }
  // Still the same hydrated app: navigation did not reload the page.
  await waitForHydration(page);
  expect(errors).toEqual([]);
});

test("dark mode follows the system setting", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto("/");
  await waitForHydration(page);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).toBe("rgb(12, 17, 24)");
  await page.screenshot({ path: "test-results/screenshots/fleet-dark.png", fullPage: true });
});

test("an unknown address gets a 404 page that leads back", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("There is no page here");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Go to the fleet overview" }).click();
  await expect(page).toHaveURL("/");
});

test("health endpoints answer", async ({ request }) => {
  expect((await request.get("/healthz")).status()).toBe(200);
  const ready = await request.get("/readyz");
  expect(ready.status()).toBe(200);
  expect((await ready.json()).status).toBe("ready");
});

test("an unknown deployment or node answers 404 with a page that says so", async ({ page }) => {
  const errors = watchErrors(page);
  const deployment = await page.goto("/deployments/987654");
  expect(deployment?.status()).toBe(404);
  await waitForHydration(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Deployment not found");
  const node = await page.goto("/fleet/nodes/no-such-node");
  expect(node?.status()).toBe(404);
  await waitForHydration(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Node not found");
  // A known one is still a 200.
  expect((await page.goto("/fleet/nodes/10.0.10.11"))?.status()).toBe(200);
  // The browser reports the 404 documents (and the unknown deployment's event stream) itself.
  expect(errors.filter((e) => !e.includes("404"))).toEqual([]);
});

test("on a phone the navigation is one row and the page starts below it (#22 item 13)", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/plan");
  await waitForHydration(page);
  const bar = await page.locator(".sidebar").boundingBox();
  expect(bar?.height ?? 999).toBeLessThan(90);
  // Every destination is still there (the row scrolls sideways).
  for (const name of ["Fleet", "Plan", "Capacity", "Blueprints", "Deployments", "Settings"]) {
    const link = page.locator(".nav a", { hasText: name });
    await link.scrollIntoViewIfNeeded();
    await expect(link).toBeInViewport();
  }
  await page.screenshot({ path: "test-results/screenshots/phone-nav.png" });
});
