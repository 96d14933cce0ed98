#!/usr/bin/env bash
# Peak memory and time of one Mind's Eye step (forward to the target and
# penalty layers, compat loss, input gradient, mask, SGD update, 8-bit
# quantization) on layervis's backend (pure Go unless GOMLX_BACKEND says
# otherwise; the images stepped in micro-batches chosen from the memory
# available, as a run chooses them) and on PyTorch CPU with 2 threads, for
# K images at once, side by side. Each side runs in its own process per K;
# peak memory is that process's peak resident set (weights included).
# Defaults: the reference configuration's step, ResNet-152 at 512², K = 1
# and 10 (about 10 GB and 15+ minutes on 2 cores: run it alone).
# Usage: scripts/bench-memory.sh [arch] [size] ["K1 K2 ..."] [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-resnet152} size=${2:-512} ks=${3:-"1 10"} iters=${4:-1}
export GOEXPERIMENT=simd
bin=$(mktemp -d)/mindseye.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./layervis/mindseye/
rows=()
for k in $ks; do
  go_out=$(cd layervis/mindseye && MINDSEYE_BENCH="$arch,$k,$size" "$bin" -test.run '^$' \
    -test.bench '^BenchmarkStep$' -test.benchtime "${iters}x")
  echo "$go_out" | grep '^BenchmarkStep'
  py_json=$(OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 layervis/mindseye/testdata/step_ref.py bench \
    --arch "$arch" --k "$k" --size "$size" --threads 2 --iters "$iters")
  echo "pytorch: $py_json"
  rows+=("$k|$go_out|$py_json")
done
/usr/bin/python3 - "$arch" "$size" "${rows[@]}" <<'PY'
import json, re, sys
arch, size = sys.argv[1], sys.argv[2]
print(f"\n{arch} at {size}x{size}, one Mind's Eye step (compat loss), peak resident set and time:")
print(f"{'K':>3} | {'layervis step':>13} {'peak':>8} {'micro-batch':>11} {'estimate':>9} | {'PyTorch step':>12} {'peak':>8} | peak ratio")
for row in sys.argv[3:]:
    k, go, py = row.split("|", 2)
    py = json.loads(py)
    line = re.search(r"^BenchmarkStep\S*\s+\d+\s+([\d.]+) ns/op(.*)$", go, re.M)
    m = {name: float(v) for v, name in re.findall(r"([\d.e+]+) ([\w-]+)", line.group(2))}
    step, peak = float(line.group(1)) / 1e9, m["peak-RSS-MB"] / 1e3
    pypeak = py["peak_rss_mb"] / 1e3
    print(f"{k:>3} | {step:>12.1f}s {peak:>6.2f}GB {int(m['micro-batch']):>11} {m['estimate-MB']/1e3:>7.2f}GB | "
          f"{py['median_s']:>11.1f}s {pypeak:>6.2f}GB | {peak/pypeak:.2f}x")
PY
