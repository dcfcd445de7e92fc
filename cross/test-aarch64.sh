#!/usr/bin/env bash
# Run the unit tests (config, preprocessing, journal, tracker, ...), the integration tests of the
# daemon, CLI and web API (the host test harness driving the aarch64 binary) and `classify` for
# aarch64 under qemu (Cortex-A72, as a Raspberry Pi 4), and compare with the host build:
# same labels, and P(happy) within 1e-4 (fp32) and 1e-2 (int8); and show the integer kernels tract
# picks for the int8 model on a Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76, SDOT).
# Needs cross/build-aarch64.sh to have run (it installs the toolchain with --deps).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC=${RUSTC:-/usr/bin/rustc}
# Linker, runner (qemu, Cortex-A72) and C/bindgen settings for the target: .cargo/config.toml.
runner="qemu-aarch64-static -cpu cortex-a72"
passed=0; failed=0
# Counts the tests cargo really ran ("test result: ok. N passed; M failed") from its output.
count() {
  local p f
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
  echo "$2: $p passed, $f failed"
}
/usr/bin/cargo test --locked --profile dist --target aarch64-unknown-linux-gnu --lib 2>&1 | tee target/aarch64-unit.log
count target/aarch64-unit.log "aarch64 unit tests"
arm=target/aarch64-unknown-linux-gnu/dist/moodkiosk
host=target/release/moodkiosk
[ -x "$host" ] || env -u RUSTC cargo build --release --locked
# Integration tests with the host's test harness (and host toolchain: RUSTC unset) running the
# aarch64 binary under qemu (tests/common command()). The FER2013 accuracy test (6,500 images
# through tract) stays with the host run: under emulation it takes many minutes, and the
# comparison below covers the aarch64 numerics.
MOODKIOSK_TEST_BIN="$PWD/$arm" MOODKIOSK_TEST_RUNNER="$runner" \
  env -u RUSTC cargo test --release --locked --test daemon --test cli --test web --test watchdog \
  -- --include-ignored --test-threads 2 --skip shipped_model_accuracy 2>&1 | tee target/aarch64-integration.log
count target/aarch64-integration.log "integration tests with the aarch64 binary"
fer=../shared/data/fer2013/PrivateTest
if [ ! -d "$fer" ]; then
  echo "$fer missing: the aarch64/x86 comparison needs the shared data folder (see README)" >&2
  exit 1
fi
happy=("$fer"/happy/*.png); neutral=("$fer"/neutral/*.png); sad=("$fer"/sad/*.png)
imgs=("${happy[@]:0:30}" "${neutral[@]:0:30}" "${sad[@]:0:20}")
compare() { # model, tolerance
  $runner "$arm" classify --whole --json --model "$1" "${imgs[@]}" 2>/dev/null > target/arm.jsonl
  "$host" classify --whole --json --model "$1" "${imgs[@]}" > target/host.jsonl
  python3 - "$1" "$2" <<'PY'
import json, sys
a = [json.loads(l) for l in open("target/arm.jsonl")]
b = [json.loads(l) for l in open("target/host.jsonl")]
assert len(a) == len(b) == 80, (len(a), len(b))
same = sum(x["faces"][0]["mood"] == y["faces"][0]["mood"] for x, y in zip(a, b))
d = max(abs(x["faces"][0]["p_happy"] - y["faces"][0]["p_happy"]) for x, y in zip(a, b))
tol = float(sys.argv[2])  # inf: report only
print(f"{sys.argv[1]}: aarch64 vs host on {len(a)} images: same label {same}/{len(a)}, max |p_happy diff| {d:.2e} (limit {tol:g})")
assert same == len(a), "labels differ"
assert d <= tol, "probabilities differ"
PY
}
# A failed comparison counts as a failed test (and fails the run at the end).
check() { if compare "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }
check models/moodkiosk-fp32.onnx 1e-4
# int8: exact integer products, but the depthwise convolutions and the steps between them are
# float (per-tensor, depthwise-float quantization), and a float sum that differs in its last bit
# between the x86 and NEON kernels can move a value across a quantization step: same labels,
# P(happy) within 1e-2.
check models/moodkiosk-int8.onnx 1e-2
echo "aarch64 classify compared with the host build"
# Op-level evidence that the int8 model runs integer matrix kernels on arm64 (timings under
# emulation mean nothing; measure on the board with `moodkiosk bench --profile`).
for cpu_kernel in cortex-a72:arm64simd_mmm_i32_8x8 cortex-a76:arm64simd_mmm_i32_8x8_dot; do
  cpu=${cpu_kernel%%:*}; kernel=${cpu_kernel#*:}
  qemu-aarch64-static -cpu "$cpu" "$arm" bench --runs 1 --warmup 0 --profile models/moodkiosk-int8.onnx > target/arm-profile-$cpu.txt
  line=$(grep "^profile of" target/arm-profile-$cpu.txt)
  echo "$cpu: $line"
  echo "$line" | grep -Eq "kernels: .*\b$kernel\b" || { echo "expected $kernel on $cpu" >&2; exit 1; }
  passed=$((passed + 1))
done
echo "aarch64: $passed passed, $failed failed (unit and integration tests as counted by cargo, 2 classify comparisons, 2 kernel checks)"
[ "$failed" = 0 ]
