#!/usr/bin/env bash
# HTTP benchmarks on loopback against the real release binary:
#   1. the push path with durable acks (204 only after the flush), batches of 1,000 samples;
#   2. external metrics reads (what the HPA controller does), requests/s and latency percentiles;
#   3. forecast and external metric reads at 8 and 64 connections, each beside a static server
#      (examples/static_bytes.rs) answering the same bytes, and the ratio (issue 19's yardstick).
# Installs wrk (Debian) when missing. Prints the figures; nothing here is a pass/fail test.
# With PIN=1 the server runs on CPU 0 and wrk on CPU 1 (both references alike). ROUNDS=N (default 1)
# measures each ratio N times, prescale and the static server in turn, and prints the median pair:
# one pair swings by ±10 % on a shared VM.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk..." >&2
  (apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null; })
fi
cargo build --release --quiet
cargo build --release --quiet --example static_bytes
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
static_server=
trap 'kill $server $static_server 2>/dev/null || true; rm -rf "$work"' EXIT
server_cpu=() client_cpu=()
if [ "${PIN:-0}" = 1 ]; then server_cpu=(taskset -c 0) client_cpu=(taskset -c 1); fi
port=${PORT:-18080}
rounds=${ROUNDS:-1}
cat > "$work/prescale.toml" <<TOML
[targets.web]
series = "web_rps"
capacity_per_replica = 20.0
min_replicas = 2
max_replicas = 50
TOML
"${server_cpu[@]}" "$bin/prescale" serve --config "$work/prescale.toml" --data-dir "$work/data" \
  --listen "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done

# Seed two days of history so the target has a real plan to serve.
python3 - "$port" <<'PY'
import json, math, sys, time, urllib.request
port = sys.argv[1]
now = int(time.time()) // 60 * 60
pts = [{"timestamp": now - 60 * i, "value": round(200 + 150 * math.sin((now - 60 * i) % 86400 / 86400 * 2 * math.pi))} for i in range(2 * 1440)]
for k in range(0, len(pts), 1000):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/series/web_rps/samples",
        data=json.dumps({"samples": pts[k:k + 1000]}).encode(), headers={"content-type": "application/json"})
    urllib.request.urlopen(req)
PY
for _ in $(seq 300); do curl -sf "localhost:$port/api/v1/targets/web/plan" >/dev/null && break; sleep 0.2; done

cat > "$work/push.lua" <<'LUA'
-- Each request: 1,000 fresh samples (distinct timestamps per thread and request).
local counter = 0
local thread_base = 0
function setup(thread)
  thread:set("thread_base", math.random(1, 1000000) * 100000000)
end
request = function()
  counter = counter + 1
  local base = 1000000000 + thread_base + counter * 60000
  local parts = {}
  for i = 0, 999 do
    parts[#parts + 1] = '{"timestamp":' .. (base + i * 60) .. ',"value":' .. (i % 97) .. '}'
  end
  local body = '{"samples":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/series/bench_push/samples", {["Content-Type"] = "application/json"}, body)
end
LUA

echo "== push, durable acks, 1,000 samples per batch (wrk -t2 -c8 -d10s) =="
wrk -t2 -c8 -d10s --latency -s "$work/push.lua" "http://127.0.0.1:$port" | tee "$work/push.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$work/push.txt")
echo "=> $(python3 -c "print(f'{float(\"$rps\") * 1000:,.0f}')") samples/s through HTTP with durable acks"
non2xx=$(grep -c "Non-2xx" "$work/push.txt" || true)
[ "$non2xx" = "0" ] || echo "WARNING: some pushes failed"

echo
echo "== external metrics read (wrk -t2 -c32 -d10s) =="
wrk -t2 -c32 -d10s --latency \
  "http://127.0.0.1:$port/apis/external.metrics.k8s.io/v1beta1/namespaces/default/web"

# Requests/s of wrk against URL with C connections.
rate() {
  "${client_cpu[@]}" wrk -t1 -c"$2" -d8s "$1" | awk '/Requests\/sec/ {print $2}'
}

echo
echo "== served bytes against a static server with the same bytes (wrk -t1, 8 s each, $rounds pair(s) each) =="
sport=$((port + 1))
for endpoint in "forecast /api/v1/series/web_rps/forecast?horizon=1h" \
  "external-metric /apis/external.metrics.k8s.io/v1beta1/namespaces/default/web"; do
  set -- $endpoint
  curl -sf "localhost:$port$2" > "$work/$1.json"
  "${server_cpu[@]}" "$bin/examples/static_bytes" "$work/$1.json" "127.0.0.1:$sport" &
  static_server=$!
  for _ in $(seq 100); do curl -sf "localhost:$sport/" >/dev/null && break; sleep 0.1; done
  for c in 8 64; do
    ratios=""
    for _ in $(seq "$rounds"); do
      ours=$(rate "http://127.0.0.1:$port$2" $c)
      reference=$(rate "http://127.0.0.1:$sport/" $c)
      python3 -c "print(f'{\"$1\":16} c={$c:<3} prescale {float(\"$ours\"):>9,.0f}/s  static {float(\"$reference\"):>9,.0f}/s  ratio {float(\"$ours\") / float(\"$reference\"):.2f}  ({$(wc -c < "$work/$1.json")} bytes)')"
      ratios="$ratios $(python3 -c "print(float(\"$ours\") / float(\"$reference\"))")"
    done
    if [ "$rounds" -gt 1 ]; then
      python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[2:])); print(f'{sys.argv[1]:16} c=$c   median ratio {statistics.median(r):.3f} over {len(r)} pairs (min {r[0]:.3f}, max {r[-1]:.3f})')" "$1" $ratios
    fi
  done
  kill $static_server; wait $static_server 2>/dev/null || true; static_server=
done
