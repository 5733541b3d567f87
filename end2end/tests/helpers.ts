import { readFileSync } from "node:fs";
import { expect, type APIRequestContext, type Page } from "@playwright/test";

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

/** Deploys the guide's single-replica inference on a 1g.10gb slice as `name` and waits until it is placed: its id and node. */
export async function deployOneReplica(request: APIRequestContext, name: string): Promise<{ id: number; node: string }> {
  const blueprint = JSON.parse(readFileSync("../mig/data/oci-blueprints/mig_inference_single_replica_10gb.json", "utf8"));
  blueprint.deployment_name = name;
  const made = await request.post("/api/v1/deployments", { data: blueprint });
  expect(made.status()).toBe(201);
  const id: number = (await made.json()).id;
  let node = "";
  await expect
    .poll(async () => {
      node = (await (await request.get(`/api/v1/deployments/${id}`)).json()).placements?.[0]?.node ?? "";
      return node;
    }, { timeout: 30_000 })
    .not.toBe("");
  // The fleet (what validation and the pages read) shows the slice busy a moment after the store
  // has the placement: wait for that too, so a check that follows sees the replica.
  await expect
    .poll(async () => {
      const fleet = await (await request.get("/api/v1/fleet")).json();
      const n = fleet.nodes.find((x: { name: string }) => x.name === node);
      return (n?.gpus ?? []).some((g: { busy?: { owners?: string[] }[] }) =>
        (g.busy ?? []).some((b) => (b.owners ?? []).some((o) => o.startsWith(`${name} `))),
      );
    }, { timeout: 30_000 })
    .toBe(true);
  return { id, node };
}

/** Undeploys deployment `id` and waits until it says so. */
export async function undeployAndWait(request: APIRequestContext, id: number) {
  expect((await request.post(`/api/v1/deployments/${id}/undeploy`)).status()).toBe(202);
  await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.status).toBe("undeployed");
}
