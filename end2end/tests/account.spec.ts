import { expect, test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// Accounts as an admin uses them: an API token made in Settings works until revoked, a new viewer
// is created on the Users page, signs in, can read but not deploy or reach admin pages; the audit
// log shows who did what.

test("an API token from Settings works until it is revoked", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/settings");
  await waitForHydration(page);
  await expect(page.locator("#account")).toContainText("admin");
  await page.locator("#token-name").fill("e2e-ci");
  await page.locator("#token-days").fill("7");
  await page.locator("#token-create").click();
  const secret = await page.locator("#token-secret").inputValue();
  expect(secret).toMatch(/^mgb_[0-9a-f]{64}$/);
  const row = page.locator("#tokens tr", { hasText: "e2e-ci" });
  await expect(row).toHaveAttribute("data-state", "active");
  await page.screenshot({ path: "test-results/screenshots/settings-tokens.png", fullPage: true });

  // The token alone (no cookies) reads the API as its owner.
  const me = await page.request.fetch("/api/v1/me", { headers: { Authorization: `Bearer ${secret}` }, ignoreHTTPSErrors: true });
  expect(me.status()).toBe(200);
  expect((await me.json()).via).toBe("token e2e-ci");

  await row.locator(".revoke").click();
  await expect(page.locator("#tokens tr", { hasText: "e2e-ci" })).toHaveAttribute("data-state", "revoked");
  const after = await page.request.fetch("/api/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
  expect(errors).toEqual([]);
});

test("an admin adds a viewer, who can read but not deploy; the audit log says who did it", async ({ page, browser }) => {
  const errors = watchErrors(page);
  await page.goto("/settings/users");
  await waitForHydration(page);
  await page.locator("#new-username").fill("vic");
  await page.locator("#new-password").fill("vic-password-1");
  await page.locator("#new-role").selectOption("viewer");
  await page.locator("#user-create").click();
  await expect(page.locator('#users tr[data-user="vic"]')).toContainText("enabled");
  await page.screenshot({ path: "test-results/screenshots/users.png", fullPage: true });

  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const vic = await context.newPage();
  const vicErrors = watchErrors(vic);
  await vic.goto("/");
  await expect(vic).toHaveURL(/\/login/);
  await vic.screenshot({ path: "test-results/screenshots/login.png" });
  // An open redirect is refused: a tab in `next` would make the browser read `//evil.example`.
  await vic.goto("/login?next=" + encodeURIComponent("/\t/evil.example"));
  await vic.locator("#username").fill("vic");
  await vic.locator("#password").fill("vic-password-1");
  await vic.locator("#sign-in").click();
  await waitForHydration(vic);
  expect(new URL(vic.url()).host).toBe(new URL(page.url()).host);
  expect(new URL(vic.url()).pathname).toBe("/");
  await expect(vic.locator("#who")).toHaveAttribute("data-role", "viewer");
  await expect(vic.locator("#fleet-nodes, .fleet-node, .node-card").first()).toBeVisible();
  // A viewer may not deploy (the server says so) nor open admin pages.
  const refused = await vic.request.post("/api/v1/deployments", {
    data: { recipe_mode: "update", deployment_name: "vic-try", recipe_node_name: "10.0.20.11", shared_node_pool_mig_config: "all-1g.5gb" },
  });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.message).toContain("vic is a viewer; this needs an operator");
  const admin = await vic.goto("/settings/users");
  expect(admin?.status()).toBe(403);
  // vic changes their own password: this browser stays signed in (other sessions and tokens end).
  await vic.goto("/settings");
  await waitForHydration(vic);
  await vic.locator("#my-current-password").fill("vic-password-1");
  await vic.locator("#my-new-password").fill("vic-password-2");
  await vic.locator("#my-new-password-again").fill("vic-password-2");
  await vic.locator("#change-password").click();
  await expect(vic.locator("#password-result")).toHaveAttribute("data-ok", "true");
  await vic.screenshot({ path: "test-results/screenshots/password-changed.png", fullPage: true });
  await vic.reload();
  await waitForHydration(vic);
  await expect(vic.locator("#who")).toHaveAttribute("data-role", "viewer");
  // Signing out ends the session: the next page asks to sign in again.
  await vic.locator("#sign-out").click();
  await expect(vic.locator("#signed-out")).toBeVisible();
  await vic.goto("/deployments");
  await expect(vic).toHaveURL(/\/login\?next=\/deployments/);
  await context.close();
  expect(vicErrors.filter((e) => !e.includes("403"))).toEqual([]);

  await page.goto("/settings/audit");
  await waitForHydration(page);
  const created = page.locator('#audit tr[data-action="user.create"]', { hasText: "vic" });
  await expect(created).toContainText("admin");
  await expect(page.locator('#audit tr[data-action="login"]', { hasText: "vic" }).first()).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/audit.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("an admin changes a role only once confirmed and sees it saved; sets a password; errors read plainly (#22 item 12, part)", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/settings/users");
  await waitForHydration(page);
  await page.locator("#new-username").fill("rhea");
  await page.locator("#new-password").fill("rhea-password-1");
  await page.locator("#user-create").click();
  const row = page.locator('#users tr[data-user="rhea"]');
  await expect(row).toContainText("enabled");
  // Declined: nothing changes, and the select shows what is stored.
  page.once("dialog", (d) => {
    expect(d.message()).toContain("Make rhea an operator?");
    void d.dismiss();
  });
  await row.locator(".user-role").selectOption("operator");
  await expect(row.locator(".user-role")).toHaveValue("viewer");
  await expect(page.locator("#users-saved")).toHaveCount(0);
  // Confirmed: saved, and said so.
  page.once("dialog", (d) => void d.accept());
  await row.locator(".user-role").selectOption("operator");
  await expect(page.locator("#users-saved")).toHaveText("Saved: rhea is now operator.");
  await expect(page.locator('#users tr[data-user="rhea"] .user-role')).toHaveValue("operator");
  // An admin sets a password here; a refused one says why, without "bad request:" in front.
  await page.locator('#users tr[data-user="rhea"] .set-password').click();
  await page.locator('#users tr[data-user="rhea"] .new-user-password').fill("password1234");
  await page.locator('#users tr[data-user="rhea"] .set-password-form button').click();
  await expect(page.locator("#users-error")).toContainText("Not changed: the password is among the most common ones");
  await expect(page.locator("#users-error")).not.toContainText("bad request");
  await page.locator('#users tr[data-user="rhea"] .set-password').click();
  await page.locator('#users tr[data-user="rhea"] .new-user-password').fill("rhea-new-password-2");
  await page.locator('#users tr[data-user="rhea"] .set-password-form button').click();
  await expect(page.locator("#users-saved")).toContainText("Saved: rhea has a new password");
  await page.screenshot({ path: "test-results/screenshots/users-saved.png", fullPage: true });
  // The one error is the refused password's answer (400), which the page showed above.
  expect(errors).toEqual(["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
});

test("a token made with Days left blank expires in 30 days, Copy puts it on the clipboard, the audit log filters to the second (#22 item 12)", async ({ page, context }) => {
  const errors = watchErrors(page);
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.goto("/settings");
  await waitForHydration(page);
  await page.locator("#token-name").fill("e2e-blank-days");
  await page.locator("#token-days").fill("");
  await page.locator("#token-create").click();
  const secret = await page.locator("#token-secret").inputValue();
  expect(secret).toMatch(/^mgb_[0-9a-f]{64}$/);
  await page.locator("#copy-token").click();
  await expect(page.locator("#copy-token")).toHaveAttribute("data-copied", "true");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  const row = page.locator("#tokens tr", { hasText: "e2e-blank-days" });
  const expires = (await row.locator("td").nth(3).innerText()).trim();
  expect(expires).not.toBe("never");
  const days = (Date.parse(expires.replace(" UTC", "Z").replace(" ", "T")) - Date.now()) / 86_400_000;
  expect(days).toBeGreaterThan(29.9);
  expect(days).toBeLessThan(30.1);
  await row.locator(".revoke").click();
  await expect(row).toHaveAttribute("data-state", "revoked");

  await page.goto("/settings/audit");
  await waitForHydration(page);
  // Seconds, in UTC; one spelling of actions (noun.verb), never the old `revoke-share` kind.
  await expect(page.locator("#audit tbody tr").first().locator("td").first()).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  const actions = await page.locator("#audit tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
  expect(actions.filter((a) => !/^[a-z-]+(\.[a-z-]+)*$/.test(a ?? "") || ["deploy", "undeploy", "share", "revoke-share", "embed", "revoke-embed"].includes(a ?? ""))).toEqual([]);
  const total = actions.length;
  await page.locator("#audit-filter").fill("token.revoke");
  await expect(page).toHaveURL(/\/settings\/audit\?q=token\.revoke$/);
  const shown = page.locator("#audit tbody tr");
  await expect(shown.first()).toHaveAttribute("data-action", "token.revoke");
  const kinds = await shown.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
  expect(new Set(kinds)).toEqual(new Set(["token.revoke"]));
  await expect(page.locator("#audit-count")).toHaveText(`${kinds.length} of ${total} records`);
  // The filter is in the link: opened again, the same rows.
  await page.reload();
  await waitForHydration(page);
  await expect(page.locator("#audit-filter")).toHaveValue("token.revoke");
  await expect(page.locator("#audit-count")).toHaveText(`${kinds.length} of ${total} records`);
  expect(errors).toEqual([]);
});
