#!/usr/bin/env bash
# Build the release binary for aarch64-unknown-linux-gnu (Raspberry Pi 4/5, 64-bit OS) on a
# Debian/Ubuntu x86-64 machine with Debian's Rust toolchain and cross compiler.
#   cross/build-aarch64.sh            -> target/aarch64-unknown-linux-gnu/dist/moodkiosk
#   cross/build-aarch64.sh --deps     also install the toolchain (root)
# With rustup instead:  rustup target add aarch64-unknown-linux-gnu, install gcc-aarch64-linux-gnu,
# then the same cargo command. With cross-rs:  cross build --profile dist --target aarch64-unknown-linux-gnu
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if [ "${1:-}" = "--deps" ]; then
  shift
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
    qemu-user-static rustc-web cargo-web libstd-rust-web-dev:arm64 libclang-dev
fi
# Debian's cargo/rustc have the aarch64 standard library; a rustup toolchain earlier in PATH may not.
CARGO=${CARGO:-/usr/bin/cargo}
export RUSTC=${RUSTC:-/usr/bin/rustc}
# Linker, runner and C/bindgen settings for the target: .cargo/config.toml.
"$CARGO" build --locked --profile dist --target aarch64-unknown-linux-gnu "$@"
bin=target/aarch64-unknown-linux-gnu/dist/moodkiosk
file "$bin" 2>/dev/null || true
echo "size: $(stat -c %s "$bin") bytes (stripped)"
