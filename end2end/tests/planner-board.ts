import { expect, type Locator, type Page } from "@playwright/test";

// The slice planner's board, as the planner specs reach it: palette chips, slots, instances, and a
// real pointer drag between them.

export const chip = (page: Page, profile: string) => page.locator(`#palette .chip[data-profile="${profile}"]`);
export const slot = (page: Page, gpu: number, s: number) => page.locator(`.slot[data-gpu="${gpu}"][data-slot="${s}"]`);
export const instance = (page: Page, gpu: number, profile: string, start: number) =>
  page.locator(`#gpu-${gpu} .inst[data-profile="${profile}"][data-start="${start}"]`);

export async function center(l: Locator) {
  const box = await l.boundingBox();
  expect(box, "element is on screen").not.toBeNull();
  return { x: box!.x + box!.width / 2, y: box!.y + box!.height / 2 };
}

/** A real pointer drag: press on `from`, move in steps to `to`, and optionally release. */
export async function drag(page: Page, from: Locator, to: Locator | { x: number; y: number }, release = true) {
  // Bring the target to the middle of the screen; the palette is sticky, so it stays in view.
  if (!("x" in to)) await (to as Locator).evaluate((el) => el.scrollIntoView({ block: "center" }));
  const a = await center(from);
  const b = "x" in to ? to : await center(to as Locator);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(a.x + 8, a.y + 8, { steps: 2 });
  await page.mouse.move(b.x, b.y, { steps: 8 });
  if (release) await page.mouse.up();
}
