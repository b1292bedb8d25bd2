#!/usr/bin/env bash
# Regenerates models/<dataset>.json for every bundled trace in datasets/ with `prescale train`
# (auto over daily and weekly seasons, the newest 14 days or all of a shorter trace).
#
# Deterministic: the files depend only on the code and the datasets. `fitted_at` is
# SOURCE_DATE_EPOCH, by default the time of the last commit that touched datasets/, so running
# this twice (or after a merge that changes no model code) rewrites identical files.
#
#   scripts/train-models.sh            # all datasets
#   scripts/train-models.sh nyc-taxi   # datasets whose name contains this
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet --bin prescale
# The binary cargo just built (CARGO_TARGET_DIR when set, as cargo itself reads it).
bin="${CARGO_TARGET_DIR:-target}/release/prescale"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- datasets 2>/dev/null || true)}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"
filter="${1:-}"

mkdir -p models
if [[ -z "$filter" ]]; then
    # Models of datasets that no longer exist go too.
    rm -f models/*.json
fi
for csv in datasets/*.csv; do
    name="$(basename "$csv" .csv)"
    [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
    echo "== $name"
    "$bin" train --dataset "$csv" --model auto --season 1d,7d --series "$name" \
        --out "models/$name.json"
done
echo
ls -l models/*.json | awk '{ printf "%8d  %s\n", $5, $9 }'
