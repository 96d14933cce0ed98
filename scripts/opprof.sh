#!/usr/bin/env bash
# Per-op time table of the pure-Go backend: where a step's time goes, op by
# op, which CPU profiles blur (every op runs inside the same executor
# function). It runs `go test ARGS...` against a copy of compute (the pinned
# version, from the module cache) with a timer around every executed graph
# node, and prints, per op type (or per op and shapes), the time, calls,
# elements and ns/element, per execution of the compiled step.
#
# With -span it asks how the step would run on more cores than this machine
# has: every execution runs its ops one at a time on one core (GOMAXPROCS 1
# while it runs, whatever the graph was built for), each op timed, and it
# prints the graph's work, its span (critical path, products split on every
# core) and the time of a greedy schedule of those costs on 1–32 cores:
# without overheads, with compute's executor dispatching ops one at a time
# (1.3 µs each on 2 cores: nn's BenchmarkDispatch), and with a 10 µs
# handoff from an op to the next as well, which
# puts the 2-core step 4–14% short of the measured one. Products are split
# between cores as compute splits them. Build the graph for N cores with
# GOMAXPROCS=N (and LAYERVIS_BAND_ROWS for other bands).
#
# Usage: scripts/opprof.sh [-shapes|-span] [-o OUT] ARGS...
#   scripts/opprof.sh -run XXX -bench BenchmarkStep -benchtime 10x ./layervis/torchvision/
#   scripts/opprof.sh -shapes -run XXX -bench BenchmarkRenderStep -benchtime 10x ./layervis/optvis/
#   GOMAXPROCS=16 LAYERVIS_BAND_ROWS=16 scripts/opprof.sh -span -run XXX -bench 'BenchmarkStep$' -benchtime 5x ./layervis/torchvision/
# Element counts are deterministic; times vary run to run (compare back to
# back). Warm-up and compile-time executions are included in the averages
# (-span leaves the first out).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes="" out="" span=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -shapes) shapes=1; shift ;;
    -span) span=1; shift ;;
    -o) out=$2; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: scripts/opprof.sh [-shapes|-span] [-o OUT] go-test-args..." >&2; exit 2; }
export GOEXPERIMENT=simd
ver=$(go list -m -f '{{.Version}}' github.com/gomlx/compute)
src=$(go list -m -f '{{.Dir}}' github.com/gomlx/compute)
tmp=$(mktemp -d /tmp/layervis-opprof.XXXXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/compute" && chmod -R u+w "$tmp/compute"
exe=$tmp/compute/internal/gobackend/executable.go
grep -q '^func (fe \*FunctionExecutable) executeNode(' "$exe" && grep -q 'executionMode := backend.OpsExecutionType$' "$exe" ||
  { echo "opprof: compute $ver has no FunctionExecutable.executeNode to time or no executionMode to set; update this script" >&2; exit 1; }
# After the opening line of each function (its signature may span lines):
# time every node, count the executions.
awk '
  /^func \(fe \*FunctionExecutable\) executeNode\(/ { want = "\tif opProfOut != \"\" {\n\t\tdefer opProfRecord(node, opProfNow())\n\t}" }
  /^func \(fe \*FunctionExecutable\) Execute\(/ { want = "\topProfExecutions.Add(1)\n\tdefer opProfFlush()\n\tdefer opSpanBegin()()" }
  { print }
  /executionMode := backend.OpsExecutionType$/ { print "\tif opSpan {\n\t\texecutionMode = OpsExecutionSequential\n\t}" }
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
	if opSpan {
		opSpanRecord(node, t0)
		return
	}
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
	if opSpan {
		opSpanWrite()
		return
	}
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
cat > "$tmp/compute/internal/gobackend/opspan.go" <<'GO'
package gobackend

import (
	"container/heap"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"
)

// Span mode (scripts/opprof.sh -span): every execution runs its nodes one
// at a time on one core (GOMAXPROCS 1 while it runs), each node timed,
// and the flush writes the work, the span and a list schedule of the
// graph on P cores from those costs.
var (
	opSpan      = os.Getenv("LAYERVIS_OPPROF_SPAN") != ""
	opSpanMu    sync.Mutex
	opSpanNodes = map[int]*spanNode{}
	opSpanRuns  int
	opSpanProcs int
)

// spanNode is an executed node: its op, inputs (node indices: per
// function, so a graph with closures, such as While's, mixes them up) and
// one-core cost.
type spanNode struct {
	op     string
	rows   int // a product's output rows (its last axis is its columns)
	cols   int
	inputs []int
	cost   float64 // seconds, summed over executions
	calls  int
}

// opSpanBegin makes the execution sequential on one core; the returned
// function restores GOMAXPROCS.
func opSpanBegin() func() {
	if !opSpan {
		return func() {}
	}
	opSpanMu.Lock()
	opSpanRuns++
	opSpanMu.Unlock()
	prev := runtime.GOMAXPROCS(1)
	if opSpanProcs == 0 {
		opSpanProcs = prev
	}
	return func() { runtime.GOMAXPROCS(prev) }
}

func opSpanRecord(node *Node, t0 time.Time) {
	d := time.Since(t0).Seconds()
	opSpanMu.Lock()
	defer opSpanMu.Unlock()
	if opSpanRuns < 2 { // the first execution warms buffers up
		return
	}
	n := opSpanNodes[node.Index]
	if n == nil {
		n = &spanNode{op: node.OpType.String()}
		for _, in := range node.Inputs {
			n.inputs = append(n.inputs, in.Index)
		}
		if r := node.Shape.Rank(); node.OpType.String() == "DotGeneral" && r > 0 {
			n.cols = node.Shape.Dimensions[r-1]
			n.rows = node.Shape.Size() / max(n.cols, 1)
		}
		opSpanNodes[node.Index] = n
	}
	n.cost += d
	n.calls++
}

// dotTime returns the fraction of a product's one-core time it takes on k
// workers, split as compute v0.1.6 splits it (feedWorkItems): by rows in
// blocks of 24 where it has more rows than columns, else by columns in
// blocks of 512; its items go to the least loaded worker.
func dotTime(rows, cols, k int) float64 {
	if k <= 1 || rows == 0 || cols == 0 {
		return 1
	}
	n, block := rows, 24
	if rows <= cols {
		n, block = cols, 512
	}
	split := max(1, (n+k-1)/k/block) * block
	loads := make([]int, k)
	for i := 0; i < n; i += split {
		sort.Ints(loads)
		loads[0] += min(split, n-i)
	}
	sort.Ints(loads)
	return float64(loads[k-1]) / float64(n)
}

// schedule returns the makespan of the greedy list schedule on p cores,
// nodes taken in the order they become ready: each ready delay after its
// last input, then started by one dispatcher, dispatch seconds per node,
// one node at a time (compute's executor); a product takes the cores free
// when it starts (up to p).
func schedule(nodes map[int]*spanNode, p int, dispatch, delay float64) float64 {
	deps := map[int]int{}
	dependents := map[int][]int{}
	for i, n := range nodes {
		for _, in := range n.inputs {
			if _, ok := nodes[in]; ok {
				deps[i]++
				dependents[in] = append(dependents[in], i)
			}
		}
	}
	ready := &readyHeap{}
	readyAt := map[int]float64{}
	for i := range nodes {
		if deps[i] == 0 {
			heap.Push(ready, readyItem{0, i})
		}
	}
	free := make([]float64, p)
	var end, dispatcher float64
	for ready.Len() > 0 {
		it := heap.Pop(ready).(readyItem)
		n := nodes[it.idx]
		cost := n.cost / float64(n.calls)
		dispatcher = max(it.at, dispatcher) + dispatch
		sort.Float64s(free)
		start := max(dispatcher, free[0])
		k := 1
		if n.op == "DotGeneral" {
			for k < p && free[k] <= start {
				k++
			}
			cost *= dotTime(n.rows, n.cols, k)
		}
		finish := start + cost
		for j := range k {
			free[j] = finish
		}
		end = max(end, finish)
		for _, d := range dependents[it.idx] {
			readyAt[d] = max(readyAt[d], finish+delay)
			if deps[d]--; deps[d] == 0 {
				heap.Push(ready, readyItem{readyAt[d], d})
			}
		}
	}
	return end
}

// criticalPath returns the span of the nodes: their longest chain of
// costs, each product split as on unbounded cores (1,024). A node's inputs
// come before it (lower indices).
func criticalPath(nodes map[int]*spanNode) float64 {
	finish := map[int]float64{}
	var end float64
	for _, i := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[i]
		var start float64
		for _, in := range n.inputs {
			start = max(start, finish[in])
		}
		cost := n.cost / float64(n.calls)
		if n.op == "DotGeneral" {
			cost *= dotTime(n.rows, n.cols, 1<<10)
		}
		finish[i] = start + cost
		end = max(end, finish[i])
	}
	return end
}

type readyItem struct {
	at  float64
	idx int
}
type readyHeap []readyItem

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].idx < h[j].idx
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(readyItem)) }
func (h *readyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// opSpanWrite writes the analysis to opProfOut.
func opSpanWrite() {
	opSpanMu.Lock()
	defer opSpanMu.Unlock()
	if len(opSpanNodes) == 0 {
		return
	}
	var work, dots float64
	for _, n := range opSpanNodes {
		c := n.cost / float64(n.calls)
		work += c
		if n.op == "DotGeneral" {
			dots += c
		}
	}
	f, err := os.Create(opProfOut)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "span: graph built for GOMAXPROCS=%d, %d nodes executed, timed one at a time on one core (%d executions)\n",
		opSpanProcs, len(opSpanNodes), opSpanRuns-1)
	fmt.Fprintf(f, "work %.1f ms (products %.1f), span %.1f ms (products split on all cores)\n",
		work*1e3, dots*1e3, criticalPath(opSpanNodes)*1e3)
	fmt.Fprintf(f, "schedule (ms) with a serial dispatch cost per op (compute's executor: 1.3 µs on 2 cores, nn's BenchmarkDispatch) and a handoff delay\n")
	fmt.Fprintf(f, "%6s %10s %10s %16s %16s\n", "cores", "work/cores", "no costs", "1.3µs dispatch", "+10µs handoff")
	for _, p := range []int{1, 2, 4, 8, 16, 32} {
		fmt.Fprintf(f, "%6d %10.1f %10.1f %16.1f %16.1f\n", p, work/float64(p)*1e3, schedule(opSpanNodes, p, 0, 0)*1e3,
			schedule(opSpanNodes, p, 1.3e-6, 0)*1e3, schedule(opSpanNodes, p, 1.3e-6, 10e-6)*1e3)
	}
}
GO
out=${out:-$tmp/table.txt}
cat > "$tmp/go.work" <<W
go $(go env GOVERSION | sed 's/^go//')

use $(pwd)

replace github.com/gomlx/compute $ver => $tmp/compute
W
GOWORK=$tmp/go.work LAYERVIS_OPPROF=$out LAYERVIS_OPPROF_SHAPES=$shapes LAYERVIS_OPPROF_SPAN=$span go test "$@"
if [[ -f $out ]]; then head -45 "$out"; else echo "opprof: no pure-Go executions recorded (GOMLX_BACKEND not go?)" >&2; exit 1; fi
