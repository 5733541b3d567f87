#!/usr/bin/env bash
# Prints the size of the shipped browser bundle, raw and gzipped (what BENCHMARKS.md records).
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=target/site/pkg
[ -f "$pkg/migboard.wasm" ] || { echo "no $pkg/migboard.wasm: run make build first" >&2; exit 1; }
printf '%-22s %10s %10s\n' file raw gzip-9
# migboard.wasm is what every page loads (the budget applies to it); split_*.wasm are lazily loaded
# route chunks (`cargo leptos build --split`), fetched only by the page that needs them.
for f in "$pkg"/migboard.wasm "$pkg"/split_*.wasm "$pkg"/migboard.js "$pkg"/migboard.css; do
  [ -f "$f" ] || continue
  printf '%-22s %10d %10d\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
done
gz=$(gzip -9 -c "$pkg/migboard.wasm" | wc -c)
limit=300000
if [ "$gz" -le "$limit" ]; then echo "main wasm gzip $gz bytes <= budget $limit bytes (300 KB); route chunks load on demand"; else echo "wasm gzip $gz bytes EXCEEDS budget $limit bytes" >&2; exit 1; fi
