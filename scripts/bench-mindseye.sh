#!/usr/bin/env bash
# Times one Mind's Eye iteration on layervis's backend (pure Go unless
# GOMLX_BACKEND says otherwise) and the same step in PyTorch CPU with 2
# threads, on the same machine, and prints the ratio. The step is the
# compiled part (forward to the target and penalty layers, compat loss, input
# gradient, mask, SGD update, 8-bit quantization); the host regularizers
# (jitter, mask, blur, TV denoising, averaged over a 10-iteration cycle) are
# timed separately on the Go side.
# Usage: scripts/bench-mindseye.sh [arch] [K] [size] [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-resnet18} k=${2:-4} size=${3:-128} iters=${4:-5}
export GOEXPERIMENT=simd
go_out=$(MINDSEYE_BENCH="$arch,$k,$size" go test -run '^$' -bench '^Benchmark(Step|Host)$' \
  -benchtime "${iters}x" ./layervis/mindseye/)
echo "$go_out" | grep '^Benchmark'
py_json=$(OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 layervis/mindseye/testdata/step_ref.py bench \
  --arch "$arch" --k "$k" --size "$size" --threads 2 --iters "$iters")
echo "pytorch: $py_json"
/usr/bin/python3 - "$go_out" "$py_json" <<'PY'
import json, re, sys
go, py = sys.argv[1], json.loads(sys.argv[2])
ns = {m.group(1): float(m.group(2)) for m in re.finditer(r"^Benchmark(\w+)-\d+\s+\d+\s+([\d.]+) ns/op", go, re.M)}
step = ns["Step"] / 1e9
host = float(re.search(r"^BenchmarkHost.*?([\d.]+) ns/iteration", go, re.M).group(1)) / 1e9
print(f"{py['arch']}, K={py['k']}, {py['size']}x{py['size']}: layervis step {step*1000:.0f} ms + host {host*1000:.1f} ms/iteration; "
      f"PyTorch step {py['median_s']*1000:.0f} ms -> layervis/PyTorch step = {step/py['median_s']:.2f}x")
PY
