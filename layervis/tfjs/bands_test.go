package tfjs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/bandcheck"
)

// TestDemoBands checks the demo model (MobileNetV3: depthwise and strided
// convolutions, squeeze-excite means over the rows, hard swish) built in
// bands against the model built whole.
func TestDemoBands(t *testing.T) {
	m := requireDemo(t)
	for _, tc := range []struct {
		cores, size, batch int
		bands              []int
		rows               string
	}{
		{2, 256, 1, []int{2}, ""},
		{4, 96, 2, []int{2, 2}, "32"},
		{3, 160, 1, []int{3}, "48"}, // 53, 53 and 54 rows: odd rows at every stride
		{2, 224, 1, []int{1}, ""},   // fewer than 128 rows per band
	} {
		t.Run(fmt.Sprintf("%dcores/%d²×%d", tc.cores, tc.size, tc.batch), func(t *testing.T) {
			if tc.rows != "" {
				t.Setenv(cnn.BandRowsEnvVar, tc.rows)
			}
			x := demoBatch(t, m, tc.size, []string{"dog.jpg", "cat.jpg"}[:tc.batch]...)
			bandcheck.Compare(t, probe(m), x, tc.cores, tc.bands, nil, "tower_0/MobilenetV3/expanded_conv_2/add", demoPenalty, demoTarget)
		})
	}
}

// TestOpsBands checks every supported op built in bands (odd splits,
// batches of 1 and 2, strided windows, pads, reductions along the rows and
// the ops that take their input whole) against the model built whole.
func TestOpsBands(t *testing.T) {
	path, layers := opsModel(t, rand.New(rand.NewPCG(1, 2)))
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(cnn.BandRowsEnvVar, "2")

	// Which ops run in bands (at least 2: a window op gives none to a band
	// none of whose rows it writes): all but these, which take their input
	// whole (resizes, average pools, AddN, matrix products, shapes), reduce
	// along the rows (means, maxima), or follow such an op.
	whole := []string{"up", "up_half", "up_align", "up_legacy", "up_nn", "up_nn_half", "avgpool", "addn",
		"se_mean", "se_sig", "gap", "matmul", "matmul_t", "fmatmul", "softmax", "max", "reshape", "transpose",
		"gap4", "squeeze", "expand", "identity"}
	g := NewGraph(backend.MustGet(), "bands")
	defer g.Finalize()
	model.SetStore(g, m.Store())
	b := m.newBuilder(Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 8, 8)), 3)
	for _, l := range layers {
		bs := b.bandsOf(m.g.index[l])
		if want := !slices.Contains(whole, l); (bs != nil) != want || want && len(bs) < 2 {
			t.Errorf("%s (%s): %d bands, want them %v", l, m.g.nodes[m.g.index[l]].op, len(bs), want)
		}
	}
	for _, tc := range []struct {
		cores, batch int
		bands        []int
	}{{3, 1, []int{3}}, {4, 2, []int{4}}} { // not separable (matmul, reshape): one part
		t.Run(fmt.Sprintf("%dcores/×%d", tc.cores, tc.batch), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			x := make([]float32, tc.batch*8*8*3)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			bandcheck.Compare(t, probe(m), nhwcToNCHW(x, tc.batch, 8, 8, 3), tc.cores, tc.bands, []string{"rsqrt"}, layers...)
		})
	}
}

// TestChainBands checks a chain of ops in bands whose splits change on the
// way (a pad that makes the first and last bands taller, a VALID strided
// convolution after it, a depthwise convolution, a concatenation along the
// channels and a residual add of two banded values) against the chain
// built whole, on 2 and 3 cores.
func TestChainBands(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	var s synth
	s.placeholder("x", 1, 15, 9, 3)
	s.constI("pads", []int{4, 2}, 0, 0, 2, 1, 1, 1, 0, 0)
	s.node("pad", "Pad", []string{"x", "pads"}, nil)
	s.constF("w1", "float32", []int{3, 3, 3, 4}, r(108))
	s.constF("b1", "float32", []int{4}, r(4))
	s.node("c1", "_FusedConv2D", []string{"pad", "w1", "b1"}, convAttr(2, "VALID", "BiasAdd", "Relu6"))
	s.constF("wd", "float32", []int{5, 5, 4, 1}, r(100))
	s.constF("bd", "float32", []int{4}, r(4))
	s.node("d1", "FusedDepthwiseConv2dNative", []string{"c1", "wd", "bd"}, convAttr(1, "SAME", "BiasAdd", "Relu"))
	s.constI("axis3", nil, 3)
	s.node("cat", "ConcatV2", []string{"c1", "d1", "axis3"}, map[string]any{"N": aI(2)})
	s.constF("w2", "float32", []int{1, 1, 8, 4}, r(32))
	s.node("c2", "Conv2D", []string{"cat", "w2"}, convAttr(1, "VALID"))
	s.node("res", "AddV2", []string{"c2", "c1"}, nil)
	m, err := Load(s.write(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(cnn.BandRowsEnvVar, "4")
	x := nhwcToNCHW(r(15*9*3), 1, 15, 9, 3)
	for _, cores := range []int{2, 3} {
		t.Run(fmt.Sprintf("%dcores", cores), func(t *testing.T) {
			g := NewGraph(backend.MustGet(), "bands")
			defer g.Finalize()
			model.SetStore(g, m.Store())
			b := m.newBuilder(Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 15, 9)), cores)
			if bs := b.bandsOf(m.g.index["res"]); len(bs) != cores {
				t.Errorf("res in %d bands, want %d", len(bs), cores)
			}
			bandcheck.Compare(t, probe(m), x, cores, []int{cores}, nil, "pad", "c1", "d1", "cat", "res")
		})
	}
}

// probe returns a bandcheck.Probe of m.
func probe(m *Model) *bandcheck.Probe {
	return bandcheck.NewProbe(m, m.bandCount)
}
