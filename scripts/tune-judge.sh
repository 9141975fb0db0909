#!/usr/bin/env bash
# Tunes a low-rank adapter for the embedded judge's SmolLM2-135M on the ideal judge's
# per-episode cheese questions about the diagnosis benchmark's development agents only (seeds 0
# and 1 to train on, seed 2 to choose the epoch), answered by the simulator. The held-out agents
# (seeds 3-8) are never read. Needs the agents in runs/diagnosis-regions-agents (trained by the
# first `judge-eval --diagnosis assets/configs/diagnosis-regions-7x7.ron` run) and, once, a Python
# environment with torch (CPU; PyPI's wheel pulls CUDA libraries it does not use), gguf and
# safetensors in ~/.cache/maze-rllf-tune. About 13 minutes an epoch on 2 cores (8 GB). Use the
# adapter with the embedded judge's `adapter` setting (README, "Offline judge").
#
#   scripts/tune-judge.sh [OUT]     # default: runs/tune-judge/adapter.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-runs/tune-judge/adapter.safetensors}"
VENV="${MAZE_RLLF_TUNE_VENV:-$HOME/.cache/maze-rllf-tune}"
WORK="${MAZE_RLLF_TUNE_WORK:-runs/tune-judge}"
CONFIG=assets/configs/diagnosis-regions-7x7.ron
AGENTS=runs/diagnosis-regions-agents
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/maze-rllf}"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import torch, gguf, safetensors' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch gguf safetensors numpy
fi
scripts/install-models.sh smollm2-135m
cargo build --release --no-default-features --features embedded --example facts_tuning_data
DATA="$CARGO_TARGET_DIR/release/examples/facts_tuning_data"
mkdir -p "$WORK" "$(dirname "$OUT")"
# The development seeds split: 0 and 1 train, 2 validates (each config names only its seeds).
sed -e 's/development_seeds: \[[0-9, ]*\]/development_seeds: [0, 1]/' "$CONFIG" >"$WORK/train.ron"
sed -e 's/development_seeds: \[[0-9, ]*\]/development_seeds: [2]/' "$CONFIG" >"$WORK/valid.ron"
# The cheese questions (the training episodes'), which settle a confound; no probes.
"$DATA" "$WORK/train.ron" "$AGENTS" "$WORK/train.jsonl" smollm2-135m facts 60 0 --reference 6
"$DATA" "$WORK/valid.ron" "$AGENTS" "$WORK/valid.jsonl" smollm2-135m facts 30 0
"$VENV/bin/python" scripts/tune_judge.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
  "$WORK/train.jsonl" "$OUT" --valid-data "$WORK/valid.jsonl" --epochs 3 --tuned-layers 30 \
  --rank 8 --batch 4 --lr 2e-3 --balance --per-fact 4 --skip-base
