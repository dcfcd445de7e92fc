#!/usr/bin/env bash
# Peak resident memory of `moodkiosk classify` per photo size class (JPEG and PNG made from the
# sample photo, scaled), measured with /usr/bin/time -v, and of a refused decompression bomb.
#   scripts/memory.sh        (needs a release build and the training venv for Pillow)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MOODKIOSK_BIN:-target/release/moodkiosk}
py=${MOODKIOSK_PYTHON:-training/.venv/bin/python}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$py" - "$dir" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
src = Image.open("assets/astronaut.png").convert("RGB")
for mp, side in [(0.3, 548), (3, 1732), (12, 3464), (40, 6320)]:
    im = src.resize((side, side))
    im.save(f"{d}/{mp}MP.jpg", quality=90)
    im.save(f"{d}/{mp}MP.png", compress_level=1)
# 6300x6300 16-bit gray, flat: a 75 KB file with 79 MB of pixels.
Image.new("I;16", (6300, 6300)).save(f"{d}/bomb16.png")
PY
printf '%-14s %10s %12s  %s\n' photo file_KB peak_RSS_MB result
for f in "$dir"/*; do
  out=$( { /usr/bin/time -v "$bin" classify "$f" > /dev/null 2> "$dir/err"; } 2>&1 || true)
  rss=$(grep "Maximum resident" "$dir/err" | awk '{print int($NF / 1024)}')
  res=$(grep -m1 -E "face|error" "$dir/err" | cut -c1-60 || true)
  [ -n "$res" ] || res=ok
  printf '%-14s %10s %12s  %s\n' "$(basename "$f")" "$(( $(stat -c %s "$f") / 1024 ))" "$rss" "$res"
done
