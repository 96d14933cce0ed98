package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestBarNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := Bar{W: &buf}
	b.Status(3, 10, "working")
	b.Line("snapshot %d", 2)
	b.Clear()
	if got := buf.String(); got != "snapshot 2\n" {
		t.Errorf("output to a non-terminal %q, want only the line", got)
	}
}

func TestETA(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		rate        float64
		want        string
	}{{10, 70, 2, "30s"}, {0, 7200, 1, "2h0m0s"}, {5, 5, 0, "0s"}} {
		if got := ETA(tc.done, tc.total, tc.rate); got != tc.want {
			t.Errorf("ETA(%d, %d, %g) = %s, want %s", tc.done, tc.total, tc.rate, got, tc.want)
		}
	}
}

func TestOpenModelNamed(t *testing.T) {
	var stderr bytes.Buffer
	m, info, err := OpenModel("resnet18", "", nil, &stderr)
	if err != nil || m.Name() != "resnet18" || !info.Random || !strings.Contains(stderr.String(), "RANDOM weights") {
		t.Errorf("OpenModel(resnet18): %v, %+v, %v; stderr %q", m, info, err, stderr.String())
	}
	if _, _, err := OpenModel("resnet19", "", nil, &stderr); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("OpenModel(resnet19): %v, want unknown model", err)
	}
}

func TestOpenModelWeightsNeedModel(t *testing.T) {
	var stderr bytes.Buffer
	_, _, err := OpenModel("", "resnet50.pth", nil, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-weights resnet50.pth needs -model") {
		t.Errorf("OpenModel with -weights and no -model: %v, want an error naming -model", err)
	}
}
