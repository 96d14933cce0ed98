package onnx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/bandcheck"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/npy"
)

// exportedModels are the models testdata/export.py writes, with their
// PyTorch references.
var exportedModels = []string{"resnet18", "googlenet", "mobilenet_v2", "squeezenet1_1",
	"efficientnet_b0", "mobilenet_v3_small", "ops"}

// exportDir is where export.py wrote the models (once per test process;
// TestMain removes it).
var exportDir struct {
	once sync.Once
	dir  string
	err  string
}

// exports runs testdata/export.py for all exportedModels once and returns
// its output directory; without PyTorch the test is skipped (failed under CI).
func exports(t *testing.T) string {
	t.Helper()
	pyref.Require(t)
	exportDir.once.Do(func() {
		dir, err := os.MkdirTemp("", "layervis-onnx-")
		if err != nil {
			exportDir.err = err.Error()
			return
		}
		exportDir.dir = dir
		ok := t.Run("export", func(t *testing.T) {
			args := append([]string{"--pyref", filepath.Dir(pyref.Script("torchref.py")), "--out", dir, "--size", "64"}, exportedModels...)
			pyref.Run(t, filepath.Join("testdata", "export.py"), args...)
		})
		if !ok {
			exportDir.err = "testdata/export.py failed"
		}
	})
	if exportDir.err != "" {
		t.Fatal(exportDir.err)
	}
	return exportDir.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exportDir.dir != "" {
		os.RemoveAll(exportDir.dir)
	}
	os.Exit(code)
}

// manifest is export.py's MODEL.json.
type manifest struct {
	Model  string `json:"model"`
	Opset  int64  `json:"opset"`
	Size   int    `json:"size"`
	Input  string `json:"input"`
	Probes []struct {
		Module string `json:"module"`
		Layer  string `json:"layer"`
		ONNX   string `json:"onnx"`
		File   string `json:"file"`
	} `json:"probes"`
	Grad struct {
		Module string `json:"module"`
		Layer  string `json:"layer"`
		File   string `json:"file"`
	} `json:"grad"`
}

func readManifest(t *testing.T, dir, name string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func readNpy(t *testing.T, path string) *tensors.Tensor {
	t.Helper()
	shape, data, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.FromFlatDataAndDimensions(data, shape...)
}

// relErr returns max|got − want| / max|want| and checks the shapes agree.
func relErr(t *testing.T, what string, got, want *tensors.Tensor) float64 {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Fatalf("%s: shape %s, PyTorch %s", what, got.Shape(), want.Shape())
	}
	g, err := tensors.CopyFlatData[float32](got)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := tensors.CopyFlatData[float32](want)
	return pyref.RelErr(g, w)
}

// TestTorchExports loads torch.onnx.export files of random-weight
// torchvision models (and of the "ops" network) and compares activations at
// several nodes and the input gradient of one node's mean with PyTorch's,
// and the model built in bands with the model built whole.
func TestTorchExports(t *testing.T) {
	dir := exports(t)
	b := backend.MustGet()
	const tol = 1e-4
	for _, name := range exportedModels {
		t.Run(name, func(t *testing.T) {
			man := readManifest(t, dir, name)
			m, err := Load(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			x := readNpy(t, filepath.Join(dir, man.Input))
			var layers []string
			for _, p := range man.Probes {
				if !m.Has(p.Layer) {
					t.Fatalf("no layer %q (PyTorch module %s); closest: %v", p.Layer, p.Module, cnn.Closest(p.Layer, m.Names(), 5))
				}
				if p.ONNX != "" {
					want, _ := m.tensorOf(p.ONNX)
					got, _ := m.tensorOf(p.Layer)
					if want != p.ONNX || got != want {
						t.Errorf("layer %q resolves to %q, want the ONNX output %q", p.Layer, got, p.ONNX)
					}
				}
				layers = append(layers, p.Layer)
			}
			acts, err := cnn.Activations(b, m, x, layers...)
			if err != nil {
				t.Fatal(err)
			}
			if dead := buildDead(t, m, man.Size, man.Size, layers...); len(dead) > 0 {
				t.Errorf("graph of %v has dead nodes %v", layers, dead)
			}
			cat, err := m.Layers(man.Size, man.Size)
			if err != nil {
				t.Fatal(err)
			}
			shapeOf := map[string][]int{}
			for _, l := range cat {
				shapeOf[l.Name] = l.Shape
			}
			for i, p := range man.Probes {
				if tensor, _ := m.tensorOf(p.Layer); !strings.HasSuffix(p.Layer, cnn.InputSuffix) &&
					!slices.Equal(shapeOf[tensor], acts[i].Shape().Dimensions[1:]) {
					t.Errorf("catalogue shape of %s is %v, activation %s", p.Layer, shapeOf[tensor], acts[i].Shape())
				}
				e := relErr(t, p.Layer, acts[i], readNpy(t, filepath.Join(dir, p.File)))
				t.Logf("%-22s %-48s rel err %.2g", p.Module, p.Layer, e)
				if e > tol {
					t.Errorf("layer %s (module %s): relative error %.3g > %g", p.Layer, p.Module, e, tol)
				}
			}
			_, grad, err := cnn.MeanGradient(b, m, x, man.Grad.Layer)
			if err != nil {
				t.Fatal(err)
			}
			e := relErr(t, "gradient", grad, readNpy(t, filepath.Join(dir, man.Grad.File)))
			t.Logf("d mean(%s)/dx rel err %.2g, through %d kept kernel copies", man.Grad.Layer, e, m.copies.Len())
			if backend.IsGo(b) && m.copies.Len() == 0 {
				t.Error("the gradient on the pure-Go backend multiplied by no kept copy of a kernel (nn.SetKeeper)")
			}
			if e > tol {
				t.Errorf("gradient of mean(%s): relative error %.3g > %g", man.Grad.Layer, e, tol)
			}

			// Built in bands of 16 rows or more on 4 cores (4 bands of the
			// torchvision models' 64² inputs), as built whole.
			t.Setenv(cnn.BandRowsEnvVar, "16")
			parts := 1
			if m.Separable(layers...) {
				parts = min(x.Shape().Dim(0), 4)
			}
			var bands []int
			for range parts {
				bands = append(bands, max(1, min(4/parts, x.Shape().Dim(2)/16)))
			}
			bandcheck.Compare(t, probe(m), x, 4, bands, nil, layers...)
		})
	}
}
