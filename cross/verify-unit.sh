#!/usr/bin/env bash
# Check the systemd unit offline: `systemd-analyze verify` in a scratch root holding the unit,
# the binary and systemd's own units, then print the `systemd-analyze security` exposure score.
#   cross/verify-unit.sh [path/to/moodkiosk]   (default: target/release/moodkiosk)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/moodkiosk}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp "$bin" "$root/usr/bin/moodkiosk"
cp /bin/sh "$root/bin/sh"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/system"
cp cross/debian/moodkiosk.service "$root/etc/systemd/system/"
systemd-analyze verify --root="$root" moodkiosk.service
echo "systemd-analyze verify: ok"
systemd-analyze security --offline=yes --root="$root" moodkiosk.service | tail -1
