#!/usr/bin/env bash
# Builds (release) and runs maze-rllf. Idempotent. With no arguments: trains the quick 7x7 demo
# run and evaluates it; otherwise passes the arguments to `maze-rllf`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/maze-rllf}"
if ! command -v cargo >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
if [ "$#" -eq 0 ]; then
    set -- train --config assets/configs/quick-7x7.ron --out runs/quick-7x7
fi
cargo run --release -- "$@"
