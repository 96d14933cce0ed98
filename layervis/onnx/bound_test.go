package onnx

import (
	"strings"
	"testing"
	"time"
)

// TestLoadBounded loads models whose attributes ask for huge windows or
// group counts, as a fuzzed file can (FuzzLoad once stalled on such an
// input): each is refused quickly with an error naming the attribute.
func TestLoadBounded(t *testing.T) {
	cases := []struct {
		name  string
		model func() *testGraph
		want  string
	}{
		{"huge pooling window", func() *testGraph {
			g := newTestGraph(1, 3, 4096, 4096)
			g.op("MaxPool", []string{"x"}, aInts("kernel_shape", 3000, 3000), aInts("pads", 1500, 1500, 1500, 1500))
			return g
		}, "window 3000x3000"},
		{"huge average window", func() *testGraph {
			g := newTestGraph(1, 3, 64, 64)
			g.op("AveragePool", []string{"x"}, aInts("kernel_shape", 2000, 2000), aInts("pads", 1000, 1000, 1000, 1000))
			return g
		}, "window 2000x2000"},
		{"huge group count", func() *testGraph {
			g := newTestGraph(1, 3, 8, 8)
			g.op("Conv", []string{"x", g.w(3, 1, 3, 3)}, aInt("group", 1<<40))
			return g
		}, "group"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Load(tc.model().file(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want an error containing %q", err, tc.want)
			}
			t.Logf("%s: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}
