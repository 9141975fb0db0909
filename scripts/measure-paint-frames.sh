#!/usr/bin/env bash
# Frame times of the level editor while a mouse paints on the scene: xdotool drags back and forth
# across the maze (left button held, then Ctrl+Z) for SECONDS, the app logs every frame
# (--frame-log), and the median and 95th percentile go to OUT.json. Run it with two builds
# (before and after a change) in one session to compare them on the same machine and load. Only
# the frames while the mouse paints count.
#
#   scripts/measure-paint-frames.sh BINARY OUT.json [SECONDS]
#
# Needs Xvfb, xdotool and Vulkan (Mesa's lavapipe works); scripts/test.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$1"; OUT="$2"; SECS="${3:-40}"
TMP="$(mktemp -d)"
trap 'kill "$APP" "$XVFB" 2>/dev/null || true; rm -rf "$TMP"' EXIT
DISPLAY_NO=$(for n in $(seq 150 250); do [ -e "/tmp/.X$n-lock" ] || { echo "$n"; break; }; done)
Xvfb ":$DISPLAY_NO" -screen 0 1024x640x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
export DISPLAY=":$DISPLAY_NO"
mkdir -m 700 -p "$TMP/xdg"
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$DISPLAY_NO" ] && break; sleep 0.2; done
T0=$(date +%s.%N)
XDG_RUNTIME_DIR="$TMP/xdg" "$BIN" app --judge oracle --window 1024x640 --edit \
  --exit-after "$((SECS + 30))" --frame-log "$TMP/frames.csv" >"$TMP/app.log" 2>&1 &
APP=$!
for _ in $(seq 300); do xdotool search --name maze-rllf >/dev/null 2>&1 && break; sleep 0.2; done
sleep 15 # the first frames compile pipelines
# The scene's maze fills the area right of the 340-pixel panel: drag across its middle.
T1=$(date +%s.%N)
end=$((SECONDS + SECS))
while [ "$SECONDS" -lt "$end" ]; do
  xdotool mousemove 520 320 mousedown 1
  for x in 560 600 640 680 720 760 800 840; do xdotool mousemove "$x" 320; sleep 0.05; done
  xdotool mouseup 1
  xdotool key ctrl+z
done
T2=$(date +%s.%N)
kill "$APP" 2>/dev/null || true
wait "$APP" 2>/dev/null || true
python3 - "$TMP/frames.csv" "$OUT" "$BIN" "$T0" "$T1" "$T2" <<'PY'
import csv, json, sys
t0, t1, t2 = (float(t) for t in sys.argv[4:7])
rows = list(csv.DictReader(open(sys.argv[1])))
# Only the frames while the mouse painted (the app's clock starts about when it was launched).
ms = sorted(float(r["frame_ms"]) for r in rows if t1 - t0 <= float(r["seconds"]) <= t2 - t0)
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))] if ms else None
summary = {"binary": sys.argv[3], "frames": len(ms), "median_ms": q(0.5), "p95_ms": q(0.95),
           "max_ms": ms[-1] if ms else None}
json.dump(summary, open(sys.argv[2], "w"), indent=2)
print(json.dumps(summary))
PY
