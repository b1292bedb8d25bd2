#!/usr/bin/env bash
# remote_write ingest: prescale against Prometheus's own receiver, the same payload bytes to both.
#
# For each request shape (series × samples per series per request: 100 × 100, 100 × 10 and
# 1000 × 1, the last what a Prometheus server sends), eval/rwgen.py builds the remote_write 1.0
# payloads once (protobuf + snappy: the NASA trace, shifted and scaled per series, 5 % noise),
# then replays the identical bytes over keep-alive connections to a fresh prescale (release
# build, its own sled directory) and to a fresh Prometheus (`--web.enable-remote-write-receiver`,
# Debian's package; skipped with a note when it is not installed), each server alone on CPU 0
# and the generator on CPU 1 (`taskset`, when there are two). Every server is stopped cleanly
# (SIGTERM) and its data directory measured.
#
# It prints one line per receiver and shape: samples/s, p50 / p99 request latency, the status
# counts, and the bytes on disk per sample after the clean stop (prescale: its sled directory;
# Prometheus: its TSDB directory, WAL and head chunks — 2-hour blocks are cut only once the
# head spans 3 hours of samples, so short runs leave none).
#
# Usage: benches/remote_write.sh [--samples N] [--workers W] [--out DIR]
#   --samples  samples sent per shape and receiver (default 1,000,000)
#   --workers  generator connections, each with its own series (default 2)
#   --out      where payloads, data directories and logs go (default target/bench-remote-write)
# Also prints each receiver's resident memory 3 s after its last request, and prescale's 2 s
# after a restart on the same data (issue 19 asks the first at most 1.5× the second).
# The Python environment is .venv-rw (protobuf, cramjam), created here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

samples=1000000
workers=2
out=target/bench-remote-write
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "remote_write.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

venv=.venv-rw
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv"/bin/pip install --quiet --disable-pip-version-check protobuf cramjam
fi
cargo build --release --locked --quiet --bin prescale
prescale=${CARGO_TARGET_DIR:-target}/release/prescale
mkdir -p "$out"
out=$(cd "$out" && pwd)

server_cpu=() generator_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0) generator_cpu=(taskset -c 1)
fi

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready URL: until it answers 200 (at most 30 s).
wait_ready() {
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "remote_write.sh: $1 never became ready" >&2
  return 1
}

# stop PID: SIGTERM and wait for a clean exit.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# A server still running when the script stops early (a failed start, an interrupt) is stopped.
pid=
trap '[ -n "$pid" ] && stop "$pid"' EXIT

# resident PID: the process's resident memory in MB (VmRSS).
resident() {
  awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"
}

# report NAME SHAPE JSON DIR RSS RSS_RESTARTED: one line from rwgen's JSON, the directory's size
# and the resident memory after the ingest and after a restart on the same data ("-": not taken).
report() {
  python3 - "$@" <<'PY'
import json, os, sys
name, shape, line, directory, rss, restarted = sys.argv[1:]
r = json.loads(line)
size = 0
for root, _, files in os.walk(directory):
    for f in files:
        size += os.path.getsize(os.path.join(root, f))
status = ", ".join(f"{k}: {v}" for k, v in sorted(r["status"].items()))
ratio = f"{float(rss) / float(restarted):.2f}" if restarted != "-" else "-"
print(f"| {shape} | {name} | {r['samples_per_s']:,} | {r['latency_ms_p50']} | {r['latency_ms_p99']} "
      f"| {status} | {size / r['samples_sent']:.2f} | {rss} | {restarted} | {ratio} |")
PY
}

echo "| shape (series × samples per request) | receiver | samples/s | p50 ms | p99 ms | status | bytes/sample on disk | RSS MB after ingest | after a restart | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for shape in 100x100 100x10 1000x1; do
  series=${shape%x*} per=${shape#*x}
  rounds=$(( samples / workers / series / per ))
  payloads="$out/payloads-$shape-$samples-$workers.pkl"
  gen=("${generator_cpu[@]}" "$venv/bin/python" eval/rwgen.py rw --workers "$workers" --series "$series"
    --samples "$per" --rounds "$rounds" --step 10 --lag 2 --cache "$payloads" --dataset datasets/nasa-http-1995-1m.csv)

  # prescale: keeps the benchmark's metric, no TLS port.
  dir="$out/prescale-$shape"
  rm -rf "$dir" && mkdir -p "$dir"
  printf '[remote_write]\nallow = ["rw_bench"]\n' > "$dir.toml"
  port=$(free_port)
  "${server_cpu[@]}" "$prescale" serve --config "$dir.toml" --data-dir "$dir/data" \
    --listen "127.0.0.1:$port" --no-tls > "$dir.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port/healthz"
  line=$("${gen[@]}" --url "http://127.0.0.1:$port/api/v1/write" 2>>"$dir.log" | tail -1)
  # Resident memory 3 s after the last request (the server gives freed memory back once writes
  # stop), then 2 s after a restart on the same data: what the ingest left behind.
  sleep 3
  rss=$(resident "$pid")
  stop "$pid"
  "${server_cpu[@]}" "$prescale" serve --config "$dir.toml" --data-dir "$dir/data" \
    --listen "127.0.0.1:$port" --no-tls >> "$dir.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port/healthz"
  sleep 2
  restarted=$(resident "$pid")
  stop "$pid"
  report prescale "$series × $per" "$line" "$dir/data" "$rss" "$restarted"

  if ! command -v prometheus >/dev/null; then
    echo "| $series × $per | Prometheus | not installed (apt-get install prometheus) | | | | | | | |"
    continue
  fi
  dir="$out/prometheus-$shape"
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'global:\n  scrape_interval: 1h\n' > "$dir.yml"
  port=$(free_port)
  "${server_cpu[@]}" prometheus --config.file "$dir.yml" --storage.tsdb.path "$dir/data" \
    --web.listen-address "127.0.0.1:$port" --web.enable-remote-write-receiver > "$dir.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port/-/ready"
  line=$("${gen[@]}" --url "http://127.0.0.1:$port/api/v1/write" 2>>"$dir.log" | tail -1)
  sleep 3
  rss=$(resident "$pid")
  stop "$pid"
  report Prometheus "$series × $per" "$line" "$dir/data" "$rss" -
done
