import { test } from "@playwright/test";
import { watchErrors, waitForHydration } from "./helpers";

// Screenshots of the fleet, a node and the planner in light and dark at desktop and phone widths
// (#22 acceptance), for people to look at; the other specs assert what they show.

for (const scheme of ["light", "dark"] as const) {
  for (const width of [1400, 390]) {
    test(`fleet, node and planner screenshots, ${scheme}, ${width} px`, async ({ page }) => {
      const errors = watchErrors(page);
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: width > 1000 ? 1000 : 844 });
      for (const [name, path] of [
        ["fleet", "/"],
        ["node", "/fleet/nodes/10.0.10.11"],
        ["plan", "/plan"],
      ]) {
        await page.goto(path);
        await waitForHydration(page);
        await page.screenshot({ path: `test-results/screenshots/${name}-${scheme}-${width}.png`, fullPage: true });
      }
      test.expect(errors).toEqual([]);
    });
  }
}
