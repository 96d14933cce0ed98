package checkpoint

import (
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

// TestAgainstPyTorch has torch write checkpoints at test time
// (testdata/make_cases.py full): a torchvision resnet18 with randomized BN
// saved as zip and legacy .pth and as safetensors, tensors with strides,
// storage offsets, shared and expanded storages and every dtype, wrapped
// training checkpoints with "module." prefixes and nn.Parameters. Go must
// read every tensor with the same name, shape, dtype and float32 value bits
// as torch's tensor.float().
func TestAgainstPyTorch(t *testing.T) {
	pyref.Require(t)
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	pyref.Run(t, filepath.Join(filepath.Dir(file), "testdata", "make_cases.py"), "full", "--out", dir)

	cases := []string{
		"resnet18", "resnet18_legacy", "resnet18_st",
		"odd", "odd_legacy", "odd_st", "odd_p4", "odd_legacy_p4",
		"wrapped", "wrapped_legacy", "wrapped_model", "wrapped_model_state_dict", "wrapped_state_dict_ema",
		"parameter",
	}
	loaded := map[string]*Checkpoint{}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) { loaded[c] = checkCase(t, dir, c) })
	}
	if ck := loaded["resnet18"]; ck != nil {
		if len(ck.Names) != 122 || ck.Names[0] != "conv1.weight" || ck.Names[len(ck.Names)-1] != "fc.bias" {
			t.Errorf("resnet18: %d names from %s to %s", len(ck.Names), ck.Names[0], ck.Names[len(ck.Names)-1])
		}
		if w := ck.Tensors["layer4.1.conv2.weight"]; w == nil || !reflect.DeepEqual(w.Shape, []int{512, 512, 3, 3}) {
			t.Errorf("layer4.1.conv2.weight: %+v", w)
		}
	}
	if ck := loaded["wrapped"]; ck != nil {
		for _, n := range ck.Names {
			if strings.HasPrefix(n, "module.") {
				t.Errorf("prefix not stripped: %s", n)
			}
		}
	}
	// The three encodings of resnet18 hold identical tensors.
	z, l, s := loaded["resnet18"], loaded["resnet18_legacy"], loaded["resnet18_st"]
	if z != nil && l != nil && s != nil {
		for _, n := range z.Names {
			if !reflect.DeepEqual(z.Tensors[n].Data, l.Tensors[n].Data) || !reflect.DeepEqual(z.Tensors[n].Data, s.Tensors[n].Data) {
				t.Errorf("%s differs between formats", n)
			}
		}
	}
}
