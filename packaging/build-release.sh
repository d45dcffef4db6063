#!/usr/bin/env bash
# Builds the release binary with the locked dependencies and installs it into the folder given
# (the container's build stage runs this; so can anyone building by hand).
set -euo pipefail
out="${1:?give the folder to install flexsync into}"
cd "$(dirname "$0")/.."
cargo build --release --locked -p flexsync
install -D -m 0755 "${CARGO_TARGET_DIR:-target}/release/flexsync" "$out/flexsync"
