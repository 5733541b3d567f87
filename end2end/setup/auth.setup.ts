import { expect, test as setup } from "@playwright/test";

// Signs in once as the first start's admin (password from MIGBOARD_ADMIN_PASSWORD, set in
// playwright.config.ts) through the real sign-in form, and saves the session cookie for every test.
// Signing in per test would hit the sign-in rate limit (5 attempts, then one per 12 s per address).
export const ADMIN_STATE = ".auth/admin.json";

setup("sign in as admin", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F|\/login\?next=\//);
  await page.locator("#username").fill("admin");
  await page.locator("#password").fill(process.env.MIGBOARD_E2E_ADMIN_PASSWORD ?? "e2e-admin-password");
  await page.locator("#sign-in").click();
  await expect(page.locator("#who")).toContainText("admin");
  await page.context().storageState({ path: ADMIN_STATE });
});
