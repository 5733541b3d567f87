import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// Share links: sign in, create one on a deployment's page, open it in a fresh browser (no shared
// cookies or storage), see the live status and no way to change anything, revoke it, reload, see
// the refusal.

// This journey starts signed out.
test.use({ storageState: { cookies: [], origins: [] } });

test("sign in, share a deployment read-only with a fresh browser, revoke the link", async ({ page, browser }) => {
  const errors = watchErrors(page);
  // Signed out: the deployments page sends us to sign in, and back after.
  await page.goto("/deployments");
  await expect(page).toHaveURL(/\/login\?next=\/deployments$/);
  await page.locator("#username").fill("admin");
  await page.locator("#password").fill("not-the-password");
  await page.locator("#sign-in").click();
  await expect(page.locator("#login-error")).toContainText("Wrong username or password");
  // The username stays; only the password is to be typed again (#22 item 13).
  await expect(page.locator("#username")).toHaveValue("admin");
  await expect(page.locator("#password")).toHaveValue("");
  await page.screenshot({ path: "test-results/screenshots/login-refused.png" });
  await page.locator("#username").fill("admin");
  await page.locator("#password").fill(process.env.MIGBOARD_E2E_ADMIN_PASSWORD ?? "e2e-admin-password");
  await page.locator("#sign-in").click();
  await expect(page).toHaveURL(/\/deployments$/);
  await expect(page.locator("#who")).toContainText("admin");

  const update = { recipe_mode: "update", deployment_name: "share-check", recipe_node_name: "10.0.20.11", shared_node_pool_mig_config: "all-1g.5gb" };
  // The page's own session (cookie) deploys; no token needed.
  const created = await page.request.post("/api/v1/deployments", { data: update });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id;
  await page.goto(`/deployments/${id}`);
  await waitForHydration(page);
  await expect(page.locator("#share-create")).toHaveAttribute("data-ready", "true");
  await page.locator("#share-create").click();
  const url = await page.locator("#share-url").inputValue();
  expect(url).toMatch(/\/share\/[0-9a-f]{64}$/);
  await expect(page.locator("#share-links li")).toHaveCount(1);

  const other = await browser.newContext({ storageState: { cookies: [], origins: [] } });
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
  // When, for people: minutes and the zone, not a raw RFC 3339 timestamp (#22 item 13).
  await expect(viewer.locator("#share-refused")).toContainText(/this link was revoked at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\./);
  await expect(viewer.locator("#deployment-name")).toHaveCount(0);
  await viewer.screenshot({ path: "test-results/screenshots/share-revoked.png" });
  await other.close();
  expect(errors).toEqual([]);
});
