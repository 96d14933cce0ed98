#!/usr/bin/env bash
# Feature-visualization quality on the demo model: 16 channels over three
# depths (6 of a shallow layer, 5 of a middle one, 5 of the backbone's last),
# rendered at 128² by examples/channels with each parameterization, and for
# each:
#   (a) the channel's mean activation on the final 8-bit image against the
#       most any of the 22 demo photos reaches (a feature visualization
#       should beat every natural image);
#   (b) the share of the image's spectral power above half-Nyquist (a noise
#       check), next to the photos' and to the same channel rendered with the
#       pixel parameterization.
# The bar for the default (fourier): above the photos' maximum on >= 90% of
# channels, and <= 0.8x the pixel rendering's high-frequency share.
# Each render's images, grid.png and report.json stay in OUT/DEPTH-PARAM.
# Usage: scripts/bench-optvis.sh [steps] [out] [params] [more examples/channels flags]
#   e.g. scripts/bench-optvis.sh 256 out/bench-optvis "fourier maco pixel" "-init-sd 0.5"
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-256} out=${2:-out/bench-optvis} params=${3:-fourier maco pixel} extra=${4:-}
export GOEXPERIMENT=simd
go build -o /tmp/layervis-channels ./examples/channels
names=(shallow middle deep)
layers=(tower_0/MobilenetV3/expanded_conv_2/expand/Relu    # 72 channels, 32x32 at 128²
  tower_0/MobilenetV3/expanded_conv_5/expand/Relu          # 96 channels, 16x16
  tower_0/extern1/hard_swish/mul_1)                        # 480 channels, 4x4
channels=(0,12,24,36,48,60 0,19,38,57,76 0,96,192,288,384) # evenly spread
for i in 0 1 2; do
  for p in $params; do
    dir="$out/${names[$i]}-$p"
    echo "rendering ${names[$i]} ${layers[$i]} channels ${channels[$i]} with $p ($steps steps) -> $dir" >&2
    /tmp/layervis-channels -quiet -overwrite -layer "${layers[$i]}" -channels "${channels[$i]}" -param "$p" \
      -steps "$steps" -out "$dir" $extra >/dev/null
  done
done
/usr/bin/python3 - "$out" "$params" <<'PY'
import json, os, statistics as st, sys
out, params = sys.argv[1], sys.argv[2].split()
reps = {}
for d in sorted(os.listdir(out)):
    depth, _, p = d.partition("-")
    if p in params and os.path.exists(os.path.join(out, d, "report.json")):
        reps[(depth, p)] = json.load(open(os.path.join(out, d, "report.json")))
photo_hf = next(iter(reps.values()))["photos"]["hf_share"]
print(f"{len(reps)} renders; photos' HF share (above half-Nyquist) {photo_hf:.3f}")
print(f"{'param':8} {'above photos max':>17} {'median act/max':>15} {'mean HF':>8} {'HF/pixel':>9} {'s/step':>7}")
for p in params:
    units, ratio_px, steps = [], [], []
    for depth in ("shallow", "middle", "deep"):
        r = reps.get((depth, p))
        if r is None:
            continue
        steps.append(r["timings"]["step_s"])
        px = reps.get((depth, "pixel"))
        for k, u in enumerate(r["units"]):
            units.append(u)
            if px and p != "pixel":
                ratio_px.append(u["hf_share"] / px["units"][k]["hf_share"])
    if not units:
        continue
    above = sum(u["activation"] > u["photos_max"] for u in units)
    med = st.median(u["activation"] / u["photos_max"] for u in units if u["photos_max"] > 0)
    hf = st.mean(u["hf_share"] for u in units)
    rp = f"{st.mean(ratio_px):.2f}x" if ratio_px else "-"
    print(f"{p:8} {above:>3}/{len(units):<3} ({100*above/len(units):3.0f}%) {med:>14.2f}x {hf:>8.3f} {rp:>9} {st.mean(steps):>7.3f}")
print("per channel (channel: activation / photos' max / HF share):")
for (depth, p), r in sorted(reps.items()):
    cells = "  ".join(f"{u['channel']}:{u['activation']:.2g}/{u['photos_max']:.2g}/{u['hf_share']:.2f}" for u in r["units"])
    print(f"  {depth:8} {p:8} {cells}")
PY
