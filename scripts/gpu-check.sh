#!/usr/bin/env bash
# GPU check: parity, speed and Mind's Eye runs of layervis on a CUDA machine
# through jax's PJRT plugin, next to PyTorch, in one log.
#
#   scripts/gpu-check.sh build   here (Go toolchain): builds .gpu/ (git-ignored):
#                                the binaries (cgo, XLA, GOEXPERIMENT=simd, xz),
#                                the demo assets and the Python helpers
#   scripts/gpu-check.sh run     on the device machine, from the repository root
#                                with .gpu/ carried along: every check, one log
#                                in $OUT/log (the device has CUDA, PyTorch and
#                                jax's plugin but no Go), within GPU_CHECK_BUDGET
#                                seconds (default 450)
#   scripts/gpu-check.sh dry     here: the same run with the pure-Go backend only
#                                (GOMLX_BACKEND unset) at small sizes, to test the
#                                script; log in ${OUT:-/tmp/gpu-check-dry}/log
#
# PY is the Python with PyTorch: python3 on the device, /usr/bin/python3 here.
#
# Each step runs under a timeout cut to the time left, so the run ends within
# the budget whatever hangs; a step that times out is logged with rc=124.
set -uo pipefail
mode=${1:-}
cd "$(dirname "$0")/.."
G=$PWD/.gpu
bins="bench mindseye activations"

build() {
  set -e
  mkdir -p "$G"
  for c in $bins; do
    echo "build $c"
    GOEXPERIMENT=simd CGO_ENABLED=1 go build -o "$G/$c" "./examples/$c"
    xz -T2 -f "$G/$c"
  done
  echo "build nn.test" # BenchmarkDispatch: the executor's cost per op, for scripts/opprof.sh -span
  GOEXPERIMENT=simd go test -c -o "$G/nn.test" ./layervis/nn/
  xz -T2 -f "$G/nn.test"
  echo "build imageops.test" # the Mind's Eye loop's host operations on the machine's cores
  GOEXPERIMENT=simd go test -c -o "$G/imageops.test" ./layervis/imageops/
  xz -T2 -f "$G/imageops.test"
  rm -rf "$G/cache" && mkdir -p "$G/cache"
  cp -r "${LAYERVIS_CACHE:-$HOME/.cache/layervis}/demo" "$G/cache/" # the demo model and photos (7.4 MB)
  cp scripts/gpu/*.py "$G/"
  du -sh "$G"
}

case $mode in
build) build; exit ;;
run) dry=0; OUT=${OUT:?run: set OUT to the folder for the log}; PY=${PY:-python3} ;;
dry) dry=1; OUT=${OUT:-/tmp/gpu-check-dry}; mkdir -p "$OUT"; PY=${PY:-/usr/bin/python3} ;;
*) echo "usage: $0 build|run|dry" >&2; exit 2 ;;
esac

[ -d "$G" ] || { echo "no $G: run '$0 build' (make gpu-build) first" >&2; exit 1; }
W=$(mktemp -d)
exec > >(tee -a "$OUT/log") 2>&1
start=$(date +%s)
budget=${GPU_CHECK_BUDGET:-450}
(cd "$G" && for f in *.xz; do [ -e "${f%.xz}" ] && [ "${f%.xz}" -nt "$f" ] || xz -dkf -T0 "$f"; done && chmod +x $bins nn.test imageops.test)
export LAYERVIS_CACHE=$G/cache GOMLX_NO_AUTO_INSTALL=1

# t CAP CMD...: runs CMD with a timeout of CAP seconds or the time left,
# and logs its status and wall time.
t() {
  local cap=$1; shift
  local left=$((budget - ($(date +%s) - start) - 5))
  if [ "$left" -lt 10 ]; then echo "  [skipped: budget spent] $*"; return 124; fi
  local s=$(date +%s%N)
  timeout "$((cap < left ? cap : left))" "$@"
  local rc=$? ms=$((($(date +%s%N) - s) / 1000000))
  echo "  [rc=$rc $((ms / 1000)).$((ms % 1000 / 100)) s] ${*##*/}"
  return $rc
}

echo "### layervis gpu-check ($mode) $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(date -u +%FT%TZ)"
if [ $dry = 1 ]; then
  unset GOMLX_BACKEND
  XLA=""
  nproc
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  PD=$("$PY" -c "import jax_plugins.xla_cuda13 as p, os; print(os.path.dirname(p.__file__))") ||
    { echo "jax's CUDA plugin (jax_plugins.xla_cuda13) not found"; exit 1; }
  SP=$(dirname "$(dirname "$PD")")
  export GOPJRT_CUDA_CHECKS=0 XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia/cu13
  XLA=xla:$PD/xla_cuda_plugin.so
fi
# Backends: name=GOMLX_BACKEND/LAYERVIS_PRECISION.
backends="go=go/fast"
[ -n "$XLA" ] && backends="xla-fast=$XLA/fast xla-exact=$XLA/exact $backends"
on() { # on BACKEND-SPEC CMD...: CMD with that backend and precision
  local spec=$1; shift
  GOMLX_BACKEND=${spec%/*} LAYERVIS_PRECISION=${spec##*/} "$@"
}

echo "### 1. parity: layervis vs float64 PyTorch (CPU) references; max|d|/max|ref|"
echo "# expected: xla-fast (TF32) ~1e-3 activations, ~0.1 gradient; xla-exact and go ~2e-6, ~6e-7"
if [ $dry = 1 ]; then specs="resnet18:layer3"; else specs="resnet18:layer3 resnet152:layer4.2.conv3"; fi
t 90 "$PY" "$G/gen_ref.py" "$W" $specs
for al in $specs; do
  a=${al%%:*} l=${al#*:}
  for b in $backends; do
    name=${b%%=*}
    on "${b#*=}" t 60 "$G/activations" -model "$a" -weights "$W/$a.pth" -image "$W/img.png" -layer "$l" \
      -out "$W/$a.$name.a.npy" -grad "$W/$a.$name.g.npy" -force > "$W/act.log" 2>&1 || tail -3 "$W/act.log"
    "$PY" "$G/cmp.py" "$W/$a.ref_a.npy" "$W/$a.$name.a.npy" "$a/$name act"
    "$PY" "$G/cmp.py" "$W/$a.ref_g.npy" "$W/$a.$name.g.npy" "$a/$name grad"
  done
done
t 90 "$PY" "$G/torch_err.py" "$W" $specs

echo "### 2. step time (forward to layer4 + input gradient + update): layervis examples/bench, PyTorch eager"
if [ $dry = 1 ]; then
  cases="resnet18:layer4:64:1:3"
else
  cases="resnet50:layer4:224:1:50 resnet50:layer4:224:32:20 resnet152:layer4:512:10:20"
fi
for c in $cases; do
  IFS=: read -r m l s n it <<< "$c"
  for b in $backends; do
    [ "${b%%=*}" = go ] && continue
    on "${b#*=}" t 90 "$G/bench" -model "$m" -layer "$l" -size "$s" -batch "$n" -iters "$it" 2>/dev/null
  done
done
target=tower_0/extern1/hard_swish/mul_1 # the demo model's Mind's Eye target
if [ -n "$XLA" ]; then
  # The demo model's Mind's Eye step shape (K=4, 128²) and the reference's (K=10, 512²).
  on "$XLA/fast" t 60 "$G/bench" -model demo -layer $target -size 128 -batch 4 -iters 50 2>/dev/null
  t 120 "$PY" "$G/torch_step.py" cuda resnet50:1:224,resnet50:32:224,resnet152:10:512
fi

echo "### 3. CPU: pure Go (all cores, 2, 1) vs PyTorch CPU (same threads), ResNet-50 224² batch 1 (in bands, one per core, at most one per 64 rows), and batch 8 on all cores (one branch per core)"
if [ $dry = 1 ]; then m=resnet18 s=64; else m=resnet50 s=224; fi
ncpu=$(nproc)
for p in $ncpu 2 1; do
  echo "  GOMAXPROCS=$p"
  GOMAXPROCS=$p GOMLX_BACKEND=go t 120 "$G/bench" -model $m -layer layer4 -size $s -batch 1 -iters 3 2>/dev/null
done
GOMLX_BACKEND=go t 120 "$G/bench" -model $m -layer layer4 -size $s -batch 8 -iters 3 2>/dev/null
for p in $ncpu 2; do
  THREADS=$p OMP_WAIT_POLICY=PASSIVE t 90 "$PY" "$G/torch_step.py" cpu $m:1:$s 3
done
THREADS=$ncpu OMP_WAIT_POLICY=PASSIVE t 90 "$PY" "$G/torch_step.py" cpu $m:8:$s 3

echo "### 4. Mind's Eye, demo model, default settings (K=4, 128², 301 iterations)"
if [ $dry = 1 ]; then
  demo=(-iterations 3 -size 64 -clusters 2 -exemplars 2)
  ref=(-model resnet18 -size 64 -clusters 2 -exemplars 2 -iterations 3)
  be=go/fast
else
  demo=()
  ref=(-model resnet152 -reference -iterations 200)
  be=$XLA/fast
fi
on $be t 150 "$G/mindseye" -out "$W/me-demo" -quiet "${demo[@]}" > "$W/demo.log" 2>&1
tail -3 "$W/demo.log"
cp "$W/me-demo/report.json" "$OUT/report-demo.json" 2>/dev/null

echo "### 5. Mind's Eye, reference configuration (ResNet-152, K=10, 512², compat), 200 iterations"
on $be t 240 "$G/mindseye" "${ref[@]}" -preset compat -images "$LAYERVIS_CACHE/demo/photos" \
  -out "$W/me-ref" -quiet > "$W/ref.log" 2>&1
tail -3 "$W/ref.log"
cp "$W/me-ref/report.json" "$OUT/report-reference.json" 2>/dev/null

"$PY" - "$OUT" <<'PY'
import json, os, sys
for f in ["report-demo.json", "report-reference.json"]:
    try:
        r = json.load(open(os.path.join(sys.argv[1], f)))
    except Exception as e:
        print(f, "missing:", e)
        continue
    print(f, {k: r[k] for k in r if k.lower().startswith("tim")})
PY
echo "### 6. CPU: other bands on all cores (LAYERVIS_BAND_ROWS; the default on 16 cores is 16 rows per band, from scripts/opprof.sh -span; 64 is the 2-core default), ResNet-50 224² batch 1; the demo model in bands and whole"
for r in 64 32; do
  echo "  GOMAXPROCS=$ncpu LAYERVIS_BAND_ROWS=$r"
  LAYERVIS_BAND_ROWS=$r GOMLX_BACKEND=go t 60 "$G/bench" -model $m -layer layer4 -size $s -batch 1 -iters 3 2>/dev/null
done
if [ $dry = 1 ]; then ds=256; else ds=512; fi
echo "  the demo model (TF.js) at ${ds}², batch 1 and 4, in bands of at least 128 rows (the default) and whole (LAYERVIS_BAND_ROWS=100000)"
for r in "" 100000; do
  for n in 1 4; do
    echo "  GOMAXPROCS=$ncpu LAYERVIS_BAND_ROWS=${r:-unset} batch $n"
    LAYERVIS_BAND_ROWS=$r GOMLX_BACKEND=go t 60 "$G/bench" -model demo -layer $target -size $ds -batch $n -iters 3 2>/dev/null
  done
done
echo "  the executor's cost per op (scripts/opprof.sh -span assumes 1.3 µs, measured on 2 cores), GOMAXPROCS=$ncpu"
GOMLX_BACKEND=go t 60 "$G/nn.test" -test.run '^$' -test.bench BenchmarkDispatch -test.benchtime 5x 2>&1 | grep -E "^Benchmark|rc="

echo "### 7. host operations of the Mind's Eye loop (pure Go): TV-Bregman denoising of 1, 3 and 10 images of 512² (one image per core) and the 512² mask, on all cores and on one"
for p in $ncpu 1; do
  echo "  GOMAXPROCS=$p"
  GOMAXPROCS=$p t 60 "$G/imageops.test" -test.run '^$' -test.bench 'DenoiseTVBregman|GaussianMask' -test.benchtime 3x 2>&1 | grep -E "^Benchmark|rc="
done

echo "### done in $(($(date +%s) - start)) s"
rm -rf "$W"
