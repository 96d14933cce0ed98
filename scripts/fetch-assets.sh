#!/usr/bin/env bash
# Fetches layervis's offline demo assets into a cache directory:
#
#   CACHE/demo/model/{centernet.json,centernet.bin,LICENSE,NOTICE}
#       the MobileNetV3 + CenterNet COCO object detector (TF.js graph model)
#       from npm @vladmandic/human@3.3.6 (MIT);
#   CACHE/demo/photos/*.{jpg,png}
#       22 natural photos from Debian packages (gnome-control-center-data,
#       darknet, python3-skimage);
#   CACHE/demo/coco.names
#       the 80 COCO class names, in the detector's channel order (darknet);
#   CACHE/demo/SOURCES.tsv
#       sha256, origin and licence of every file.
#
# Usage: scripts/fetch-assets.sh [CACHE_DIR]
# CACHE_DIR defaults to ${LAYERVIS_CACHE:-$HOME/.cache/layervis}.
#
# Needs sha256sum always; npm (for the model) and apt-get + dpkg-deb (for the
# photos) only when those files are missing. No root is needed, except to
# install npm when it is missing (apt-get install npm, done here as root or
# with sudo) and for an `apt-get update` when the apt package lists lack the
# packages. Every file is
# checked against the sha256 below; a second run with everything in place
# downloads nothing.
set -euo pipefail

cache=${1:-${LAYERVIS_CACHE:-$HOME/.cache/layervis}}
demo=$cache/demo

die() {
  echo "fetch-assets: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

need sha256sum "install coreutils"

# Source groups: how to obtain each, its tested version and licence.
npm_pkg=@vladmandic/human
npm_ver=3.3.6
declare -A group_ver=(
  [npm]=$npm_ver
  [gnome-control-center-data]=1:43.6-2~deb12u1
  [darknet]=0.0.0+git20180914.61c9d02e-2+b4
  [python3-skimage]=0.19.3-8
)

# Files: destination (relative to CACHE/demo), sha256, group, path inside the
# package, licence.
files=(
  "model/centernet.json bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05 npm package/models/centernet.json MIT (package LICENSE)"
  "model/centernet.bin 1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef npm package/models/centernet.bin MIT (package LICENSE)"
  "model/LICENSE 9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a npm package/LICENSE MIT (package LICENSE)"
  "photos/cat.jpg c0636851d25a62d817ff7da4e081d1e646e42c74d0ecb53425f75fcf1ba43b52 gnome-control-center-data usr/share/pixmaps/faces/cat.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/hummingbird.jpg b3e1227f3fddbf8d0f3072c2f4d81d8de8bdacc6abdb3dd66ec5a38eccf6bda2 gnome-control-center-data usr/share/pixmaps/faces/hummingbird.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/coffee2.jpg 5baf16d1907e69cfcbb58e545a02a58356e6ad38f5754f696fce97bc81261b43 gnome-control-center-data usr/share/pixmaps/faces/coffee2.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/bicycle.jpg 2fc77f3e1d08ca9a4e9eaade430c4cf7e3e6a77fb812192cc0a2be5c10c22cbb gnome-control-center-data usr/share/pixmaps/faces/bicycle.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/guitar2.jpg 5b73f8fc7b6facd22149a972735a2d18f351d5f4eaf1f57b6f25553485c3c711 gnome-control-center-data usr/share/pixmaps/faces/guitar2.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/headphones.jpg c3f5149e761c33036c4510cc66b397da6a5fec76e09685b3b9f271217f8dccb1 gnome-control-center-data usr/share/pixmaps/faces/headphones.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/plane.jpg 197af96e234d1c3b12f307a9cbf855f3d209f58eaa5ba9b75f510b44555c3c7d gnome-control-center-data usr/share/pixmaps/faces/plane.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/surfer.jpg 9b8e3c48b0b3acc5e0f31aa3ec61f7443e9b681ec6c3131a932bdb9105809e68 gnome-control-center-data usr/share/pixmaps/faces/surfer.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/tomatoes.jpg 75cdbafa9c2e42ee4957cbc758129f618713c59fd3ac3b50930ff093f436f2f3 gnome-control-center-data usr/share/pixmaps/faces/tomatoes.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/tree.jpg d4e71bc17a8ea092258a294e6655f30ee478a38e8917e8717fc974be85e90d3f gnome-control-center-data usr/share/pixmaps/faces/tree.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/mountain.jpg 6ecfeb9a7b08fcecba1c48e841ef90468a788aad530b582821cbc20d704229fe gnome-control-center-data usr/share/pixmaps/faces/mountain.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/flower2.jpg 1b9d235bd7ee5e5cd4ab951c1cfcd857764ba6ebf22ca3f40ef23baa2b440c1c gnome-control-center-data usr/share/pixmaps/faces/flower2.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/book.jpg 5ab1ad4072e7877eb1546dd32e67cd5f0243152dda8a542cf6284b54f27d0612 gnome-control-center-data usr/share/pixmaps/faces/book.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/calculator.jpg 217bb42d2828751ac10bfc0896cc8deae2b608617fcf78b84bc34e0a4527d046 gnome-control-center-data usr/share/pixmaps/faces/calculator.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/gamepad.jpg 7e5e98da53f73a57ffe314781cf725269f9e95513cf69d934acff9baee1ba943 gnome-control-center-data usr/share/pixmaps/faces/gamepad.jpg CC0-1.0 per the Debian copyright of the package (no per-file notice)"
  "photos/dog.jpg 5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866 darknet usr/share/darknet/data/dog.jpg GPL-3.0+ or MIT or WTFPL (Debian copyright)"
  "photos/eagle.jpg f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0 darknet usr/share/darknet/data/eagle.jpg GPL-3.0+ or MIT or WTFPL (Debian copyright)"
  "photos/giraffe.jpg 00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1 darknet usr/share/darknet/data/giraffe.jpg GPL-3.0+ or MIT or WTFPL (Debian copyright)"
  "photos/horses.jpg c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4 darknet usr/share/darknet/data/horses.jpg GPL-3.0+ or MIT or WTFPL (Debian copyright)"
  "coco.names 634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84 darknet usr/share/darknet/data/coco.names GPL-3.0+ or MIT or WTFPL (Debian copyright)"
  "photos/chelsea.png 596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb python3-skimage usr/lib/python3/dist-packages/skimage/data/chelsea.png CC0-1.0 (skimage data/_fetchers.py docstring)"
  "photos/coffee.png cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7 python3-skimage usr/lib/python3/dist-packages/skimage/data/coffee.png CC0-1.0 (skimage data/_fetchers.py docstring)"
  "photos/astronaut.png 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5 python3-skimage usr/lib/python3/dist-packages/skimage/data/astronaut.png public domain (NASA; skimage data/_fetchers.py docstring)"
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Which groups have a missing or wrong file?
declare -A stale=()
for row in "${files[@]}"; do
  read -r dest sum group _ _ <<<"$row"
  f=$demo/$dest
  if [ ! -f "$f" ] || [ -L "$f" ] || [ "$(sha_of "$f")" != "$sum" ]; then
    stale[$group]=1
  fi
done
if [ ${#stale[@]} -eq 0 ] && [ -f "$demo/SOURCES.tsv" ] && [ -f "$demo/model/NOTICE" ]; then
  echo "fetch-assets: $demo is up to date (${#files[@]} files verified)"
  exit 0
fi

mkdir -p "$demo/model" "$demo/photos"
work=$(mktemp -d "$demo/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ensure_npm installs Debian's npm (which brings Node.js) when npm is
# missing and apt-get can run as root (or with sudo); otherwise fetch_npm
# says what to install.
ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 0
    sudo=(sudo -n DEBIAN_FRONTEND=noninteractive)
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "fetch-assets: npm not found; apt-get install npm (Node.js and npm, to fetch the demo model)"
  local install=("${sudo[@]}" apt-get install -y -qq --no-install-recommends npm)
  "${install[@]}" || { apt_update npm && "${install[@]}"; } || die "apt-get install npm failed"
}

# fetch_npm unpacks the model files of the npm package into $work/npm.
fetch_npm() {
  ensure_npm
  need npm "install Node.js and npm (Debian: apt-get install npm, as root) to fetch the demo model"
  need tar "install tar"
  echo "fetch-assets: npm pack $npm_pkg@$npm_ver"
  local tgz
  tgz=$(cd "$work" && npm pack --silent "$npm_pkg@$npm_ver") ||
    die "npm pack $npm_pkg@$npm_ver failed (is the npm registry reachable?)"
  mkdir -p "$work/npm"
  tar -xzf "$work/$tgz" -C "$work/npm" package/models/centernet.json package/models/centernet.bin package/LICENSE ||
    die "$tgz lacks package/models/centernet.{json,bin} or package/LICENSE"
}

apt_updated=0
# apt_update refreshes the package lists, as root or with sudo.
apt_update() {
  [ $apt_updated -eq 0 ] || return 1
  apt_updated=1
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "apt cannot find $1 and refreshing its package lists needs root: run 'sudo apt-get update' once, then rerun this script"
    fi
  fi
  echo "fetch-assets: apt-get update (the package lists lack $1)"
  "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
}

# fetch_deb downloads Debian package $1 (the tested version if apt has it,
# else the candidate; checksums decide) and unpacks it into $work/$1.
fetch_deb() {
  local pkg=$1 opts=()
  need apt-get "the photos come from Debian packages; run this on Debian or Ubuntu, or copy CACHE/demo from a machine that has them"
  need dpkg-deb "install dpkg"
  [ "$(id -u)" -ne 0 ] || opts=(-o APT::Sandbox::User=root)
  echo "fetch-assets: apt-get download $pkg"
  local err=$work/apt-$pkg.err
  while ! (cd "$work" && { apt-get "${opts[@]}" download -qq "$pkg=${group_ver[$pkg]}" ||
    apt-get "${opts[@]}" download -qq "$pkg"; } 2>"$err"); do
    apt_update "$pkg" ||
      die "apt-get download $pkg failed (the package is in Debian bookworm main):"$'\n'"$(cat "$err")"
  done
  local deb
  deb=$(ls "$work"/"${pkg}"_*.deb | head -n1)
  group_ver[$pkg]=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -x "$deb" "$work/$pkg" || die "dpkg-deb -x $deb failed"
}

for group in "${!stale[@]}"; do
  if [ "$group" = npm ]; then
    fetch_npm
  else
    fetch_deb "$group"
  fi
done

# Install and verify the fetched files.
for row in "${files[@]}"; do
  read -r dest sum group inner _ <<<"$row"
  [ -n "${stale[$group]:-}" ] || continue
  src=$work/$group/$inner
  [ "$group" != npm ] || src=$work/npm/$inner
  [ -f "$src" ] && [ ! -L "$src" ] || die "$group ${group_ver[$group]} has no regular file $inner"
  got=$(sha_of "$src")
  [ "$got" = "$sum" ] ||
    die "$inner from $group ${group_ver[$group]}: sha256 $got, want $sum (a different package version?)"
  cp "$src" "$work/.tmp" && mv -f "$work/.tmp" "$demo/$dest"
done

cat >"$work/NOTICE" <<EOF
CenterNet object detector with a MobileNetV3 backbone, as a TF.js graph model
(centernet.json, centernet.bin), from the npm package $npm_pkg@$npm_ver
(https://github.com/vladmandic/human), MIT licence: see LICENSE.

The network was trained on COCO 2017 (80 object classes) by the upstream
project https://github.com/610265158/mobilenetv3_centernet, starting from an
ImageNet-trained MobileNetV3 backbone. The upstream repository has no licence
file. It is an object detector, not an ImageNet classifier.
EOF
mv -f "$work/NOTICE" "$demo/model/NOTICE"

{
  printf 'file\tsha256\torigin\tpath\tlicence\n'
  for row in "${files[@]}"; do
    read -r dest sum group inner licence <<<"$row"
    if [ "$group" = npm ]; then
      origin="npm:$npm_pkg@${group_ver[npm]}"
    else
      origin="deb:$group@${group_ver[$group]}"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$dest" "$sum" "$origin" "$inner" "$licence"
  done
  printf '%s\t%s\t%s\t%s\t%s\n' model/NOTICE "$(sha_of "$demo/model/NOTICE")" "layervis" "scripts/fetch-assets.sh" "-"
} >"$work/SOURCES.tsv"
mv -f "$work/SOURCES.tsv" "$demo/SOURCES.tsv"
echo "fetch-assets: $demo ready (${#files[@]} files verified)"
