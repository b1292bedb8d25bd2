#!/usr/bin/env bash
# The project's test command (README.md's, and what .ci/run calls): checks what the tests need,
# then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests drive the real kubectl against the external metrics API.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "scripts/test.sh: kubectl is needed by tests/kubectl.rs and is not on PATH" >&2
  exit 1
fi

# ----- Prometheus in and out (issue 6) -----
# tests/prometheus.rs runs the real Prometheus, and promtool checks the rules and the demo's
# Prometheus config: both come with Debian's prometheus package. check-jsonschema (PyPI)
# validates docker-compose.yml against the Compose specification, as no container engine runs
# here. Installed only when missing.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "scripts/test.sh: installing Debian's prometheus package (prometheus, promtool)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if ! python3 -c 'import check_jsonschema' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing check-jsonschema from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'check-jsonschema==0.39.0'
fi
promtool check rules deploy/prometheus/prescale-rules.yml
promtool test rules deploy/prometheus/prescale-rules.test.yml
(cd deploy/prometheus && promtool check config prometheus.yml)
python3 -m check_jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
python3 -m json.tool deploy/grafana/prescale.json >/dev/null
# Every file the compose file mounts exists.
for mounted in $(grep -oE '\./deploy/[A-Za-z0-9_./-]+' docker-compose.yml | sort -u); do
  if [ ! -e "$mounted" ]; then
    echo "scripts/test.sh: docker-compose.yml mounts $mounted, which does not exist" >&2
    exit 1
  fi
done
# ----- end of issue 6 -----

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked "$@"
