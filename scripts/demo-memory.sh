#!/usr/bin/env bash
# Memory and CPU of the demo: runs the daemon on config/demo.toml (journal and page moved to a
# temporary folder and a free port), reads VmRSS and RssAnon from /proc/PID/status after
# $WARM seconds (default 60), and its CPU from /proc/PID/stat over the next $SPAN (default 30).
#   scripts/demo-memory.sh        (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MOODKIOSK_BIN:-target/release/moodkiosk}
warm=${WARM:-60}
span=${SPAN:-30}
dir=$(mktemp -d); trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir "$dir/config"
ln -s "$PWD/assets" "$dir/assets"
{ cat config/demo.toml; printf '\n[web]\nbind = "127.0.0.1:0"\n'; } > "$dir/config/demo.toml"
"$bin" run --config "$dir/config/demo.toml" >"$dir/log" 2>&1 &
pid=$!
sleep "$warm"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")
t0=$(ticks); sleep "$span"; t1=$(ticks)
visitors=$(cat "$dir"/demo-journal/mood-*.jsonl | grep -c '"visitor"' || true)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); $(nproc) cores"
awk -v w="$warm" -v s="$span" -v r="$rss" -v a="$anon" -v d="$((t1 - t0))" -v hz="$hz" -v n="$visitors" \
  'BEGIN { printf "after %s s: VmRSS %.1f MB (RssAnon %.1f MB); CPU over the next %s s: %.1f%% of one core; %s visitors journaled\n", w, r / 1024, a / 1024, s, d * 100 / hz / s, n }'
