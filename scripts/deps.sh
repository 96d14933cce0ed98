#!/usr/bin/env bash
# Installs the Debian packages layervis's tests use as independent references
# (PyTorch, torchvision, NumPy, OpenCV). Needs root or sudo once; a machine
# that already has them needs nothing.
set -euo pipefail
pkgs=(python3 python3-numpy python3-torch python3-torchvision libopenblas0-pthread python3-opencv jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel nodejs)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all present (${pkgs[*]})"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
