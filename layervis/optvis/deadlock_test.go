package optvis

import (
	"os"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

// TestNoDeadlock runs, on the pure-Go configurations layervis offers (the
// default, ops_dynamic, and ops_parallel, which layervis gives an unbounded
// worker pool, and ops_sequential, one op at a time), a graph of the shape
// that deadlocks compute v0.1.6's pure-Go backend with its own bounded
// pool: several large float32 matrix products that can run in parallel (the
// per-channel products of a Fourier parameterization), forward and
// backward, repeatedly, under a timeout.
func TestNoDeadlock(t *testing.T) {
	configs := []string{backend.Default, "go:ops_parallel", "go:ops_sequential"}
	start := backend.New
	if c := os.Getenv("LAYERVIS_DEADLOCK_CONFIG"); c != "" {
		// compute's own configuration, started by compute as it is, e.g.
		// "go:ops_parallel,parallelism=4" to see the deadlock this test
		// guards against (backend.New refuses a bounded pool).
		configs, start = []string{c}, compute.NewWithConfig
	}
	for _, cfg := range configs {
		b, err := start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- parallelMatmuls(b, 4) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("backend %q (%s): parallel matrix products did not finish in a minute (deadlock)", cfg, backend.Describe(b))
		}
		b.Finalize()
	}
}

// parallelMatmuls runs n times a graph with six independent 256×256
// matrix products of [4, 256, 256] operands and their gradients.
func parallelMatmuls(b compute.Backend, n int) error {
	const k = 256
	exec, err := NewExec(b, func(x *Node) *Node {
		var total *Node
		for i := range 6 {
			y := Einsum("bij,bjk->bik", x, MulScalar(x, float64(i+1)))
			y = Einsum("bij,bjk->bik", Tanh(y), x)
			s := ReduceAllSum(Square(y))
			if total == nil {
				total = s
			} else {
				total = Add(total, s)
			}
		}
		return Gradient(total, x)[0]
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	data := make([]float32, 4*k*k)
	for i := range data {
		data[i] = float32(i%97) / 970
	}
	x := tensors.FromFlatDataAndDimensions(data, 4, k, k)
	for range n {
		out, err := exec.Exec(x)
		if err != nil {
			return err
		}
		out[0].FinalizeAll()
	}
	return nil
}
