#!/usr/bin/env bash
# Measures what the app costs the trainer: PPO throughput headless vs with the app open (2D and 3D
# views, overlays on), and the app's frame times, on quick-7x7.ron. Writes a summary JSON.
#
#   scripts/measure-app-load.sh BINARY OUT.json [SECONDS]
#
# Needs xvfb-run and Vulkan (Mesa's lavapipe works). Each phase runs SECONDS (default 60); the
# rates are medians over the trainer's iterations after the first five (PPO's own steps/s, which
# excludes evaluations), frame times over the frames while training runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$1"; OUT="$2"; SECS="${3:-60}"
TMP="$(mktemp -d)"

CONFIG=assets/configs/quick-7x7.ron

echo "headless training for ${SECS}s ..." >&2
timeout "$SECS" "$BIN" train --config "$CONFIG" --out "$TMP/headless" >/dev/null 2>&1 || true

app_run() { # name view
  echo "app ($2 view, overlays on) for ${SECS}s ..." >&2
  xvfb-run -a -s "-screen 0 1280x760x24" "$BIN" app --config "$CONFIG" --at 1=run \
    --overlay visits --overlay arrows \
    --screenshot "$2@$((SECS - 3))=$TMP/$1.png" --exit-after "$SECS" \
    --metrics-log "$TMP/$1.jsonl" --frame-log "$TMP/$1-frames.csv" >"$TMP/$1.log" 2>&1 || true
}
app_run app-2d 2d
app_run app-3d 3d

python3 - "$TMP" "$OUT" <<'PY'
import csv, json, statistics, sys
tmp, out = sys.argv[1], sys.argv[2]
def sps(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rates = [r["charts/SPS"] for r in rows[5:]]
    return {"iterations": len(rows), "median_sps": statistics.median(rates) if rates else None}
def frames(path):
    ms = [float(r["frame_ms"]) for r in csv.DictReader(open(path)) if r["phase"].startswith("training")]
    ms = sorted(ms[10:])
    if not ms:
        return {"frames": 0}
    q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
    return {"frames": len(ms), "median_ms": q(0.5), "p95_ms": q(0.95), "max_ms": ms[-1]}
head = sps(f"{tmp}/headless/metrics.jsonl")
summary = {"config": "assets/configs/quick-7x7.ron", "headless": head}
for view in ("app-2d", "app-3d"):
    s = sps(f"{tmp}/{view}.jsonl")
    if s["median_sps"] and head["median_sps"]:
        s["share_of_headless"] = s["median_sps"] / head["median_sps"]
    s.update(frames(f"{tmp}/{view}-frames.csv"))
    summary[view] = s
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
rm -rf "$TMP"
