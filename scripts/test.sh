#!/usr/bin/env bash
# The project's test command (README.md's, and what .ci/run calls): checks what the tests need,
# then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Formatting and lints: rustup's components, added when missing.
for component in clippy rustfmt; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "scripts/test.sh: adding rustup's $component component" >&2
    rustup component add "$component"
  fi
done

# tests/readme.rs runs README's curl commands: curl, installed only when missing.
if ! command -v curl >/dev/null 2>&1; then
  echo "scripts/test.sh: installing Debian's curl package" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends curl >/dev/null
fi

# The end-to-end tests drive the real kubectl against the external metrics API: Debian's
# kubernetes-client package, installed only when kubectl is missing.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "scripts/test.sh: installing Debian's kubernetes-client package (kubectl)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

# ----- Kubernetes: Python tools in .venv, then the manifests and the Dockerfile -----
# Installed only when scripts/ci-requirements.txt changed since the last install (a stamp in
# .venv), so a second run costs nothing.
requirements=scripts/ci-requirements.txt
if ! cmp -s "$requirements" .venv/.ci-requirements 2>/dev/null; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" .venv/.ci-requirements
fi
.venv/bin/python scripts/validate-deploy.py
.venv/bin/hadolint Dockerfile
# tests/kube_tls.rs validates the served OpenAPI documents with it.
export PRESCALE_OPENAPI_VALIDATOR="$PWD/.venv/bin/openapi-spec-validator"
# ----- end Kubernetes -----

# ----- Prometheus in and out -----
# tests/prometheus.rs runs the real Prometheus, and promtool checks the rules and the demo's
# Prometheus config: both come with Debian's prometheus package (installed only when missing).
# check-jsonschema (PyPI, in .venv above) validates docker-compose.yml against the Compose
# specification, as no container engine runs here.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "scripts/test.sh: installing Debian's prometheus package (prometheus, promtool)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool check rules deploy/prometheus/prescale-rules.yml
promtool test rules deploy/prometheus/prescale-rules.test.yml
(cd deploy/prometheus && promtool check config prometheus.yml)
.venv/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
python3 -m json.tool deploy/grafana/prescale.json >/dev/null
# Every file the compose file mounts exists.
for mounted in $(grep -oE '\./deploy/[A-Za-z0-9_./-]+' docker-compose.yml | sort -u); do
  if [ ! -e "$mounted" ]; then
    echo "scripts/test.sh: docker-compose.yml mounts $mounted, which does not exist" >&2
    exit 1
  fi
done
# ----- end of Prometheus in and out -----

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked "$@"

# ----- Backtest notebook: executed headless against reports generated in this run -----
bash scripts/notebook.sh
