package outdir

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	weights := filepath.Join(root, "w", "model.pth")
	write(t, filepath.Join(in, "a.png"), "x")
	write(t, weights, "x")
	write(t, filepath.Join(root, "foreign", "thesis.tex"), "x")
	write(t, filepath.Join(root, "file.txt"), "x")
	write(t, filepath.Join(root, "prev", Report), `{"tool": "t"}`)
	write(t, filepath.Join(root, "other", Report), `{"tool": "u"}`)
	os.Mkdir(filepath.Join(root, "empty"), 0o755)
	if err := os.Symlink(in, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	inputs := []Input{{in, "input folder"}, {weights, "input file"}}
	cases := []struct {
		out       string
		overwrite bool
		want      string // error substring; "" for none
		previous  bool
	}{
		{"new", false, "", false},
		{"empty", false, "", false},
		{"prev", false, "", true},
		{"in", true, "is an input folder", false},
		{"in/./", true, "is an input folder", false},
		{"link", true, "is an input folder", false},
		{".", true, "contains the input folder", false},
		{"w", true, "contains the input file", false},
		{"w/model.pth", true, "is an input file", false},
		{"file.txt", true, "not a folder", false},
		{"foreign", false, "holds no previous t report.json", false},
		{"other", false, "not empty", false},
		{"foreign", true, "", false},
		{"in/out", false, "", false},
	}
	for _, tc := range cases {
		d, err := Check(filepath.Join(root, tc.out), "t", tc.overwrite, inputs...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tc.out, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.out, err, tc.want)
		case err == nil && d.Previous != tc.previous:
			t.Errorf("%s: Previous %v, want %v", tc.out, d.Previous, tc.previous)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check created the folder: %v", err)
	}
}

// TestPrepare checks that a previous output loses exactly the files the
// tool writes (and the folders that leaves empty) and keeps the user's.
func TestPrepare(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	keep := []string{"mine.txt", "facet_01/notes.txt", "facet_x/iteration_0001.png", "sub/report.json"}
	gone := []string{Report, "tsne.png", "facet_02/iteration_0000.png", "facet_01/iteration_0300.png"}
	for _, f := range append(append([]string{}, keep...), gone...) {
		write(t, filepath.Join(out, f), `{"tool": "t"}`)
	}
	outside := filepath.Join(root, "outside")
	write(t, filepath.Join(outside, "iteration_0000.png"), "x")
	if err := os.Symlink(outside, filepath.Join(out, "facet_03")); err != nil {
		t.Fatal(err)
	}
	d, err := Check(out, "t", false)
	if err != nil || !d.Previous {
		t.Fatalf("Check: %+v, %v; want a previous output", d, err)
	}
	stale := regexp.MustCompile(`^(report\.json|tsne\.png|facet_\d{2,}/iteration_\d{4,}\.png)$`)
	if err := d.Prepare(stale); err != nil {
		t.Fatal(err)
	}
	for _, f := range keep {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("user file %s removed: %v", f, err)
		}
	}
	for _, f := range append(gone, "facet_02") {
		if _, err := os.Stat(filepath.Join(out, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale %s still there: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "iteration_0000.png")); err != nil {
		t.Errorf("Prepare followed a link out of the folder: %v", err)
	}
	if _, err := d.Sub("facet_03"); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("Sub on a link: %v, want a refusal", err)
	}
	if p, err := d.Sub("facet_04"); err != nil || p != filepath.Join(d.Path, "facet_04") {
		t.Errorf("Sub: %q, %v", p, err)
	}
	// A new folder is created and nothing else happens.
	n, err := Check(filepath.Join(root, "new", "deep"), "t", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Prepare(stale); err != nil {
		t.Fatal(err)
	}
	if err := n.WriteReport(map[string]string{"tool": "t"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(n.Path, Report))
	var r struct{ Tool string }
	if err != nil || json.Unmarshal(data, &r) != nil || r.Tool != "t" {
		t.Errorf("report: %s, %v", data, err)
	}
	if again, err := Check(n.Path, "t", false); err != nil || !again.Previous {
		t.Errorf("a folder with the tool's report is not a previous output: %+v, %v", again, err)
	}
}
