import { expect, type Page } from "@playwright/test";

/** Collects console errors and uncaught exceptions so a test can insist there were none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** Waits until the wasm has hydrated: the marker is flipped only by an Effect, which never runs on the server. */
export async function waitForHydration(page: Page) {
  await expect(page.locator("#live-status")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator("#live-status")).toHaveText("live");
}
