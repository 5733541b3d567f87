#!/usr/bin/env bash
# Runs migboard's tests and prints each runner's summary and one closing line for all of them.
#   scripts/test.sh all|site|rust|wasm|manifests|size|fuzz|smoke|e2e
#
# `all` (what `make test` and CI run) builds each thing once: the browser bundle in release (`site`: the
# size budget applies to what ships), and the server only in the test profile: the Playwright suite runs
# against the `migboard` binary `cargo test` already built for the server's integration tests, so a clean
# clone never compiles the server's dependency tree twice (a release server build added ~25 minutes to
# CI). `make run` and `make test-e2e` still build and serve the release server.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/env.sh"

what="${1:-all}"
logs="target/test-logs"
mkdir -p "$logs"
passed=0 failed=0 ignored=0 status=0

# target/site is a link to target/site-a or target/site-b. A build goes to the other folder, and the
# link is swapped to it in one rename, so a `make run` server on this checkout keeps serving whole
# files meanwhile instead of half-written ones (#22). A plain folder left by an older checkout or
# `make build` is moved aside once.
site() {
  echo "==> The browser bundle, release (cargo leptos build --release --split --frontend-only)"
  local current next
  current="$(readlink target/site 2>/dev/null || true)"
  next="site-a"; [ "$current" = "site-a" ] && next="site-b"
  rm -rf "target/$next"
  if LEPTOS_SITE_ROOT="target/$next" cargo leptos build --release --split --frontend-only 2>&1 | tee "$logs/site.log" \
    && scripts/pack-split.py "target/$next" | tee -a "$logs/site.log"; then
    if [ -d target/site ] && [ ! -L target/site ]; then rm -rf target/site.old && mv target/site target/site.old; fi
    ln -sfn "$next" target/site.swap && mv -T target/site.swap target/site
    rm -rf target/site.old
    echo "site: target/site built (-> target/$next)"
  else
    echo "site: the browser bundle did NOT build; log: $logs/site.log" >&2; status=1
  fi
}

# The Rust test binaries, built but not run (see `all`); `rust` then only runs them.
rust_build() {
  echo "==> building the Rust tests (cargo test --no-run)"
  cargo build -p nvml-sim > "$logs/build.log" 2>&1 \
    && cargo build -p agent --bin migboard-agent >> "$logs/build.log" 2>&1 \
    && cargo test -p mig -p agent -p app -p server --features app/ssr --no-run >> "$logs/build.log" 2>&1 \
    || { tail -60 "$logs/build.log"; echo "rust: the test build FAILED; log: $logs/build.log" >&2; }
}

rust() {
  echo "==> Rust tests (per crate, so the ssr and hydrate features never unify)"
  # `frontend` is the wasm entry (hydrate); its code is `app`, tested here with `ssr`.
  local rc=0
  # The agent's FFI tests load the simulated NVML library (nvml-sim) as libnvidia-ml.so.1.
  cargo build -p nvml-sim 2>&1 | tee "$logs/nvml-sim.log" || rc=$?
  # The server's embedded-fleet tests start real agent processes.
  cargo build -p agent --bin migboard-agent 2>&1 | tee -a "$logs/nvml-sim.log" || rc=$?
  export NVML_SIM_LIB="$ROOT/target/debug/libnvidia_ml.so"
  # The store's tests run on SQLite and on a throwaway PostgreSQL server.
  if MIGBOARD_TEST_DATABASE_URL="$(scripts/pg.sh 2>"$logs/pg.log")"; then
    export MIGBOARD_TEST_DATABASE_URL
    trap 'scripts/pg.sh stop' EXIT
  else
    echo "rust: the test PostgreSQL server did not start; log: $logs/pg.log" >&2; cat "$logs/pg.log" >&2; rc=1
  fi
  cargo test -p mig -p agent -p app -p server --features app/ssr 2>&1 | tee "$logs/rust.log" || rc=$?
  local p f i
  # A crate with no tests still prints "test result", so these greps match; `|| true` guards the rest.
  p=$(grep -Eo '^test result: .* ([0-9]+) passed' "$logs/rust.log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}' || true)
  f=$(grep -Eo '^test result: .*; ([0-9]+) failed' "$logs/rust.log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}' || true)
  i=$(grep -Eo '^test result: .*; ([0-9]+) ignored' "$logs/rust.log" | grep -Eo '[0-9]+ ignored' | awk '{s+=$1} END {print s+0}' || true)
  echo "rust: $p passed, $f failed, $i ignored"
  passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + i))
  [ "$rc" -eq 0 ] || { echo "rust tests FAILED (exit $rc); log: $logs/rust.log" >&2; status=1; }
}

wasm() {
  echo "==> mig builds for wasm32-unknown-unknown (the browser runs the same rules)"
  if cargo build -p mig --lib --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort --quiet 2>&1 | tee "$logs/wasm.log"; then
    echo "wasm: mig builds for wasm32-unknown-unknown"
  else
    echo "wasm: mig does NOT build for wasm32-unknown-unknown; log: $logs/wasm.log" >&2; status=1
  fi
}

fuzz() {
  echo "==> Fuzzing for ${FUZZ_SECONDS:-60} s: blueprint parse+validate, then a third of that each: planner link, mig-parted import, custom config (cargo fuzz, mig/fuzz)"
  if FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh > "$logs/fuzz.log" 2>&1; then
    local runs
    runs=$(grep -Eo 'number_of_executed_units: *[0-9]+' "$logs/fuzz.log" | grep -Eo '[0-9]+$' | awk '{ s += $1 } END { print s + 0 }')
    echo "fuzz: $runs inputs over 4 targets, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz: FAILED (crash, timeout or build error); log: $logs/fuzz.log, inputs: mig/fuzz/artifacts" >&2
    tail -40 "$logs/fuzz.log" >&2
    failed=$((failed + 1)); status=1
  fi
}

e2e() {
  # MIGBOARD_E2E_SERVER: the server binary under test; `all` sets it to the test build's.
  local server="${MIGBOARD_E2E_SERVER:-$ROOT/target/release/migboard}"
  echo "==> Playwright end-to-end tests (headless Debian Chromium, release bundle, server ${server#"$ROOT"/})"
  [ -x "$server" ] || { echo "e2e: $server missing: run make build (or scripts/test.sh all)" >&2; status=1; return; }
  [ -f target/site/pkg/migboard.wasm ] || { echo "e2e: target/site has no bundle: run make build" >&2; status=1; return; }
  local rc=0
  (cd end2end && CI=1 MIGBOARD_E2E_SERVER="$server" npx playwright test) 2>&1 | tee "$logs/e2e.log" || rc=$?
  local p f
  # `|| true`: a run with no failures has no "failed" line, and grep's exit 1 must not end the script.
  p=$( (grep -Eo '^ *[0-9]+ passed' "$logs/e2e.log" || true) | grep -Eo '[0-9]+' | tail -1 || true); p=${p:-0}
  f=$( (grep -Eo '^ *[0-9]+ failed' "$logs/e2e.log" || true) | grep -Eo '[0-9]+' | tail -1 || true); f=${f:-0}
  echo "playwright: $p passed, $f failed"
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then
    [ "$f" -gt 0 ] || failed=$((failed + 1))
    echo "end-to-end tests FAILED (exit $rc); log: $logs/e2e.log, traces: end2end/test-results" >&2; status=1
  fi
}
smoke() {
  local server="${MIGBOARD_E2E_SERVER:-$ROOT/target/release/migboard}"
  echo "==> Security smoke: probing the running server from outside with curl (${server#"$ROOT"/})"
  if scripts/security-smoke.sh "$server" > "$logs/smoke.log" 2>&1; then
    tail -1 "$logs/smoke.log"
    passed=$((passed + 1))
  else
    cat "$logs/smoke.log" >&2
    echo "smoke: FAILED; log: $logs/smoke.log" >&2
    failed=$((failed + 1)); status=1
  fi
}

manifests() {
  echo "==> Kubernetes manifests: every overlay renders (kubectl kustomize) and validates (kubernetes-validate)"
  if scripts/manifests.sh > "$logs/manifests.log" 2>&1; then
    grep '^manifests:' "$logs/manifests.log" | tail -1
    passed=$((passed + 1))
  else
    cat "$logs/manifests.log" >&2
    echo "manifests: FAILED; log: $logs/manifests.log" >&2
    failed=$((failed + 1)); status=1
  fi
}

size() {
  echo "==> Bundle budget: the main wasm module every page loads (release build, gzip -9)"
  if scripts/wasm-size.sh > "$logs/size.log" 2>&1; then
    tail -1 "$logs/size.log" | sed 's/^/size: /'
    passed=$((passed + 1))
  else
    cat "$logs/size.log" >&2
    echo "size: FAILED; see BENCHMARKS.md (bundle) for how to find what grew" >&2
    failed=$((failed + 1)); status=1
  fi
}

case "$what" in
  all)
    # The release bundle builds in its own target dir (target/front), so it runs beside the test
    # build: its long single-threaded LTO link overlaps the debug compile. The tests themselves run
    # only after both are done, on an otherwise idle machine.
    echo "==> building the browser bundle (log: $logs/site.log) beside the Rust test build"
    site > "$logs/site-step.log" 2>&1 &
    site_pid=$!
    rust_build
    wait "$site_pid" || true
    cat "$logs/site-step.log"
    grep -q '^site: target/site built' "$logs/site-step.log" || { failed=$((failed + 1)); status=1; }
    rust; wasm; manifests; size; fuzz
    MIGBOARD_E2E_SERVER="$ROOT/target/debug/migboard" smoke
    MIGBOARD_E2E_SERVER="$ROOT/target/debug/migboard" e2e ;;
  smoke) smoke ;;
  site) site ;;
  manifests) manifests ;;
  size) size ;;
  rust) rust ;;
  wasm) wasm ;;
  fuzz) fuzz ;;
  e2e) e2e ;;
  *) echo "usage: scripts/test.sh all|site|rust|wasm|manifests|size|fuzz|smoke|e2e" >&2; exit 2 ;;
esac
echo
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$status"
