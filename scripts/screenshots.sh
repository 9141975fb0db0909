#!/usr/bin/env bash
# Regenerates the README's screenshots in assets/screenshots/ with the app's own scripted
# screenshots under Xvfb (1280x760; the demo at 1280x720), and the demo's report in
# results/demo/demo.json. Took 13 minutes on 2 cores shared with other work (the demo runs its whole
# story, its two control arms included).
#
#   scripts/screenshots.sh [BINARY]     # default: the dev build in $CARGO_TARGET_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/maze-rllf}/debug/maze-rllf}"
OUT=assets/screenshots
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
app() { # size args...
  local size="$1"; shift
  xvfb-run -a -s "-screen 0 ${size}x24" "$BIN" "$@" >"$TMP/last.log" 2>&1 \
    || { tail -20 "$TMP/last.log" >&2; exit 1; }
}
echo "watch view, 2D and 3D, overlays on ..." >&2
app 1280x760 app --checkpoint assets/checkpoints/corner-7x7 --level levels/fork-7x7.ron \
  --overlay arrows --overlay visits \
  --screenshot "2d@3=$OUT/watch-2d.png" --screenshot "3d@6=$OUT/watch-3d.png" --exit-after 60
echo "feedback round ..." >&2
app 1280x760 app --checkpoint assets/checkpoints/corner-7x7 --level levels/fork-7x7.ron \
  --at 1=round --auto-review --screenshot "2d@90=$OUT/feedback-round.png" --exit-after 150
echo "level editor ..." >&2
app 1280x760 app --edit --screenshot "2d@4=$OUT/editor.png" --exit-after 60
echo "demo (the whole story) ..." >&2
app 1280x720 demo --auto --window 1280x720 --report results/demo/demo.json --shots "$TMP/demo"
cp "$TMP/demo/07-beforeafter.png" "$OUT/demo-before-after.png"
echo "written: $OUT/{watch-2d,watch-3d,feedback-round,editor,demo-before-after}.png, results/demo/demo.json" >&2
