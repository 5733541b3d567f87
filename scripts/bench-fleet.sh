#!/usr/bin/env bash
# The embedded fleet at 500 nodes × 8 GPUs (one `serve-many` agent process): first start and restart
# time, memory and idle CPU of the server and the agent process, and the fleet reads' latency.
# Uses target/release/{migboard,migboard-agent} (`make build`). Prints one line per figure.
# (`cargo bench -p server --bench events -- fleets` measures the same and more, in Rust.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${MIGBOARD_BIN:-$ROOT/target/release/migboard}"
PORT="${PORT:-3987}"
DIR="$(mktemp -d)"
trap 'kill $(cat "$DIR/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$DIR"' EXIT
python3 - "$DIR/fleet.toml" <<'PY'
import sys
configs = ["all-balanced", "all-1g.10gb", "all-3g.40gb", "all-2g.20gb", "all-1g.20gb"]
out = []
for p in range(5):
    nodes = ", ".join(f'"10.1.{p}.{10 + n}"' for n in range(100))
    out.append(f'[[pools]]\nname = "pool-{p}"\nshape = "BM.GPU.H100.8"\nmig_config = "{configs[p]}"\nnodes = [{nodes}]\n')
open(sys.argv[1], "w").write("\n".join(out))
PY
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system, in 1/100 s
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for round in "first start" "restart"; do
  t0=$(date +%s.%N)
  MIGBOARD_ADDR="127.0.0.1:$PORT" MIGBOARD_DATA_DIR="$DIR/data" MIGBOARD_FLEET_FILE="$DIR/fleet.toml" \
    LEPTOS_SITE_ROOT="$DIR/no-site" MIGBOARD_ADMIN_PASSWORD=bench-admin-password-0123 RUST_LOG=error \
    "$BIN" > "$DIR/log" 2>&1 &
  echo $! > "$DIR/pid"; pid=$(cat "$DIR/pid")
  until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; do sleep 0.2; done
  t1=$(date +%s.%N)
  agent=$(pgrep -P "$pid" -f "migboard-agent serve-many")
  sleep 3
  s0=$(cpu "$pid"); a0=$(cpu "$agent"); sleep 10; s1=$(cpu "$pid"); a1=$(cpu "$agent")
  echo "$round: listening after $(echo "$t1 - $t0" | bc) s; agent processes: $(pgrep -P "$pid" -f migboard-agent | wc -l); RSS server $(( $(rss "$pid") / 1024 )) MiB, agent $(( $(rss "$agent") / 1024 )) MiB; idle CPU over 10 s: server $(( s1 - s0 )) %, agent $(( a1 - a0 )) % of one core"
  if [ "$round" = restart ]; then
    token=$(curl -s -X POST -H 'content-type: application/json' -d '{"username":"admin","password":"bench-admin-password-0123"}' \
      "http://127.0.0.1:$PORT/api/v1/login" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
    for path in /api/v1/fleet /api/v1/fleet/summary "/api/v1/fleet/nodes?pool=pool-3&page=2"; do
      for i in $(seq 1 60); do
        curl -s -o /dev/null -w "%{time_total} %{size_download}\n" -H "authorization: Bearer $token" "http://127.0.0.1:$PORT$path"
      done | sort -n | awk -v p="$path" '{t[NR]=$1; b=$2} END {printf "GET %s: %d bytes, p50 %.1f ms, p95 %.1f ms (60 requests, one at a time, curl)\n", p, b, t[int(NR*0.5)]*1000, t[int(NR*0.95)]*1000}'
    done
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; sleep 1
done
