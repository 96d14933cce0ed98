package zoo

import (
	"strings"
	"testing"
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
