#!/usr/bin/env bash
# Probes a running migboard from the outside, as an attacker would, with curl: the security headers,
# framing, the redirect after sign-in, cross-site changes, the sign-in limit, event stream caps, the
# header-read timeout, what a viewer sees of a blueprint's secrets, and what public endpoints reveal.
# Prints each check and exits non-zero if any fails.
#
#   scripts/security-smoke.sh [SERVER_BINARY]   (default target/release/migboard)
#
# It starts the server itself on a free port with a throwaway data folder, the embedded fleet, one
# allowed portal origin, a stream cap of 3 per user and a 2 s header-read timeout. `make test` runs
# it against the test build's server.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
server="${1:-$ROOT/target/release/migboard}"
[ -x "$server" ] || { echo "security-smoke: no server binary at $server (make build)" >&2; exit 2; }
command -v curl >/dev/null || { echo "security-smoke: needs curl" >&2; exit 2; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
portal="https://portal.example.com"
password="smoke-admin-password-1"
data="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

MIGBOARD_ADDR="127.0.0.1:$port" MIGBOARD_DATA_DIR="$data" LEPTOS_SITE_ROOT="$ROOT/target/site" \
  MIGBOARD_ADMIN_PASSWORD="$password" MIGBOARD_FRAME_ANCESTORS="$portal" \
  MIGBOARD_MAX_STREAMS_PER_USER=3 MIGBOARD_HEADER_READ_TIMEOUT_SECS=2 RUST_LOG=error \
  "$server" > "$data/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$base/healthz" || { echo "security-smoke: the server did not start:" >&2; cat "$data/server.log" >&2; exit 1; }

checks=0 failures=0
check() { # check WHAT DETAIL COMMAND [ARGS...]: passes when COMMAND succeeds
  local what=$1 detail=$2
  shift 2
  checks=$((checks + 1))
  if "$@"; then
    printf '  ok    %s\n' "$what"
  else
    failures=$((failures + 1))
    printf '  FAIL  %s%s\n' "$what" "${detail:+ ($detail)}"
  fi
}
has() { grep -qiE -- "$2" <<<"$1"; }
lacks() { ! grep -qiE -- "$2" <<<"$1"; }
is() { [ "$1" = "$2" ]; }
header() { grep -i "^$2:" <<<"$1" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ //'; }
nonce_of() { grep -oE "'nonce-[A-Za-z0-9_-]+'" <<<"$1" | head -1 | tr -d "'" | sed 's/^nonce-//'; }
unknown_share="$(printf 'u%.0s' $(seq 1 64))"

echo "==> headers and framing"
login_head=$(curl -sS -D - -o "$data/login.html" "$base/login")
csp=$(header "$login_head" content-security-policy)
nonce=$(nonce_of "$csp")
check "pages: scripts only from the site or with this response's nonce" "$csp" \
  has "$csp" "script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval';"
check "pages: no 'unsafe-inline' for scripts" "$csp" lacks "$(grep -oE 'script-src[^;]*' <<<"$csp")" "unsafe-inline"
inline_without=$(grep -oE '<script[^>]*>' "$data/login.html" | grep -v ' src=' | grep -vc "nonce=\"${nonce:-none}\"" || true)
check "pages: every inline script carries that nonce" "$inline_without without it" is "${nonce:+$inline_without}" 0
check "pages: frame-ancestors 'none'" "$csp" has "$csp" "frame-ancestors 'none'$"
check "pages: X-Frame-Options: DENY" "" is "$(header "$login_head" x-frame-options)" DENY
check "responses: nosniff" "" is "$(header "$login_head" x-content-type-options)" nosniff
check "responses: a referrer policy" "" has "$login_head" '^referrer-policy:'
check "the nonce hand-over header never leaves the server" "" lacks "$login_head" '^x-migboard-csp-nonce'
check "plain HTTP: no HSTS" "" lacks "$login_head" '^strict-transport-security'
second=$(nonce_of "$(curl -sS -D - -o /dev/null "$base/login")")
check "a fresh nonce per response" "$nonce then $second" lacks "${second:-$nonce}" "^$nonce$"
share_csp=$(header "$(curl -sS -D - -o /dev/null "$base/share/$unknown_share")" content-security-policy)
check "share and embed views: framable by migboard and the allowed portal only" "$share_csp" \
  has "$share_csp" "frame-ancestors 'self' $portal$"

echo "==> sign-in and changes"
sign_in_next() {
  curl -sS -o /dev/null -w '%{redirect_url}' -X POST --data-urlencode "username=admin" \
    --data-urlencode "password=$password" --data-urlencode "next=$1" "$base/login"
}
to=$(sign_in_next "$(printf '/\t/evil.example')")
check "after sign-in, next=/<tab>/evil.example stays on this site" "$to" is "$to" "$base/"
to=$(sign_in_next '//evil.example/x')
check "after sign-in, next=//evil.example stays on this site" "$to" is "$to" "$base/"
token=$(curl -sS -X POST -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\",\"name\":\"smoke\"}" "$base/api/v1/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
auth=(-H "authorization: Bearer $token")
change_from() {
  curl -sS -o /dev/null -w '%{http_code}' -X POST "${auth[@]}" -H "origin: $1" \
    -H 'content-type: application/json' -d '{}' "$base/api/v1/deployments"
}
code=$(change_from https://evil.example)
check "a change sent from another site is refused (403)" "$code" is "$code" 403
code=$(change_from "https://127.0.0.1:$port")
check "the same host over another scheme is another site (403)" "$code" is "$code" 403

echo "==> event streams and slow clients"
for i in 1 2 3; do
  curl -sS -N -o "$data/stream$i" "${auth[@]}" "$base/api/v1/events" &
  pids+=($!)
done
sleep 1
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$base/api/v1/events" || true)
check "a fourth event stream for the same user: 429 (cap 3)" "$code" is "$code" 429
# Half a request's headers, then silence: the server must hang up by itself.
closed=$(timeout 10 python3 - "$port" <<'PY' || echo "no answer"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
s.settimeout(9)
started = time.time()
try:
    while s.recv(1024):
        pass
    print("closed after %.1f s" % (time.time() - started))
except socket.timeout:
    print("still open after 9 s")
PY
)
check "a client that never finishes its headers is cut off (2 s timeout)" "$closed" has "$closed" '^closed after [2-4]\.'

echo "==> what readers see"
blueprint=$(python3 - <<'PY'
import json
b = json.load(open("mig/data/oci-blueprints/mig_inference_single_replica.json"))
b["deployment_name"] = "smoke-secrets"
b["recipe_container_env"] = [{"key": "HF_TOKEN", "value": "hf_smoke_secret_value"}]
b["mig_resource_request"] = "1g.10gb"  # the default fleet serves it as it is
print(json.dumps(b))
PY
)
created=$(curl -sS -w '\n%{http_code}' -X POST "${auth[@]}" -H 'content-type: application/json' -d "$blueprint" "$base/api/v1/deployments")
code=$(tail -1 <<<"$created")
id=$(head -1 <<<"$created" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null || true)
check "a blueprint with a secret is deployed (201)" "$(head -c 300 <<<"$created")" is "$code${id:+ok}" 201ok
curl -sS -o /dev/null -X POST "${auth[@]}" -H 'content-type: application/json' \
  -d '{"username":"smoke-viewer","password":"smoke-viewer-password","role":"viewer"}' "$base/api/v1/users"
viewer=$(curl -sS -X POST -H 'content-type: application/json' \
  -d '{"username":"smoke-viewer","password":"smoke-viewer-password"}' "$base/api/v1/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
seen=$(curl -sS -H "authorization: Bearer $viewer" "$base/api/v1/deployments/${id:-0}")
check "a viewer reads the deployment without its secret" "$(head -c 200 <<<"$seen")" lacks "$seen" hf_smoke_secret_value
check "... and is told it is hidden" "" has "$seen" redacted
seen=$(curl -sS "${auth[@]}" "$base/api/v1/deployments/${id:-0}")
check "an operator (here: the admin) reads it whole" "" has "$seen" hf_smoke_secret_value
ready=$(curl -sS "$base/readyz")
check "/readyz tells the public only ready or not" "$ready" lacks "$ready" 'database|pkg|wasm|error|path|/'
code=$(curl -sS -o /dev/null -w '%{http_code}' "$base/share/$unknown_share")
check "an unknown share link's page: 404" "$code" is "$code" 404

echo "==> the sign-in limit (last: it spends this address's budget)"
limited=""
for i in $(seq 1 8); do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -H "x-forwarded-for: 10.9.9.$i" -d '{"username":"admin","password":"wrong-password-x"}' "$base/api/v1/login")
  [ "$code" = 429 ] && { limited=$i; break; }
done
check "wrong passwords: 429 within 8 tries; a spoofed X-Forwarded-For changes nothing" "attempt ${limited:-none}" is "${limited:+yes}" yes

echo "security-smoke: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
