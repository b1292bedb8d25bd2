#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the decoders that read untrusted bytes:
# every target under fuzz/fuzz_targets/ runs for a bounded time, one after the other.
#
#   scripts/fuzz.sh [SECONDS]      # each target SECONDS (default 60, or $FUZZ_SECONDS)
#   FUZZ_TARGETS="csv push_json" scripts/fuzz.sh 300   # only these targets
#
# Each run starts from the committed seeds (fuzz/seeds/TARGET/) and the corpus of earlier runs
# (fuzz/corpus/TARGET/, not committed), and adds what it finds to the latter. libFuzzer's
# limits: -rss_limit_mb=2048 (an input that allocates more is an OOM finding), -timeout=10 s per
# input. The script exits non-zero if any target crashed, panicked, ran out of memory or timed
# out, and prints where libFuzzer saved the input (fuzz/artifacts/TARGET/crash-…, oom-…,
# timeout-…). Logs: fuzz/logs/TARGET.log.
#
# Reproduce a finding (a debug build with the same instrumentation, prints the panic):
#   cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/crash-…
# Minimise it: cargo +nightly fuzz tmin TARGET artifacts/TARGET/crash-…
# Known findings are kept under fuzz/regressions/TARGET/; replay them all once with
#   cd fuzz && cargo +nightly fuzz run TARGET regressions/TARGET/*
# Without a nightly toolchain: RUSTC_BOOTSTRAP=1 cargo +stable fuzz …, as this script does.
#
# Toolchain: nightly when rustup has one, else stable (or FUZZ_TOOLCHAIN), with
# RUSTC_BOOTSTRAP=1 when not nightly (cargo-fuzz needs -Z flags); AddressSanitizer when the
# toolchain ships its runtime, else --sanitizer none (panics, aborts, OOMs and timeouts are still
# found; FUZZ_SANITIZER overrides). cargo-fuzz is installed when missing.
# Builds and runs are niced (FUZZ_NICE, default 19) so they never slow down other work.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds="${1:-${FUZZ_SECONDS:-60}}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "scripts/fuzz.sh: seconds must be a positive whole number, got '$seconds'" >&2
  exit 2
fi
nice=(nice -n "${FUZZ_NICE:-19}")

# ----- toolchain -----
toolchain=()
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  toolchain=("+$FUZZ_TOOLCHAIN")
elif command -v rustup >/dev/null 2>&1; then
  if rustup toolchain list | grep -q '^nightly'; then
    toolchain=(+nightly)
  else
    toolchain=(+stable)
  fi
fi
if ! rustc "${toolchain[@]}" --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: installing cargo-fuzz" >&2
  "${nice[@]}" cargo install cargo-fuzz --locked
fi
sanitizer="${FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
  sysroot=$(rustc "${toolchain[@]}" --print sysroot)
  host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
  if compgen -G "$sysroot/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
    sanitizer=address
  else
    sanitizer=none
  fi
fi
echo "scripts/fuzz.sh: cargo ${toolchain[*]} fuzz, sanitizer $sanitizer${RUSTC_BOOTSTRAP:+, RUSTC_BOOTSTRAP=1}, ${seconds}s per target" >&2

cd fuzz
fuzz=(cargo "${toolchain[@]}" fuzz)
read -r -a targets <<<"${FUZZ_TARGETS:-$("${fuzz[@]}" list | tr '\n' ' ')}"
"${nice[@]}" "${fuzz[@]}" build --sanitizer "$sanitizer"

# ----- runs -----
mkdir -p logs
failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  stamp=$(mktemp)
  echo "scripts/fuzz.sh: $target for ${seconds}s" >&2
  status=0
  "${nice[@]}" "${fuzz[@]}" run --sanitizer "$sanitizer" "$target" \
    "$root/fuzz/corpus/$target" "$root/fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"logs/$target.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$target.log" | tail -1)
  found=$(find "artifacts/$target" -type f -newer "$stamp" | sort)
  rm -f "$stamp"
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    failed+=("$target")
    echo "scripts/fuzz.sh: $target FAILED (exit $status) after ${execs:-?} execs; log fuzz/logs/$target.log" >&2
    grep -m1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY" "logs/$target.log" >&2 || true
    for artifact in $found; do
      echo "  input: fuzz/$artifact" >&2
      echo "  reproduce: cd fuzz && ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }cargo ${toolchain[*]} fuzz run $target $artifact" >&2
    done
  else
    echo "scripts/fuzz.sh: $target ok, ${execs:-?} execs, corpus $(find "corpus/$target" -type f | wc -l) inputs" >&2
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "scripts/fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/fuzz.sh: no findings in ${#targets[@]} targets" >&2
