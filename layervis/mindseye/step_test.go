package mindseye

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/npy"
	"github.com/layervis/layervis/layervis/torchvision"
)

// stepInputs are random inputs of the compiled step: K images of 8-bit
// values, positive targets, n channels per facet and a mask in [0,1].
type stepInputs struct {
	k, size, c int
	pixels     []float32
	target     []float32
	sets       [][]int
	mask       []float32
}

func randomStepInputs(k, size, c, n int, seed uint64) *stepInputs {
	rng := rand.New(rand.NewPCG(seed, 1))
	in := &stepInputs{k: k, size: size, c: c,
		pixels: make([]float32, k*size*size*3), target: make([]float32, k*c), mask: make([]float32, size*size)}
	for i := range in.pixels {
		in.pixels[i] = float32(rng.IntN(256))
	}
	for i := range in.target {
		in.target[i] = float32(rng.Float64())
	}
	for i := range in.mask {
		in.mask[i] = float32(rng.Float64())
	}
	for range k {
		s := rng.Perm(c)[:n]
		slices.Sort(s)
		in.sets = append(in.sets, s)
	}
	return in
}

// TestStepMatchesPyTorch runs the compiled step of both presets (and
// persistent momentum over two steps) on a random-weight ResNet-18 and
// compares the loss terms, the input gradient and the quantized images with
// a PyTorch implementation of the reference's step (testdata/step_ref.py).
func TestStepMatchesPyTorch(t *testing.T) {
	pyref.Require(t)
	dir := t.TempDir()
	pyref.Run(t, pyref.Script("torchref.py"), "checkpoint", "--arch", "resnet18", "--seed", "1", "--out", dir)
	m, err := torchvision.Load("resnet18", filepath.Join(dir, "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	b := backend.MustGet()
	const k, size, c, n = 3, 64, 512, 8
	in := randomStepInputs(k, size, c, n, 3)
	persistentClean := Clean()
	persistentClean.Quirks.FreshOptimizer = false
	cases := []struct {
		name  string
		cfg   Config
		steps int
	}{
		{"compat", Compat(), 1},
		{"clean", Clean(), 1},
		{"clean-momentum", persistentClean, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Model = m
			cfg.Backend = backend.MustGet()
			cfg.Target, cfg.Penalty = m.DefaultLayers()
			lrs, lambdas := []float64{100, 60}, []float64{1e-4, 3e-3} // large steps: many levels, so a wrong update shows
			d := filepath.Join(dir, tc.name)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, v := range map[string]struct {
				shape []int
				data  []float32
			}{
				"pixels.npy": {[]int{k, size, size, 3}, in.pixels},
				"target.npy": {[]int{k, c}, in.target},
				"mask.npy":   {[]int{size, size}, in.mask},
			} {
				if err := npy.Write(filepath.Join(d, name), v.shape, v.data); err != nil {
					t.Fatal(err)
				}
			}
			mi := m.Input()
			meta, _ := json.Marshal(map[string]any{
				"channels": in.sets, "preset": cfg.Preset, "bgr": cfg.Quirks.BGR, "momentum": cfg.Momentum,
				"persistent": !cfg.Quirks.FreshOptimizer, "lr": lrs, "lambda": lambdas,
				"target": cfg.Target, "penalty": cfg.Penalty, "mean": mi.Mean, "std": mi.Std,
			})
			if err := os.WriteFile(filepath.Join(d, "meta.json"), meta, 0o644); err != nil {
				t.Fatal(err)
			}
			pyref.Run(t, "testdata/step_ref.py", "step", "--arch", "resnet18", "--weights", filepath.Join(dir, "model.pth"),
				"--dir", d, "--steps", strconv.Itoa(tc.steps))
			var want [][4]float64
			data, err := os.ReadFile(filepath.Join(d, "terms.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}

			spec := specFor(&cfg, k)
			spec.withGrad = true
			h := &host{k: k, size: size, cur: slices.Clone(in.pixels)}
			weights := channelWeights(in.sets, c, cfg.Quirks.CoupledChannels)
			st, err := newStepper(b, spec, h, in.target, weights, c, k)
			if err != nil {
				t.Fatal(err)
			}
			defer st.finalize()
			pixels := in.pixels
			for s := range tc.steps {
				res, err := st.step(in.mask, lrs[s], lambdas[s], 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.syncHost(); err != nil {
					t.Fatal(err)
				}
				got := [4]float64{res.terms.Activation, res.terms.Distance, res.terms.L1, res.terms.Total}
				worstTerm := 0.0
				for i, name := range []string{"activation", "distance", "L1", "total"} {
					e := math.Abs(got[i]-want[s][i]) / math.Abs(want[s][i])
					worstTerm = math.Max(worstTerm, e)
					if e > 1e-4 {
						t.Errorf("step %d: %s term %.7g, PyTorch %.7g (relative error %.2g)", s+1, name, got[i], want[s][i], e)
					}
				}
				_, wantGrad, err := npy.Read(filepath.Join(d, "grad_"+strconv.Itoa(s)+".npy"))
				if err != nil {
					t.Fatal(err)
				}
				gradErr := pyref.RelErr(res.grad, wantGrad)
				if gradErr > 1e-4 {
					t.Errorf("step %d: input gradient relative error %.3g > 1e-4", s+1, gradErr)
				}
				_, wantPix, err := npy.Read(filepath.Join(d, "pixels_out_"+strconv.Itoa(s)+".npy"))
				if err != nil {
					t.Fatal(err)
				}
				diff, changed := 0, 0
				for i, v := range wantPix {
					if h.cur[i] != v {
						diff++
						if math.Abs(float64(h.cur[i]-v)) > 1 {
							t.Fatalf("step %d: pixel %d is %v, PyTorch %v", s+1, i, h.cur[i], v)
						}
					}
					if v != pixels[i] {
						changed++
					}
				}
				if diff > len(wantPix)/1000 {
					t.Errorf("step %d: %d of %d quantized values differ from PyTorch's by one level", s+1, diff, len(wantPix))
				}
				if changed == 0 {
					t.Fatalf("step %d changed no pixel: the test would not see a wrong update", s+1)
				}
				t.Logf("step %d: terms %.6g (worst relative error %.2g), gradient relative error %.2g, %d/%d quantized values one level off",
					s+1, got, worstTerm, gradErr, diff, len(wantPix))
				pixels = wantPix // both sides continue from the same images
				copy(h.cur, wantPix)
				st.hostChanged()
			}
		})
	}
}

// TestQuantizationRoundTrip checks that 8-bit pixel values survive the
// in-graph step-space mapping and quantization unchanged (a zero step
// changes nothing), for the ImageNet input convention, a 0–255 one and a
// BGR one; that the network gets cnn.Input.Normalize of the pixels; and
// that the BGR switch reverses the channels it sees.
func TestQuantizationRoundTrip(t *testing.T) {
	b := backend.MustGet()
	px := make([]float32, 256*3)
	for i := range px {
		px[i] = float32((i*7 + i/3) % 256)
	}
	inputs := []cnn.Input{
		cnn.ImageNet(),
		{Channels: 3, Order: "RGB", Range: [2]float32{0, 255}},
		{Channels: 3, Order: "BGR", Range: [2]float32{-1, 1}, Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 0.6, 0.7}},
	}
	for _, in := range inputs {
		for _, swap := range []bool{false, true} {
			s := &netSpec{in: in, swap: swap}
			out, err := ExecOnceN(b, func(p *Node) []*Node {
				z := s.toStep(p)
				return []*Node{s.toModel(z), s.toPixels(z)}
			}, tensors.FromFlatDataAndDimensions(px, 1, 16, 16, 3))
			if err != nil {
				t.Fatal(err)
			}
			x := tensors.MustCopyFlatData[float32](out[0])
			back := tensors.MustCopyFlatData[float32](out[1])
			if !slices.Equal(back, px) {
				t.Errorf("input %+v swap=%v: round trip changed the pixels", in, swap)
			}
			// Pixel 0's channel c as the network sees it (NCHW, plane c).
			for c := range 3 {
				src := c
				if swap {
					src = 2 - c
				}
				want := in.Normalize(px[src]/255, c)
				if got := x[c*256]; math.Abs(float64(got-want)) > 1e-5*math.Max(1, math.Abs(float64(want))) {
					t.Errorf("input %+v swap=%v: network channel %d = %v, want %v", in, swap, c, got, want)
				}
			}
		}
	}
}

// TestMaskedStep checks that the gradient mask gates the update: where the
// mask is 0 the pixels keep their values although the gradient is not 0
// there, where it is 1 they change.
func TestMaskedStep(t *testing.T) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	const k, size, c = 2, 32, 512
	cfg := Clean()
	cfg.Model = m
	cfg.Backend = backend.MustGet()
	cfg.Target, cfg.Penalty = m.DefaultLayers()
	in := randomStepInputs(k, size, c, 8, 5)
	for i := range in.mask {
		in.mask[i] = float32(i % size / (size / 2)) // 0 on the left half, 1 on the right
	}
	spec := specFor(&cfg, k)
	spec.withGrad = true
	h := &host{k: k, size: size, cur: slices.Clone(in.pixels)}
	st, err := newStepper(backend.MustGet(), spec, h, in.target, channelWeights(in.sets, c, false), c, k)
	if err != nil {
		t.Fatal(err)
	}
	defer st.finalize()
	res, err := st.step(in.mask, 100, 1e-4, 0, 0)
	if err == nil {
		err = st.syncHost()
	}
	if err != nil {
		t.Fatal(err)
	}
	var leftGrad float64
	leftChanged, rightChanged := 0, 0
	for b := range k {
		for p := range size * size {
			for ch := range 3 {
				i := (b*size*size+p)*3 + ch
				g := math.Abs(float64(res.grad[(b*3+ch)*size*size+p]))
				if in.mask[p] == 0 {
					leftGrad += g
					if h.cur[i] != in.pixels[i] {
						leftChanged++
					}
				} else if h.cur[i] != in.pixels[i] {
					rightChanged++
				}
			}
		}
	}
	if leftGrad == 0 {
		t.Fatal("zero gradient under the mask's zeros: the test shows nothing")
	}
	if leftChanged != 0 || rightChanged == 0 {
		t.Errorf("%d values changed where the mask is 0 (want 0), %d where it is 1 (want some)", leftChanged, rightChanged)
	}
}
