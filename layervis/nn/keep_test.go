package nn

import (
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
)

// TestCopies checks that Copies makes each layout of a weight once, for
// all the graphs that ask (concurrently built ones included), with the
// values fill gives, and returns an error naming the weight and the
// layout for dimensions that hold nothing.
func TestCopies(t *testing.T) {
	b := backend.MustGet()
	store := model.NewStore()
	data := []float32{1, 2, 3, 4, 5, 6}
	w, err := store.CreateVariable("/conv.weight", tensors.FromFlatDataAndDimensions(data, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	var copies Copies
	fills := 0
	var mu sync.Mutex
	run := func(layout string, dims []int) ([]float32, error) {
		exec, err := model.NewExec(b, store, func(_ *model.Scope, x *Node) *Node {
			keep := copies.Keeper(x.Graph(), w)
			c := keep(layout, dims, func(w, dst []float32) {
				mu.Lock()
				fills++
				mu.Unlock()
				transposeFill(2, 3)(w, dst)
			})
			return Add(c, x)
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		out, err := exec.Exec(tensors.FromScalar(float32(0)))
		if err != nil {
			return nil, err
		}
		return tensors.MustCopyFlatData[float32](out[0]), nil
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := run(transposedLayout, []int{3, 2})
			if err != nil {
				t.Error(err)
				return
			}
			if want := []float32{1, 4, 2, 5, 3, 6}; !slices.Equal(got, want) {
				t.Errorf("transposed copy %v, want %v", got, want)
			}
		})
	}
	wg.Wait()
	if fills != 1 || copies.Len() != 1 {
		t.Errorf("4 graphs made %d copies (%d fills), want 1", copies.Len(), fills)
	}
	if _, err := run("other", []int{6}); err != nil || copies.Len() != 2 {
		t.Errorf("a second layout: %v, %d copies, want 2", err, copies.Len())
	}
	_, err = run("wrong", []int{0, 2})
	if err == nil || !strings.Contains(err.Error(), `"/conv.weight" in layout wrong`) {
		t.Errorf("a copy with a zero dimension: error %v, want one naming the weight and layout", err)
	}
}
