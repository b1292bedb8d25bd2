#!/usr/bin/env bash
# prescale next to the yardstick's peers (eval/peers.py) on every bundled trace.
#
# For each dataset and each of two horizons (15m and 60m, or 1 and 4 steps on traces coarser than
# 15 minutes), with a 14-day train window (half the trace in whole days when it is shorter than 28
# days) and 50 origins:
#   1. peers.py --emit-origins writes the rolling origins;
#   2. `prescale forecast` (release build) forecasts at those origins, for each prescale model;
#   3. peers.py fits its peers on the same origins and scores them together with prescale's files,
#      printing one table per dataset and horizon.
# Then a final table: prescale auto's MASE against the best peer's, per dataset and horizon.
#
# Usage: scripts/compare.sh [--models PEERS] [--prescale-models LIST] [--origins N]
#                           [--datasets DIR] [--only SUBSTRING] [--out DIR]
#   --models           peers to run (default: all of peers.py's: snaive,snaive_long,ols_fourier,
#                      holt_winters,autoets,mstl,prophet; prophet and mstl take minutes per trace)
#   --prescale-models  prescale models scored (default: auto,linear-seasonal)
#   --only             only the datasets whose file name contains SUBSTRING
#   --out              where origins, forecasts and JSON results go (default: target/compare)
# The Python environment is .venv-eval (created here from eval/requirements.txt when missing or stale).
set -euo pipefail
cd "$(dirname "$0")/.."

models="snaive,snaive_long,ols_fourier,holt_winters,autoets,mstl,prophet"
prescale_models="auto,linear-seasonal"
origins=50
datasets=datasets
only=""
out=target/compare
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --prescale-models) prescale_models="$2"; shift 2 ;;
    --origins) origins="$2"; shift 2 ;;
    --datasets) datasets="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# The Python environment, rebuilt when eval/requirements.txt changes.
venv=.venv-eval
python=$venv/bin/python
stamp=$venv/.eval-requirements
if [ ! -x "$python" ] || ! cmp -s eval/requirements.txt "$stamp"; then
  echo "compare.sh: installing eval/requirements.txt into $venv" >&2
  [ -x "$python" ] || python3 -m venv "$venv"
  "$venv"/bin/pip install --quiet --disable-pip-version-check -r eval/requirements.txt
  cp eval/requirements.txt "$stamp"
fi

cargo build --release --locked --quiet --bin prescale
# The binary cargo just built (CARGO_TARGET_DIR when set, as cargo itself reads it).
prescale=${CARGO_TARGET_DIR:-target}/release/prescale
mkdir -p "$out"

# Step (the most common difference, as peers.py infers it), horizons and train window per trace.
frame() {
  "$python" - "$1" <<'PY'
import sys
import pandas as pd
ts = pd.to_datetime(pd.read_csv(sys.argv[1])["timestamp"], utc=True).sort_values()
step = int(ts.diff().dropna().dt.total_seconds().mode()[0])
points = int((ts.iloc[-1] - ts.iloc[0]).total_seconds() // step) + 1
horizons = "15m 60m" if step <= 900 else f"{step}s {4 * step}s"
half = points // 2 * step
if points * step >= 28 * 86400:
    window = "14d"
elif half >= 86400:
    window = f"{half // 86400}d"
else:
    window = f"{half}s"
print(step, window, horizons)
PY
}

shopt -s nullglob
ran=0
for csv in "$datasets"/*.csv; do
  name=$(basename "$csv" .csv)
  [[ -n "$only" && "$name" != *"$only"* ]] && continue
  read -r step window h1 h2 < <(frame "$csv")
  for horizon in "$h1" "$h2"; do
    base="$out/$name-$horizon"
    common=(--season 1d,7d --horizon "$horizon" --train-window "$window" --origins "$origins")
    "$python" eval/peers.py "$csv" "${common[@]}" --models "" --emit-origins "$base.origins" >/dev/null
    scores=()
    for model in ${prescale_models//,/ }; do
      # Its last line ends with the mean fit+predict seconds, kept for the summary.
      "$prescale" forecast --dataset "$csv" --origins-file "$base.origins" --horizon "$horizon" \
        --model "$model" --season 1d,7d --train-window "$window" --out "$base.prescale-$model.csv" \
        | sed -n 's/.*mean fit+predict \([0-9.e+-]*\) s$/\1/p' > "$base.prescale-$model.seconds"
      scores+=(--score-file "prescale-$model=$base.prescale-$model.csv")
    done
    echo
    echo "## $name, horizon $horizon (step ${step}s, train window $window)"
    # Prophet's back end logs every fit on stderr: keep stderr, minus that chatter.
    "$python" eval/peers.py "$csv" "${common[@]}" --models "$models" "${scores[@]}" --json "$base.json" \
      2> >(grep -v -E 'cmdstanpy|Importing plotly' >&2)
    ran=$((ran + 1))
  done
done
if [ "$ran" -eq 0 ]; then
  echo "compare.sh: no dataset matched in $datasets" >&2
  exit 1
fi

echo
echo "## Summary: prescale auto against the peers (MASE ratio < 1: prescale is more accurate)"
echo "(speed: the fastest peer whose MASE is within 10 % of auto's or better, else the most accurate"
echo " peer; mean fit+predict seconds per origin, as peers.py times its peers, all in this run)"
"$python" - "$out" "$datasets" "$only" <<'PY'
import glob, json, os, sys
out, datasets, only = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(path))
    name = os.path.basename(r["dataset"])[:-4]
    if only and only not in name or os.path.dirname(r["dataset"]) != datasets.rstrip("/"):
        continue
    by = {m["model"]: m for m in r["results"]}
    peers = [m for m in r["results"] if not m["model"].startswith("prescale-")
             and m["mase"] is not None]
    best = min(peers, key=lambda m: m["mase"]) if peers else None
    ours = {k[len("prescale-"):]: v["mase"] for k, v in by.items() if k.startswith("prescale-")}
    try:
        secs = float(open(path[:-len(".json")] + ".prescale-auto.seconds").read())
    except (OSError, ValueError):
        secs = float("nan")
    rows.append((name, r["horizon_steps"], ours, best, peers, secs))
models = sorted({m for row in rows for m in row[2]}, key=lambda m: m != "auto")
print("| dataset | horizon steps | " + " | ".join(f"prescale {m}" for m in models)
      + " | best peer | its MASE | auto / best | auto s | speed peer | its s | speed-up |")
print("|---" * (len(models) + 9) + "|")
wins, speedups = 0, []
for name, h, ours, best, peers, secs in rows:
    cells = [f"{ours[m]:.4g}" if m in ours else "" for m in models]
    auto = ours.get("auto", float("nan"))
    ratio = auto / best["mase"] if best else float("nan")
    wins += ratio <= 1
    timed = [m for m in peers if m.get("fit_predict_seconds")]
    similar = [m for m in timed if m["mase"] <= 1.1 * auto]
    pool = similar or sorted(timed, key=lambda m: m["mase"])[:1]
    fast = min(pool, key=lambda m: m["fit_predict_seconds"]) if pool else None
    speed = fast["fit_predict_seconds"] / secs if fast and secs > 0 else float("nan")
    if speed == speed:
        speedups.append(speed)
    print(f"| {name} | {h} | " + " | ".join(cells)
          + (f" | {best['model']} | {best['mase']:.4g} | {ratio:.3f}" if best else " | | |")
          + f" | {secs:.4f} | " + (f"{fast['model']} | {fast['fit_predict_seconds']:.4f} | {speed:.0f}x |"
                                 if fast else " | | |"))
print(f"\nprescale auto is no worse than the best peer in {wins} of {len(rows)} dataset/horizon pairs")
if speedups:
    print(f"speed-up over the fastest peer of similar accuracy: {min(speedups):.0f}x to {max(speedups):.0f}x")
PY
