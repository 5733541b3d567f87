#!/usr/bin/env bash
# Installs everything migboard's build and tests need, skipping what is already there.
# Idempotent: a second run only checks versions. Called by `make run` and `make test`.
#
#   apt:   Debian's Rust 1.96 with std sources (rustc-web cargo-web rust-web-src), lld-19 (wasm linker),
#          chromium (end-to-end tests), postgresql (the store's PostgreSQL tests), curl (the security
#          smoke test), nodejs/npm if missing
#   cargo: cargo-leptos 0.3.11, wasm-bindgen-cli at exactly the version in Cargo.lock, cargo-fuzz 0.13.2
#   npm:   end2end/ packages (Playwright, binaryen's wasm-opt) from package-lock.json
#   k8s:   kubectl (Debian's kubernetes-client when no kubectl is installed) and PyPI's
#          kubernetes-validate (in target/pytools), which render and check deploy/kubernetes
#
# Never downloads a browser or a toolchain from anywhere but the package registries.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

CARGO_LEPTOS_VERSION="0.3.11"
CARGO_FUZZ_VERSION="0.13.2"
KUBERNETES_VALIDATE_VERSION="1.37.0"
APT_PACKAGES=(rustc-web cargo-web rust-web-src lld-19 chromium postgresql curl)
STEP="starting"
trap 'echo "setup: FAILED during: $STEP (exit $?). Fix the cause above and run the command again; finished steps are skipped." >&2' ERR

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
ok() { printf '    %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "setup: need root to run: $* (install sudo or run as root)" >&2; return 1
  fi
}

STEP="apt packages"
say "[1/6] Debian packages: ${APT_PACKAGES[*]}"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# deploy/kubernetes checks: any kubectl will do (Debian's conflicts with others), and pip for
# kubernetes-validate.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  ok "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
else
  ok "all present"
fi
STEP="checking the Rust toolchain"
cargo_version="$(cargo --version)"
case "$cargo_version" in
  *"1.9"[6-9]*|*"1.1"[0-9][0-9]*) ok "$cargo_version ($(command -v cargo))" ;;
  *) echo "setup: expected Debian's cargo >= 1.96 first on PATH, found: $cargo_version at $(command -v cargo)" >&2; false ;;
esac
[ -d /usr/lib/rustlib/src/rust/library ] || { echo "setup: rust std sources missing (package rust-web-src)" >&2; false; }

STEP="installing cargo-leptos $CARGO_LEPTOS_VERSION"
say "[2/6] cargo-leptos $CARGO_LEPTOS_VERSION"
if cargo-leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
  ok "present"
else
  ok "building from crates.io (about 16 minutes on 2 cores; once per machine)"
  # LTO off: its own fat-LTO profile needs 25-34 min and 4.6 GB. no_downloads: a missing tool is an error,
  # never a download from outside the registries.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --quiet
fi

STEP="installing wasm-bindgen-cli"
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$WB_VERSION" ] || { echo "setup: cannot read wasm-bindgen's version from Cargo.lock" >&2; false; }
say "[3/6] wasm-bindgen-cli $WB_VERSION (must equal Cargo.lock's wasm-bindgen)"
if wasm-bindgen --version 2>/dev/null | grep -q " $WB_VERSION\$"; then
  ok "present"
else
  ok "building from crates.io (3-8 minutes; once per version)"
  # Without --locked: its lock file pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WB_VERSION" --force --quiet
fi

STEP="installing cargo-fuzz"
say "[4/6] cargo-fuzz $CARGO_FUZZ_VERSION (the blueprint fuzz target in make test)"
if cargo-fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  ok "present"
else
  ok "building from crates.io (about 1 minute)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

STEP="installing npm packages in end2end/"
say "[5/6] npm packages (Playwright, binaryen wasm-opt)"
stamp="end2end/node_modules/.migboard-lock"
if [ -f "$stamp" ] && cmp -s end2end/package-lock.json "$stamp"; then
  ok "present"
else
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  cp end2end/package-lock.json "$stamp"
fi
command -v wasm-opt >/dev/null || { echo "setup: wasm-opt not found in end2end/node_modules/.bin" >&2; false; }
ok "wasm-opt: $(wasm-opt --version)"

STEP="installing kubectl and kubernetes-validate"
say "[6/6] kubectl and kubernetes-validate $KUBERNETES_VALIDATE_VERSION (deploy/kubernetes checks)"
ok "$(kubectl version --client 2>/dev/null | head -1) (installed in step 1 when missing)"
# Into target/pytools (PYTHONPATH), not the system's Python: Debian's is externally managed (PEP 668).
if PYTHONPATH=target/pytools python3 -c 'import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != "'"$KUBERNETES_VALIDATE_VERSION"'")' 2>/dev/null; then
  ok "kubernetes-validate present"
else
  python3 -m pip install --quiet --disable-pip-version-check --upgrade --target target/pytools "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" </dev/null
  ok "kubernetes-validate $KUBERNETES_VALIDATE_VERSION installed in target/pytools"
fi
say "setup complete"
