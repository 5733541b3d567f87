# Sourced by the build scripts: puts the right tools first on PATH.
# Debian's Rust 1.96 (it has the std sources build-std needs) before rustup's proxies; the npm-installed
# wasm-opt (binaryen) before any other: Debian's binaryen 108 silently corrupts the wasm.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$_root/end2end/node_modules/.bin:/usr/bin:$CARGO_HOME/bin:$PATH"
# -Zbuild-std for wasm32 is gated in cargo itself; Debian's stable toolchain needs this to allow it.
export RUSTC_BOOTSTRAP=1
unset _root
