#!/usr/bin/env bash
# Submits a region study to Slurm: a job array of N slices (each `study --cells I/N` on the
# shared output folder) and a merge job that runs when every slice succeeded.
#
#   scripts/slurm/submit-study.sh [--slices N] [--cpus C] [--partition P] CONFIG OUT [study flags...]
#   e.g. scripts/slurm/submit-study.sh --slices 11 --cpus 2 assets/configs/study-11-regions.ron \
#            /shared/studies/11-regions --judge embedded
#
# OUT must be on a filesystem every node sees (NFS). The binary is $MAZE_RLLF_BIN, else
# `maze-rllf` on the PATH; jobs run in the folder this is called from. Prints both job ids.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slices=4
cpus=1
partition=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    # --shares: the earlier name of --slices.
    --slices|--shares) slices="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    --partition) partition=(--partition "$2"); shift 2 ;;
    *) break ;;
  esac
done
if [[ $# -lt 2 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
config="$1"
out="$2"
shift 2
mkdir -p "$out"
array=$(sbatch --parsable "${partition[@]}" --array="0-$((slices - 1))" \
  --cpus-per-task="$cpus" --output="$out/slurm-study-%A_%a.out" \
  "$here/study-array.sbatch" "$config" "$out" "$@")
array="${array%%;*}"
merge=$(sbatch --parsable "${partition[@]}" --dependency="afterok:$array" \
  --output="$out/slurm-merge-%j.out" "$here/study-merge.sbatch" "$out")
merge="${merge%%;*}"
echo "array job $array ($slices slices x $cpus CPUs), merge job $merge; reports in $out"
