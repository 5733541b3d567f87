#!/usr/bin/env bash
# Runs the blueprint parse+validate fuzz target (mig/fuzz) for a bounded time: FUZZ_SECONDS (default 60).
# Installs cargo-fuzz if missing. The seed corpus is the twelve reference blueprints; crashes land in
# mig/fuzz/artifacts/ and fail the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/env.sh"
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || "$ROOT/scripts/setup.sh"
corpus="$ROOT/target/fuzz-corpus/parse_validate"
mkdir -p "$corpus"
cp "$ROOT"/mig/data/oci-blueprints/*.json "$corpus/"
cd "$ROOT/mig"
# No sanitizer: the input is only ever read by safe Rust, so ASan adds nothing but a runtime that
# Debian's toolchain does not ship; libFuzzer's coverage guidance and the target's asserts remain.
CARGO_TARGET_DIR="$ROOT/target/fuzz" cargo fuzz run --sanitizer none parse_validate "$corpus" -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
