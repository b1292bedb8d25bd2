#!/usr/bin/env bash
# Executes notebooks/backtest.ipynb headless against reports generated in this run, so that the
# notebook never rots. For CI: it needs python3 (with venv) and cargo; it creates its own venv,
# .venv-notebook (apart from scripts/test.sh's .venv, which that script rebuilds whenever its own
# requirements change), and installs notebooks/requirements.txt into it when that file changed.
#
# 1. `prescale backtest` (a debug build unless PRESCALE_PROFILE=release) writes reports for two small
#    bundled traces into target/notebook/, with lighter settings than a real backtest (10 origins,
#    a refit every 2 hours) so it takes seconds: the notebook only reads reports.
# 2. jupyter nbconvert executes the notebook against them (BACKTEST_REPORTS) and writes the executed
#    copy to target/notebook/backtest.executed.ipynb. Any error in a cell fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-notebook
python=$venv/bin/python
stamp=$venv/.notebook-requirements
if [ ! -x "$python" ] || ! cmp -s notebooks/requirements.txt "$stamp"; then
  echo "notebook.sh: installing notebooks/requirements.txt into $venv" >&2
  [ -x "$python" ] || python3 -m venv "$venv"
  "$venv"/bin/pip install --quiet --disable-pip-version-check -r notebooks/requirements.txt
  cp notebooks/requirements.txt "$stamp"
fi

profile=${PRESCALE_PROFILE:-debug}
if [ "$profile" = release ]; then
  cargo build --release --locked --quiet --bin prescale
else
  cargo build --locked --quiet --bin prescale
fi
# The binary cargo just built (CARGO_TARGET_DIR when set, as cargo itself reads it).
prescale=${CARGO_TARGET_DIR:-target}/$profile/prescale

out=target/notebook
rm -rf "$out"
mkdir -p "$out"
for name in aws-elb-request-count-5m taylor-elec-gb-2000-30m; do
  "$prescale" backtest --dataset "datasets/$name.csv" --origins 10 --refit-every 2h --slo 0.99 \
    --json "$out/$name.json" >/dev/null
done

BACKTEST_REPORTS="$PWD/$out/*.json" "$venv"/bin/jupyter nbconvert --to notebook --execute \
  notebooks/backtest.ipynb --output-dir "$out" --output backtest.executed.ipynb
echo "notebook.sh: executed notebooks/backtest.ipynb against $out/*.json -> $out/backtest.executed.ipynb"
