#!/usr/bin/env bash
# Per-op time table of the pure-Go backend: where a step's time goes, op by
# op, which CPU profiles blur (every op runs inside the same executor
# function). It runs `go test ARGS...` against a copy of compute (the pinned
# version, from the module cache) with a timer around every executed graph
# node, and prints, per op type (or per op and shapes), the time, calls,
# elements and ns/element, per execution of the compiled step.
#
# Usage: scripts/opprof.sh [-shapes] [-o OUT] ARGS...
#   scripts/opprof.sh -run XXX -bench BenchmarkStep -benchtime 10x ./layervis/torchvision/
#   scripts/opprof.sh -shapes -run XXX -bench BenchmarkRenderStep -benchtime 10x ./layervis/optvis/
# Element counts are deterministic; times vary run to run (compare back to
# back). Warm-up and compile-time executions are included in the averages.
set -euo pipefail
cd "$(dirname "$0")/.."
shapes="" out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -shapes) shapes=1; shift ;;
    -o) out=$2; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: scripts/opprof.sh [-shapes] [-o OUT] go-test-args..." >&2; exit 2; }
export GOEXPERIMENT=simd
ver=$(go list -m -f '{{.Version}}' github.com/gomlx/compute)
src=$(go list -m -f '{{.Dir}}' github.com/gomlx/compute)
tmp=$(mktemp -d /tmp/layervis-opprof.XXXXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/compute" && chmod -R u+w "$tmp/compute"
exe=$tmp/compute/internal/gobackend/executable.go
grep -q '^func (fe \*FunctionExecutable) executeNode(' "$exe" ||
  { echo "opprof: compute $ver has no FunctionExecutable.executeNode to time; update this script" >&2; exit 1; }
# After the opening line of each function (its signature may span lines):
# time every node, count the executions.
awk '
  /^func \(fe \*FunctionExecutable\) executeNode\(/ { want = "\tif opProfOut != \"\" {\n\t\tdefer opProfRecord(node, opProfNow())\n\t}" }
  /^func \(fe \*FunctionExecutable\) Execute\(/ { want = "\topProfExecutions.Add(1)\n\tdefer opProfFlush()" }
  { print }
  want != "" && /\{$/ { print want; want = "" }
' "$exe" > "$exe.new" && mv "$exe.new" "$exe"
cat > "$tmp/compute/internal/gobackend/opprof.go" <<'GO'
package gobackend

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

var (
	opProfOut        = os.Getenv("LAYERVIS_OPPROF")
	opProfShapes     = os.Getenv("LAYERVIS_OPPROF_SHAPES") != ""
	opProfExecutions atomic.Int64
	opProfMu         sync.Mutex
	opProfTable      = map[string]*[3]float64{}
)

func opProfNow() time.Time { return time.Now() }

func opProfRecord(node *Node, t0 time.Time) {
	d := time.Since(t0).Seconds()
	key := node.OpType.String()
	if opProfShapes {
		key = fmt.Sprintf("%s %v", key, node.Shape.Dimensions)
		for i, in := range node.Inputs {
			if i == 2 {
				break
			}
			key += fmt.Sprintf(" <-%v", in.Shape.Dimensions)
		}
	}
	opProfMu.Lock()
	defer opProfMu.Unlock()
	e := opProfTable[key]
	if e == nil {
		e = new([3]float64)
		opProfTable[key] = e
	}
	e[0] += d
	e[1]++
	e[2] += float64(node.Shape.Size())
}

// opProfFlush rewrites the table after each execution.
func opProfFlush() {
	opProfMu.Lock()
	defer opProfMu.Unlock()
	opProfWrite()
}

func opProfWrite() {
	n := float64(max(opProfExecutions.Load(), 1))
	keys := make([]string, 0, len(opProfTable))
	for k := range opProfTable {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return opProfTable[keys[i]][0] > opProfTable[keys[j]][0] })
	f, err := os.Create(opProfOut)
	if err != nil {
		return
	}
	defer f.Close()
	var total float64
	for _, e := range opProfTable {
		total += e[0]
	}
	fmt.Fprintf(f, "per execution (%d executions), %.1f ms of ops\n%-64s %9s %7s %12s %8s\n", int(n), total/n*1000, "op", "ms", "calls", "elements", "ns/elem")
	for _, k := range keys {
		e := opProfTable[k]
		fmt.Fprintf(f, "%-64s %9.2f %7.1f %12.0f %8.2f\n", k, e[0]/n*1000, e[1]/n, e[2]/n, e[0]*1e9/max(e[2], 1))
	}
}
GO
out=${out:-$tmp/table.txt}
cat > "$tmp/go.work" <<W
go $(go env GOVERSION | sed 's/^go//')

use $(pwd)

replace github.com/gomlx/compute $ver => $tmp/compute
W
GOWORK=$tmp/go.work LAYERVIS_OPPROF=$out LAYERVIS_OPPROF_SHAPES=$shapes go test "$@"
if [[ -f $out ]]; then head -45 "$out"; else echo "opprof: no pure-Go executions recorded (GOMLX_BACKEND not go?)" >&2; exit 1; fi
