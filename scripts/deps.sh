#!/usr/bin/env bash
# Installs the Debian packages layervis's tests use: the independent
# references (PyTorch with OpenBLAS, torchvision, NumPy, OpenCV, SciPy,
# scikit-image, scikit-learn; PIL and libjpeg-turbo's cjpeg for the JPEG
# decoder; Node.js for TF.js), Jupyter's headless notebook runner, and
# Chromium (with a font) for the browser tests of the notebook UI
# (kernel/browser_test.go). Needs root or sudo once; a machine that already
# has them needs nothing. (Node.js: a machine with NodeSource's nodejs has
# npm; on stock Debian also install the npm package.)
set -euo pipefail
pkgs=(python3 python3-numpy python3-pil libjpeg-turbo-progs python3-torch python3-torchvision libopenblas0-pthread python3-opencv jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel nodejs python3-scipy python3-skimage python3-sklearn chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with NodeSource's nodejs; Debian packages it separately.
command -v npm >/dev/null || missing+=(npm)
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
