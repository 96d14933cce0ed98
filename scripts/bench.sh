#!/usr/bin/env bash
# Times one step (forward to layer4 + input gradient + update) of ResNet-50 at
# 224², batch 1, on layervis's backend (pure Go unless GOMLX_BACKEND says
# otherwise) and on PyTorch CPU, alternating the two ROUNDS times, and prints
# each round's medians and ratio, then the median ratio and its range. One run
# of each is not enough where the machine's speed drifts (the 2-core
# development machine's by tens of per cent within minutes, PyTorch's as much
# as layervis's): the rounds pair runs made minutes apart at most. The last
# line compares the fastest step of each over all rounds: both at their
# best, in whichever state the machine then was.
# THREADS is the cores both get (GOMAXPROCS, torch's threads); default: all.
# Usage: [ROUNDS=3] [THREADS=n] scripts/bench.sh [model] [layer] [size] [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet50} layer=${2:-layer4} size=${3:-224} iters=${4:-10}
rounds=${ROUNDS:-3} threads=${THREADS:-$(nproc)}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: ROUNDS=$rounds: give a positive whole number" >&2; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: THREADS=$threads: give a positive whole number" >&2; exit 2; }
export GOEXPERIMENT=simd
tmp=$(mktemp -d /tmp/layervis-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./examples/bench
runs=()
for r in $(seq "$rounds"); do
  go_json=$(GOMAXPROCS=$threads "$tmp/bench" -model "$model" -layer "$layer" -size "$size" -iters "$iters")
  py_json=$(OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 layervis/internal/pyref/torchref.py bench \
    --arch "$model" --layer "$layer" --size "$size" --threads "$threads" --iters "$iters")
  echo "round $r layervis: $go_json"
  echo "round $r pytorch:  $py_json"
  runs+=("$go_json" "$py_json")
done
/usr/bin/python3 - "$threads" "${runs[@]}" <<'PY'
import json, statistics, sys
threads, runs = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
pairs = list(zip(runs[0::2], runs[1::2]))
for i, (g, p) in enumerate(pairs, 1):
    print(f"round {i}: layervis {g['median_s']*1000:.0f} ms, PyTorch {p['median_s']*1000:.0f} ms "
          f"-> {g['median_s']/p['median_s']:.2f}x")
ratios = [g['median_s'] / p['median_s'] for g, p in pairs]
print(f"step median over {len(pairs)} rounds, {threads} thread(s): "
      f"layervis {statistics.median(g['median_s'] for g, _ in pairs)*1000:.0f} ms, "
      f"PyTorch {statistics.median(p['median_s'] for _, p in pairs)*1000:.0f} ms "
      f"-> layervis/PyTorch = {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
best_g, best_p = min(g['min_s'] for g, _ in pairs), min(p['min_s'] for _, p in pairs)
print(f"fastest steps of all rounds: layervis {best_g*1000:.0f} ms, PyTorch {best_p*1000:.0f} ms -> {best_g/best_p:.2f}x")
PY
