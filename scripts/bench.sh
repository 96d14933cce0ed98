#!/usr/bin/env bash
# Times one step (forward to layer4 + input gradient + update) of ResNet-50 at
# 224², batch 1, on layervis's backend (pure Go unless GOMLX_BACKEND says
# otherwise) and on PyTorch CPU with 2 threads, in one run, and prints the
# ratio. Usage: scripts/bench.sh [model] [layer] [size] [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet50} layer=${2:-layer4} size=${3:-224} iters=${4:-10}
export GOEXPERIMENT=simd
go build -o /tmp/layervis-bench ./examples/bench
go_json=$(/tmp/layervis-bench -model "$model" -layer "$layer" -size "$size" -iters "$iters")
py_json=$(OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 layervis/internal/pyref/torchref.py bench \
  --arch "$model" --layer "$layer" --size "$size" --threads 2 --iters "$iters")
echo "layervis: $go_json"
echo "pytorch:  $py_json"
/usr/bin/python3 - "$go_json" "$py_json" <<'PY'
import json, sys
g, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"step median: layervis {g['median_s']*1000:.0f} ms, PyTorch {p['median_s']*1000:.0f} ms "
      f"-> layervis/PyTorch = {g['median_s']/p['median_s']:.2f}x")
PY
