package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
)

func TestCatalogue(t *testing.T) {
	cases := []struct {
		model string
		size  int
		want  []string
		not   []string
	}{
		{"resnet50", 224, []string{"random weights", "backend:", "layer4.2.conv3 ", "Conv2d", "2048 7 7", "fc ",
			"normalized with mean [0.485 0.456 0.406] std [0.229 0.224 0.225]",
			"mindseye: target layer4, penalty layer4.2.conv3:in"}, nil},
	}
	if _, err := assets.DemoModel(); err == nil {
		cases = append(cases, struct {
			model string
			size  int
			want  []string
			not   []string
		}{"demo", 128, []string{"RGB in [0 255], no mean/std normalization, 128x128 (default 512, min 32, a multiple of 32)",
			"mindseye: target tower_0/extern1/hard_swish/mul_1"}, []string{"mean []", "std []"}})
	} else {
		t.Logf("no demo model (%v): its catalogue is not checked", err)
	}
	for _, tc := range cases {
		var out strings.Builder
		if err := run(&out, tc.model, "", tc.size); err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: catalogue lacks %q", tc.model, want)
			}
		}
		for _, not := range tc.not {
			if strings.Contains(out.String(), not) {
				t.Errorf("%s: catalogue shows %q", tc.model, not)
			}
		}
		// The default layers are marked in the table, each once.
		for _, mark := range []string{`\starget$`, `\spenalty: its input$`} {
			if n := len(regexp.MustCompile(`(?m)`+mark).FindAllString(out.String(), -1)); n != 1 {
				t.Errorf("%s: %d rows marked %q, want 1", tc.model, n, mark)
			}
		}
	}
	if err := run(&strings.Builder{}, "resnet50", "", 8); err == nil {
		t.Error("no error for a too-small input")
	}
}
