#!/usr/bin/env bash
# Renders RUN_DIR/report.html (written by `tailor report --run RUN_DIR`) with headless Chromium into a
# PNG screenshot, to check the page's layout without a display.
#   usage: scripts/screenshot_report.sh RUN_DIR OUT.png [WIDTH HEIGHT]   (default 1280 x 2400)
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 RUN_DIR OUT.png [WIDTH HEIGHT]" >&2
  exit 2
fi
run_dir=$1 out=$2 width=${3:-1280} height=${4:-2400}
html="$(cd "$run_dir" && pwd)/report.html"
if [[ ! -f $html ]]; then
  echo "$0: $html not found (run: tailor report --run $run_dir)" >&2
  exit 1
fi
browser=""
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" > /dev/null; then browser=$b; break; fi
done
if [[ -z $browser ]]; then
  echo "$0: no Chromium found; install it first (Debian: apt-get install chromium)" >&2
  exit 1
fi
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$out_abs" \
  --window-size="$width,$height" "file://$html" 2> /dev/null
[[ -s $out_abs ]] || { echo "$0: $browser wrote no screenshot" >&2; exit 1; }
echo "screenshot: $out_abs (${width}x${height})"
