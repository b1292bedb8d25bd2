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

# ----- Kubernetes (issue 5): Python tools in .venv, then the manifests and the Dockerfile -----
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

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked "$@"
