#!/usr/bin/env bash
# Measures two builds side by side, alternating: `bench --json` of each, and `train` on a conv
# config (env steps/s of every iteration after the fifth, as `metrics.jsonl` logs them), RUNS
# times each. Writes OUT/bench-{before,after}-N.json and OUT/train-{before,after}-N.jsonl and
# prints the medians. Run it with nothing else on the machine.
#   scripts/bench-compare.sh BEFORE_BIN AFTER_BIN OUT [RUNS] [CONFIG] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
    echo "usage: $0 BEFORE_BIN AFTER_BIN OUT [RUNS] [CONFIG] [ITERATIONS]" >&2
    exit 2
fi
before=$1 after=$2 out=$3 runs=${4:-3}
config=${5:-assets/configs/competent-conv-11x11.ron} iterations=${6:-50}
for bin in "$before" "$after"; do
    [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
done
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
envs=$(grep -oE 'num_envs: *[0-9]+' "$config" | grep -oE '[0-9]+')
steps=$(grep -oE 'num_steps: *[0-9]+' "$config" | grep -oE '[0-9]+')
batch=$((envs * steps))
for i in $(seq 1 "$runs"); do
    for side in before after; do
        bin=$before
        [ "$side" = after ] && bin=$after
        echo "run $i: $side" >&2
        "$bin" bench --json > "$out/bench-$side-$i.json"
        if ! "$bin" train --config "$config" --set "ppo.total_timesteps=$((batch * iterations))" \
            --set eval_episodes=10 --out "$scratch/run" --force > "$scratch/log" 2>&1; then
            echo "$bin train failed (a config this build cannot read? pass one as CONFIG):" >&2
            tail -5 "$scratch/log" >&2
            exit 1
        fi
        cp "$scratch/run/metrics.jsonl" "$out/train-$side-$i.jsonl"
    done
done
python3 - "$out" "$runs" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
for side in ("before", "after"):
    sps, ppo = [], {}
    for i in range(1, runs + 1):
        rows = [json.loads(l) for l in open(f"{out}/train-{side}-{i}.jsonl")]
        sps.append(statistics.median(r["charts/SPS"] for r in rows[5:]))
        for p in json.load(open(f"{out}/bench-{side}-{i}.json"))["ppo"]:
            ppo.setdefault(p["config"], []).append(p["env_steps_per_second"])
    print(f"{side}: train conv SPS medians per run {[round(s) for s in sps]}, "
          f"median {statistics.median(sps):.0f}")
    for config, values in ppo.items():
        print(f"  bench PPO {config}: median {statistics.median(values):.0f} "
              f"(runs {[round(v) for v in values]})")
EOF
