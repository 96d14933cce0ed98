package optvis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/torchvision"
)

var tinyModel = sync.OnceValues(func() (cnn.Model, error) { return torchvision.Random("resnet18", 1) })

func tiny(t *testing.T) cnn.Model {
	t.Helper()
	m, err := tinyModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRenderRaisesChannel renders a channel of a random ResNet-18 with each
// parameterization and checks that the channel's activation on the
// untransformed image rises well above its value after the first step.
func TestRenderRaisesChannel(t *testing.T) {
	m := tiny(t)
	for _, c := range []struct {
		name     string
		p        Param
		ts       []Transform
		nesterov bool
		lr       float64
	}{
		{"fourier+standard", FourierParam(), Standard(), false, 0},
		{"pixel+jitter", PixelParam(), []Transform{Jitter(2)}, false, 0},
		{"fourier-clip+boxcrop+noise", Param{Kind: Fourier, Decay: 1, SD: 0.01, Decorrelate: true, Map: MapClip},
			[]Transform{BoxCrop(0.6, 0.9, 2), Noise(0.02)}, false, 0},
		{"pixel-clip+nesterov", Param{Kind: Pixel, SD: 0.01, Decorrelate: true, Map: MapClip}, []Transform{Jitter(2)}, true, 0.5},
	} {
		t.Run(c.name, func(t *testing.T) {
			var events int
			r := Render(context.Background(), backend.MustGet(), m, Channel("layer1.0", 5)).
				Size(32).Steps(24).Snapshots(1).Param(c.p).Transforms(c.ts...).Seed(3).LR(0.05).
				Progress(func(e Event) { events++ })
			if c.nesterov {
				r = r.Nesterov(0.9).LR(c.lr)
			}
			res, err := r.Done()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Snapshots) != 2 || res.Snapshots[0].Step != 1 || res.Final().Step != 24 {
				t.Fatalf("snapshots at %v, want steps 1 and 24", res.Snapshots)
			}
			first, last := res.Snapshots[0].Value, res.Final().Value
			t.Logf("%s: activation %.4f after step 1, %.4f after 24", c.name, first, last)
			if !(last > first+0.1 && last > 2*first) {
				t.Errorf("activation went from %.4f to %.4f; it should rise clearly", first, last)
			}
			if events != 25 || res.Steps != 24 {
				t.Errorf("%d events, %d steps; want 25 (compile + 24) and 24", events, res.Steps)
			}
			img := res.Final().Images[0]
			if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
				t.Errorf("image is %v, want 32x32", b)
			}
		})
	}
}

// TestRenderCancelKeepsImages cancels a render during its fourth step and
// checks that the images made so far come back.
func TestRenderCancelKeepsImages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Render(ctx, backend.MustGet(), tiny(t), Channel("layer1.0", 5)).Size(32).Steps(50).
		Transforms(Jitter(2)).Progress(func(e Event) {
		if e.Step == 4 {
			cancel()
		}
	}).Done()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || !res.Interrupted || res.Steps != 4 {
		t.Fatalf("result %+v: want interrupted after 4 steps", res)
	}
	if s := res.Final(); s == nil || s.Step != 4 || len(s.Images) != 1 {
		t.Fatalf("final snapshot %+v: want the images of step 4", s)
	}
}

// TestRenderErrors checks that bad settings are refused with errors that
// name the problem.
func TestRenderErrors(t *testing.T) {
	m := tiny(t)
	ctx := context.Background()
	b := backend.MustGet()
	for _, c := range []struct {
		name string
		r    *Renderer
		want string
	}{
		{"no backend", Render(ctx, nil, m, Channel("layer1", 0)), "no backend"},
		{"unknown layer", Render(ctx, b, m, Channel("layer9", 0)), "closest"},
		{"no objective", Render(ctx, b, m, Objective{}), "no objective"},
		{"empty sum", Render(ctx, b, m, Sum()), "no objective"},
		{"zero term", Render(ctx, b, m, Sum(Channel("layer1", 0), Objective{})), "zero Objective"},
		{"small size", Render(ctx, b, m, Channel("layer1", 0)).Size(16), "minimum"},
		{"steps", Render(ctx, b, m, Channel("layer1", 0)).Steps(0), "at least one step"},
		{"snapshot", Render(ctx, b, m, Channel("layer1", 0)).Steps(4).Snapshots(9), "outside 1..4"},
		{"transform", Render(ctx, b, m, Channel("layer1", 0)).Transforms(BoxCrop(0.5, 2, 1)), "boxcrop"},
		{"lr", Render(ctx, b, m, Channel("layer1", 0)).LR(-1), "learning rate"},
		{"momentum", Render(ctx, b, m, Channel("layer1", 0)).Nesterov(1), "momentum"},
		{"channel", Render(ctx, b, m, Channel("layer1", 9999)).Size(32).Steps(1), "out of range"},
	} {
		_, err := c.r.Done()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
