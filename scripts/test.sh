#!/usr/bin/env bash
# Runs every check and test. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# One target directory outside the checkout survives fresh clones (a CI cache does the same).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/maze-rllf}"

if ! command -v cargo >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# The app's rendering test runs the real window under Xvfb with Mesa's software Vulkan.
scripts/apt-install.sh xvfb xauth mesa-vulkan-drivers libvulkan1 libx11-6 libxcursor1 libxi6 \
    libxrandr2 libxkbcommon-x11-0 pkg-config
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --no-fail-fast "$@"
