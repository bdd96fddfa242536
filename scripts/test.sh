#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, property, corpus replay,
# CLI and doc tests, plus mesh-proto built with no codec features.
# Installs what the tests need first (today: nothing beyond cargo).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
cargo test -p mesh-proto --no-default-features --all-targets
