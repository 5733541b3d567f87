#!/usr/bin/env python3
"""Rewrites the split loader of a `cargo leptos build --split` site so that the WebAssembly modules
one load needs are fetched together from the server's `/pkg/pack` route (server/src/pack.rs): a
page then makes a handful of requests instead of one per chunk (#22). Each module is still
instantiated on its own, as the loader did before; if the pack request fails, the loader falls
back to fetching each module by itself. Idempotent: a loader already rewritten is left alone.

Usage: scripts/pack-split.py <site-root>   (e.g. target/site)
"""
import json
import pathlib
import re
import sys

MARK = "/* migboard: modules fetched in packs */"

HELPER = MARK + r"""
const __mgbQueue = [];
// Every module asked for in one synchronous run of the loader (a route's module and the chunks it
// needs) goes into one request, sent at the end of that run.
function __mgbFetch(name) {
    return new Promise((resolve) => {
        if (__mgbQueue.length === 0) queueMicrotask(__mgbFlush);
        __mgbQueue.push({ name, resolve });
    });
}
function __mgbOne(name) {
    return fetch(new URL(`./${name}.wasm`, import.meta.url));
}
async function __mgbFlush() {
    const batch = __mgbQueue.splice(0);
    try {
        // Sorted, and ending in .wasm: the very URL the page's <link rel="preload"> named (the
        // manifest rewritten below), so the response already on its way is used.
        batch.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const response = await fetch(new URL("./pack?m=" + batch.map((b) => b.name).join(",") + ".wasm", import.meta.url));
        if (!response.ok) throw new Error(`pack answered ${response.status}`);
        const buffer = await response.arrayBuffer();
        const view = new DataView(buffer);
        if (view.getUint32(0, true) !== batch.length) throw new Error("pack holds another number of modules");
        let offset = 4 + 4 * batch.length;
        batch.forEach((b, i) => {
            const length = view.getUint32(4 + 4 * i, true);
            b.resolve(new Response(buffer.slice(offset, offset + length), { headers: { "Content-Type": "application/wasm" } }));
            offset += length;
        });
    } catch (e) {
        console.warn(`migboard: loading ${batch.length} modules one by one (${e})`);
        batch.forEach((b) => b.resolve(__mgbOne(b.name)));
    }
}
"""

FETCH = re.compile(r'fetch\(new URL\("\./([A-Za-z0-9_]+)\.wasm", import\.meta\.url\)\)')


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pkg = pathlib.Path(sys.argv[1]) / "pkg"
    loaders = sorted(pkg.glob("__wasm_split*.js"))
    if not loaders:
        print(f"pack-split: no split loader in {pkg} (not a --split build): nothing to do")
        return 0
    for manifest in sorted(pkg.glob("__wasm_split_manifest*.json")):
        routes = json.loads(manifest.read_text())
        if all(len(m) == 1 and m[0].startswith("pack?m=") for m in routes.values()):
            print(f"pack-split: {manifest} already names packs")
            continue
        packed = {k: ["pack?m=" + ",".join(sorted(m))] for k, m in routes.items()}
        tmp = manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(packed, indent=2))
        tmp.replace(manifest)
        print(f"pack-split: {manifest}: {len(packed)} routes preload one pack each")
    for loader in loaders:
        text = loader.read_text()
        if MARK in text:
            print(f"pack-split: {loader} already fetches in packs")
            continue
        rewritten, n = FETCH.subn(lambda m: f'__mgbFetch("{m.group(1)}")', text)
        if n == 0:
            print(f"pack-split: {loader} has no module fetch this script knows; the splitter changed?", file=sys.stderr)
            return 1
        first_line_end = rewritten.index("\n") + 1
        rewritten = rewritten[:first_line_end] + HELPER + rewritten[first_line_end:]
        tmp = loader.with_suffix(".js.tmp")
        tmp.write_text(rewritten)
        tmp.replace(loader)
        print(f"pack-split: {loader}: {n} modules now fetched in packs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
