package optvis

import (
	"context"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/torchvision"
)

// deadChannel is the stem ReLU channel of deadModel that no initial image
// turns on.
const deadChannel = 5

// deadModel returns a random ResNet-18 whose stem channel deadChannel has
// its batch-norm shift lowered by k, so that it is zero on a render's
// initial (nearly flat) image.
func deadModel(t *testing.T, k float32) cnn.Model {
	t.Helper()
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Store().GetVariable("/bn1.shift")
	if v == nil {
		t.Fatal("no variable /bn1.shift in the random ResNet-18")
	}
	shift := tensors.MustCopyFlatData[float32](v.MustValue())
	shift[deadChannel] -= k
	v.MustSetValue(tensors.FromFlatDataAndDimensions(shift, len(shift)))
	return m
}

// TestRedirectReLUWakesDeadChannel renders a channel that is zero on the
// initial image: with the default redirected ReLU gradients (the first
// RedirectSteps steps) it starts and rises; without them its gradient is
// zero and it stays exactly zero.
func TestRedirectReLUWakesDeadChannel(t *testing.T) {
	m := deadModel(t, 0.1)
	for _, redirect := range []bool{false, true} {
		var values []float64
		var redirected []int
		r := Render(context.Background(), backend.MustGet(), m, Channel("relu", deadChannel)).
			Size(32).Steps(24).Transforms(Jitter(2)).Progress(func(e Event) {
			if e.Stage == StageOptimize {
				values = append(values, e.Value)
				if e.Redirected {
					redirected = append(redirected, e.Step)
				}
			}
		})
		if !redirect {
			r = r.RedirectReLU(0)
		}
		res, err := r.Done()
		if err != nil {
			t.Fatal(err)
		}
		final := res.Final().Value
		t.Logf("redirect %v: activation per step %.3g, final %.4g", redirect, values, final)
		if values[0] != 0 {
			t.Fatalf("the channel is %g at the first step; the test needs it dead", values[0])
		}
		if !redirect {
			if slices.ContainsFunc(values, func(v float64) bool { return v != 0 }) || final != 0 || len(redirected) > 0 {
				t.Errorf("without redirection the dead channel moved (final %g) or steps were redirected (%v)", final, redirected)
			}
			continue
		}
		if want := seq(1, RedirectSteps); !slices.Equal(redirected, want) {
			t.Errorf("redirected steps %v, want %v", redirected, want)
		}
		if !(final > 0.01) {
			t.Errorf("with redirection the channel reached %g, want it woken (> 0.01)", final)
		}
	}
}

// TestRedirectReLUExactWhenLive checks that where the true gradient flows
// (a channel live from the start, as every channel is once woken) the
// redirected steps take exactly the true gradient: the same values and
// images as a render without redirection.
func TestRedirectReLUExactWhenLive(t *testing.T) {
	var runs [2]struct {
		values []float64
		res    *Result
	}
	for i, n := range []int{0, 8} {
		res, err := Render(context.Background(), backend.MustGet(), tiny(t), Channel("layer1.0", 5)).
			Size(32).Steps(8).Transforms(Jitter(2)).RedirectReLU(n).Progress(func(e Event) {
			if e.Stage == StageOptimize {
				runs[i].values = append(runs[i].values, e.Value)
			}
		}).Done()
		if err != nil {
			t.Fatal(err)
		}
		runs[i].res = res
	}
	if !slices.Equal(runs[0].values, runs[1].values) {
		t.Errorf("values per step: %v without redirection, %v with", runs[0].values, runs[1].values)
	}
	if !slices.Equal(runs[0].res.Final().Images[0].Pix, runs[1].res.Final().Images[0].Pix) {
		t.Error("the final images differ")
	}
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}
