#!/usr/bin/env bash
# An ARM proxy for what cannot be timed here: guest instructions that one classification (per
# face, fp32 and int8 model) and one whole camera frame (decode + detect + classify, per
# detector and model) execute in the aarch64 build, under qemu-aarch64-static emulating a
# Cortex-A72 (Raspberry Pi 4) and a Cortex-A76 (Raspberry Pi 5). tract picks its kernels from the
# CPU's features (the A76 has the SDOT dot-product instructions), so the counts differ.
#   scripts/arm-count.sh            the table (4 emulated processes, two at a time)
#   DETECTORS=blazeface scripts/arm-count.sh   BlazeFace frames only (half the time; the
#                                   SeetaFace columns print "-")
#   FRAMES=0 scripts/arm-count.sh   faces only (the classifier models; no frame columns)
# Counting: qemu's `-d in_asm,exec,nochain` log (each translated block's instructions once, each
# execution of a block once) summed by scripts/count_insns.c. `moodkiosk bench` with
# MOODKIOSK_COUNT_MARKERS set makes a getppid system call before its timed loops and after each
# run, which `-d strace` puts in the same log: the counter prints the running sum there, so one
# process gives every run's count (loading the models is counted once and left out). Each item
# is the second run's count (after one warm-up run). Instruction counts are not time (no caches,
# no pipeline), but for the same program on the same core they track it.
# Needs the aarch64 build (cross/build-aarch64.sh --deps once) and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/aarch64-unknown-linux-gnu/dist/moodkiosk
cross/build-aarch64.sh >/dev/null
fp32=models/moodkiosk-fp32.onnx
int8=models/moodkiosk-int8.onnx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/count_insns" scripts/count_insns.c
run() { # cpu detector: marker sums into $tmp/<cpu>-<detector>
  local cpu=$1 det=$2 fifo="$tmp/$1-$2.log"
  mkfifo "$fifo"
  "$tmp/count_insns" < "$fifo" > "$tmp/$cpu-$det" &
  local counter=$!
  MOODKIOSK_COUNT_MARKERS=1 qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu "$cpu" \
    -d strace,in_asm,exec,nochain -D "$fifo" \
    "$bin" bench --warmup 1 --face-runs 1 --frame-runs "$frames" --detector "$det" "$fp32" "$int8" \
    > /dev/null 2> "$tmp/$cpu-$det.err"
  wait "$counter"
}
frames=${FRAMES:-1}
detectors=${DETECTORS:-blazeface seeta}
[ "$frames" = 0 ] && detectors=blazeface
for det in $detectors; do
  run cortex-a72 "$det" &
  run cortex-a76 "$det" &
  wait
done
# Marker sums: start, face runs (warm-up fp32, int8; timed fp32, int8), frame runs (the same).
item() { # file, index of the marker that ends the run ("-" when that detector did not run)
  local f=$1 i=$2
  [ -s "$f" ] || { echo -; return; }
  python3 -c "import sys; s=[int(l) for l in open('$f')]; print(s[$i] - s[$i - 1])"
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '| CPU | fp32 per face | int8 per face | int8/fp32 | frame, BlazeFace + int8 | frame, SeetaFace + int8 | frame, BlazeFace + fp32 | frame, SeetaFace + fp32 |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for cpu in cortex-a72 cortex-a76; do
  b="$tmp/$cpu-blazeface" s="$tmp/$cpu-seeta"
  n=$(wc -l < "$b") want=10
  [ "$frames" = 0 ] && want=6
  if [ "$n" -lt "$want" ]; then echo "$cpu: the log had $n markers, not $want:" >&2; cat "$tmp/$cpu-blazeface.err" >&2; exit 1; fi
  f32=$(item "$b" 3) i8=$(item "$b" 4)
  [ "$frames" = 0 ] && b=/dev/null
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$cpu" "$f32" "$i8" "$(ratio "$i8" "$f32")" \
    "$(item "$b" 8)" "$(item "$s" 8)" "$(item "$b" 7)" "$(item "$s" 7)"
done
