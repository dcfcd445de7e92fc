#!/usr/bin/env bash
# An ARM proxy for what cannot be timed here: guest instructions that one classification (per
# face) and one whole camera frame (decode + detect + classify, per detector) execute in the
# aarch64 build, under qemu-aarch64-static emulating a Cortex-A72 (Raspberry Pi 4) and a
# Cortex-A76 (Raspberry Pi 5). tract picks its kernels from the CPU's features (the A76 has the
# SDOT dot-product instructions), so the counts differ between the two.
#   scripts/arm-count.sh                 per face: fp32 and int8; per frame (decode + detect +
#                                        classify): blazeface and seeta with the int8 model
#   scripts/arm-count.sh MODEL...        other model files (per face only)
# Counting: qemu's `-d in_asm,exec,nochain` log (each translated block's instructions once, each
# execution of a block once), summed by scripts/count_insns.c; per item = count with 2 runs -
# count with 1 run, so that loading and first-run costs cancel. Instruction counts are not
# time (no caches, no pipeline), but for the same program on the same core they track it.
# Needs the aarch64 build (cross/build-aarch64.sh --deps once) and a C compiler. Slow: each
# count is one emulated process that loads the models, and the table takes 16 of them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/aarch64-unknown-linux-gnu/dist/moodkiosk
cross/build-aarch64.sh >/dev/null
if [ $# -gt 0 ]; then models=("$@"); frames=0; else models=(models/moodkiosk-fp32.onnx models/moodkiosk-int8.onnx); frames=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/log"
cc -O2 -o "$tmp/count_insns" scripts/count_insns.c
count() { # cpu, then bench arguments
  local cpu=$1; shift
  "$tmp/count_insns" < "$tmp/log" > "$tmp/n" &
  qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu "$cpu" -d in_asm,exec,nochain -D "$tmp/log" \
    "$bin" bench --warmup 0 --runs 1 "$@" > /dev/null
  wait
  cat "$tmp/n"
}
per() { # cpu, what (face|frame), bench arguments: instructions of one run
  local cpu=$1 what=$2; shift 2
  local one two
  if [ "$what" = face ]; then
    one=$(count "$cpu" --face-runs 1 --frame-runs 0 "$@"); two=$(count "$cpu" --face-runs 2 --frame-runs 0 "$@")
  else
    one=$(count "$cpu" --face-runs 0 --frame-runs 1 "$@"); two=$(count "$cpu" --face-runs 0 --frame-runs 2 "$@")
  fi
  echo $(( two - one ))
}
printf '%-12s %-34s %-10s %16s\n' cpu item detector "instructions"
for cpu in cortex-a72 cortex-a76; do
  declare -A face=()
  for m in "${models[@]}"; do
    n=$(per "$cpu" face "$m"); face[$m]=$n
    printf '%-12s %-34s %-10s %16d\n' "$cpu" "face: $(basename "$m")" - "$n"
  done
  if [ "${#models[@]}" -ge 2 ]; then
    a=${face[${models[0]}]}; b=${face[${models[1]}]}
    echo "$cpu $(basename "${models[1]}")/$(basename "${models[0]}") per face: $(python3 -c "print(f'{$b/$a:.2f}')")"
  fi
  if [ "$frames" = 1 ]; then
    m=${models[1]} # the int8 model: the builtin on ARM
    for det in blazeface seeta; do
      printf '%-12s %-34s %-10s %16d\n' "$cpu" "frame: $(basename "$m")" "$det" "$(per "$cpu" frame --detector "$det" "$m")"
    done
  fi
done
