#!/usr/bin/env bash
# Regenerates the README's screenshots in assets/screenshots/ with the app's own scripted
# screenshots under Xvfb (1280x760; the demo at 1280x720), and the demo's report in
# results/demo/demo.json. Took 13 minutes on 2 cores shared with other work (the demo runs its whole
# story, its two control arms included).
#
#   scripts/screenshots.sh [BINARY]     # default: the dev build in $CARGO_TARGET_DIR
#   SECTIONS="library runs" scripts/screenshots.sh    # only some (watch round editor library
#                                                     # runs compare demo; default all)
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
SECTIONS="${SECTIONS:-watch round editor library runs compare demo}"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
if want watch; then
echo "watch view, 2D and 3D (captions over each maze in 3D), overlays on ..." >&2
app 1280x760 app --checkpoint assets/checkpoints/corner-7x7 --level levels/fork-7x7.ron \
  --overlay arrows --overlay visits \
  --screenshot "2d@3=$OUT/watch-2d.png" --screenshot "3d@6=$OUT/watch-3d.png" --exit-after 60
fi
if want round; then
echo "feedback round ..." >&2
app 1280x760 app --checkpoint assets/checkpoints/corner-7x7 --level levels/fork-7x7.ron \
  --at 1=round --auto-review --screenshot "2d@90=$OUT/feedback-round.png" --exit-after 150
fi
if want editor; then
echo "level editor ..." >&2
app 1280x760 app --edit --screenshot "2d@4=$OUT/editor.png" --exit-after 60
fi
if want library; then
echo "level library ..." >&2
app 1280x760 app --edit levels/fork-7x7.ron --open-window library \
  --screenshot "2d@6=$OUT/library.png" --exit-after 60
fi
if want runs; then
echo "a run opened with its history ..." >&2
"$BIN" train --config assets/configs/quick-7x7.ron --set ppo.total_timesteps=300000 \
  --out "$TMP/run" >/dev/null 2>&1
app 1280x760 app --at "2=open:$TMP/run" --screenshot "2d@12=$OUT/run-history.png" --exit-after 60
fi
if want compare; then
echo "two agents compared ..." >&2
app 1280x760 app --open-window compare \
  --at "2=compare:assets/checkpoints/corner-7x7,assets/checkpoints/corner-conv-7x7" \
  --screenshot "2d@25=$OUT/compare.png" --exit-after 60
fi
if want demo; then
echo "demo (the whole story) ..." >&2
app 1280x720 demo --auto --window 1280x720 --report results/demo/demo.json --shots "$TMP/demo"
cp "$TMP/demo/07-beforeafter.png" "$OUT/demo-before-after.png"
fi
echo "written ($SECTIONS): $OUT/{watch-2d,watch-3d,feedback-round,editor,library,run-history,compare,demo-before-after}.png, results/demo/demo.json" >&2
