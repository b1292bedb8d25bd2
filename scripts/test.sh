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

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked "$@"
