package zoo

import (
	"os"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
)

func TestOpenBuiltin(t *testing.T) {
	m, info, err := Open("resnet34", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "resnet34" || !info.Random || !strings.Contains(info.Source, "random") {
		t.Errorf("Open(resnet34) = %s, %+v; want random weights, said so", m.Name(), info)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ name, weights, want string }{
		{"resnet35", "", "resnet34"},
		{"resnet18", "/nonexistent/r18.pth", "r18.pth"},
	} {
		if _, _, err := Open(tc.name, tc.weights); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %q) error = %v, want it to mention %q", tc.name, tc.weights, err, tc.want)
		}
	}
}

// requireAssets skips the test without the demo assets (fails it under CI).
func requireAssets(t *testing.T) {
	t.Helper()
	if _, err := assets.DemoModel(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have the demo assets: %v", err)
		}
		t.Skip(err)
	}
}

func TestOpenDemo(t *testing.T) {
	requireAssets(t)
	m, info, err := Open("demo", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Input().Range != [2]float32{0, 255} || !strings.Contains(info.Source, "detector") || info.Random {
		t.Errorf("demo: input %+v, info %+v", m.Input(), info)
	}
	if _, _, err := Open("demo", "x.pth"); err == nil || !strings.Contains(err.Error(), "own weights") {
		t.Errorf("demo with -weights: %v", err)
	}
}
