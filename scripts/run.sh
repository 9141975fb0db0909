#!/usr/bin/env bash
# Builds (release) and runs maze-rllf. Idempotent. With no arguments: opens the app; otherwise
# passes the arguments to `maze-rllf` (e.g. `scripts/run.sh demo`, `scripts/run.sh train ...`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/maze-rllf}"
if ! command -v cargo >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
# C sources compiled by dependencies (mimalloc, aws-lc) need a C compiler.
scripts/apt-install.sh gcc libc6-dev
# The window needs X11 and Vulkan libraries at run time.
scripts/apt-install.sh mesa-vulkan-drivers libvulkan1 libx11-6 libxcursor1 libxi6 libxrandr2 \
    libxkbcommon-x11-0
# The offline judge's default model (cached; a no-op once installed).
scripts/install-models.sh
cargo run --release -- "$@"
