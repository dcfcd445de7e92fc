#!/usr/bin/env bash
# Soak test: the daemon on a looping replay (the sample photo, a visitor every 2.5 s) with a
# steady trickle of uploads on loopback (a good photo every 2 s, a broken one every 10 s), for
# MINUTES (default 60). Prints every minute: resident memory, decisions counted by the daemon,
# visitor records in the journal, upload answers by status. Ends with PASS or FAIL on "memory
# does not grow after the warm-up (5 minutes; at most +10%), and no record is lost (journal
# visitors == decisions counted)". Not run in CI.
#   scripts/soak.sh 60            (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
bin=${MOODKIOSK_BIN:-target/release/moodkiosk}
[ -x "$bin" ] || cargo build --release --locked
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/soak.toml" <<TOML
[source]
kind = "replay"
replay = ["$PWD/assets"]
replay_fps = 10.0
replay_loop = true
replay_hold = 15
replay_gap = 10
[detector]
min_face_size = 40
[steady]
max_missed = 3
hold_ms = 1000
[indicator]
kind = "simulated"
[journal]
dir = "$dir/journal"
summary_interval_s = 60
fsync = "summary"
[web]
bind = "127.0.0.1:0"
TOML
RUST_LOG=info,moodkiosk::led=warn "$bin" run --config "$dir/soak.toml" 2> "$dir/log" &
pid=$!
for _ in $(seq 150); do grep -q "web page on" "$dir/log" 2>/dev/null && break; sleep 0.2; done
url=$(grep -o 'web page on http://[0-9.:]*' "$dir/log" | head -1 | sed 's/web page on //')
[ -n "$url" ] || { echo "the daemon did not start:" >&2; cat "$dir/log" >&2; exit 1; }
head -c 3000 /dev/urandom > "$dir/broken.png"
declare -A answers=()
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
decisions() { curl -s "$url/metrics" | awk '/^moodkiosk_decisions_total/ {s += $2} END {print s + 0}'; }
records() { cat "$dir"/journal/mood-*.jsonl 2>/dev/null | grep -c '"type":"visitor"' || true; }
printf '%-6s %8s %10s %8s  %s\n' minute rss_MB decisions records answers
start=$(date +%s); warm=""; tick=0; next=0
while [ $(( $(date +%s) - start )) -lt $(( minutes * 60 )) ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @assets/astronaut.png -H 'Content-Type: image/png' "$url/api/classify" || echo 000)
  answers[$code]=$(( ${answers[$code]:-0} + 1 ))
  if [ $(( tick % 5 )) = 0 ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$dir/broken.png" "$url/api/classify" || echo 000)
    answers[$code]=$(( ${answers[$code]:-0} + 1 ))
  fi
  tick=$(( tick + 1 ))
  sleep 2
  elapsed=$(( $(date +%s) - start ))
  if [ "$elapsed" -ge "$next" ]; then
    next=$(( next + 60 ))
    m=$(( elapsed / 60 )); r=$(rss)
    [ "$m" = 5 ] && warm=$r
    line=""; for k in "${!answers[@]}"; do line+="$k:${answers[$k]} "; done
    printf '%-6s %8s %10s %8s  %s\n' "$m" "$r" "$(decisions)" "$(records)" "$line"
    last=$r
  fi
done
kill -TERM "$pid"; wait "$pid" || true
d=$(records)
decided=$(grep -c '\] visitor: ' "$dir/log" || true)
warn=$(grep -cE ' (WARN|ERROR) ' "$dir/log" || true)
echo "end: $decided visitors decided (log), $d visitor records in the journal, $warn warnings/errors logged"
ok=1
if [ "$d" != "$decided" ]; then echo "FAIL: $decided decisions but $d journal records"; ok=0; fi
if [ -n "$warm" ] && [ "$last" -gt $(( warm + warm / 10 )) ]; then echo "FAIL: memory grew from $warm MB (minute 5) to $last MB"; ok=0; fi
if [ "${answers[200]:-0}" = 0 ]; then echo "FAIL: no upload succeeded"; ok=0; fi
[ "$ok" = 1 ] && echo "PASS: memory flat after warm-up (${warm:-n/a} -> $last MB), $d visitor records, uploads ${answers[200]:-0} ok" || exit 1
