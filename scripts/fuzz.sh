#!/usr/bin/env bash
# Runs the fuzz targets of mig/fuzz for a bounded time each: parse_validate (blueprint parse +
# validate on every platform) for FUZZ_SECONDS (default 60), plan_link (the planner's link codec),
# parted_import (mig-parted YAML) and custom_config (the custom config body) for a third of that.
# FUZZ_TARGETS picks some ("plan_link custom_config"). Installs cargo-fuzz if missing. Seed corpora
# are the reference blueprints, planner links, NVIDIA's mig-parted files and custom configs from the
# docs; crashes land in mig/fuzz/artifacts/ and fail the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/env.sh"
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-parse_validate plan_link parted_import custom_config}"
command -v cargo-fuzz >/dev/null || "$ROOT/scripts/setup.sh"

seed() {
  local target=$1 corpus=$2
  case "$target" in
    parse_validate) cp "$ROOT"/mig/data/oci-blueprints/*.json "$corpus/" ;;
    plan_link)
      printf '%s' 'shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*8&nodes=2' > "$corpus/balanced"
      printf '%s' 'model=a100-40gb&count=2&layout=off;-' > "$corpus/model"
      printf '%s' 'shape=BM.GPU.H100.8&layout=1g.10gb%2Bme@0;7g.80gb@0*7' > "$corpus/me" ;;
    parted_import) cp "$ROOT"/mig/data/mig-parted-*.yaml "$corpus/" ;;
    custom_config)
      printf '%s' '{"name":"mix-a","model":"h100-80gb","devices":[{"gpus":"all","instances":[{"profile":"1g.10gb","start":0},{"profile":"3g.40gb","start":4}]}]}' > "$corpus/mix"
      printf '%s' '{"name":"split","model":"a100-40gb","devices":[{"gpus":[0,1],"instances":[]},{"gpus":"all","instances":[{"profile":"7g.40gb","start":0}]}]}' > "$corpus/split" ;;
  esac
}

cd "$ROOT/mig"
for target in $TARGETS; do
  corpus="$ROOT/target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  seed "$target" "$corpus"
  secs=$SECONDS_TO_RUN
  [ "$target" = parse_validate ] || secs=$(( (SECONDS_TO_RUN + 2) / 3 ))
  echo "--- $target for $secs s (corpus $corpus)"
  # No sanitizer: the input is only ever read by safe Rust, so ASan adds nothing but a runtime that
  # Debian's toolchain does not ship; libFuzzer's coverage guidance and the targets' asserts remain.
  CARGO_TARGET_DIR="$ROOT/target/fuzz" cargo fuzz run --sanitizer none "$target" "$corpus" -- \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
