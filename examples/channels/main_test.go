package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/layervis/layervis/examples/internal/cli"
	"github.com/layervis/layervis/examples/internal/clitest"
	"github.com/layervis/layervis/layervis/outdir"
)

// base are the settings of the tiny runs: a random-weight ResNet-18's
// first stage at 32².
func base(t *testing.T) []string {
	in := t.TempDir()
	clitest.Ramps(t, in, 3)
	return []string{"-model", "resnet18", "-layer", "layer1", "-size", "32", "-steps", "4", "-save-every", "2", "-photos", in}
}

func TestRun(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		files    []string
		units    int
		channels []int
		photos   bool
		initSD   float64
	}{
		{"channel", []string{"-channels", "5,0"}, []string{"channel_0005.png", "channel_0000.png"}, 2, []int{5, 0}, true, 0.01},
		{"neuron pixel", []string{"-channels", "2", "-objective", "neuron", "-param", "pixel", "-transforms", "none", "-init-sd", "0.2", "-redirect-relu", "2"},
			[]string{"channel_0002.png"}, 1, []int{2}, true, 0.2},
		{"diversity maco", []string{"-channels", "1-2", "-objective", "diversity", "-batch", "2", "-param", "maco"},
			[]string{"channel_0001.png", "channel_0001_1.png", "channel_0002.png", "channel_0002_1.png"}, 2, []int{1, 2}, true, 1},
		{"direction", []string{"-channels", "1,7", "-objective", "direction", "-batch", "2"},
			[]string{"direction.png", "direction_1.png"}, 1, []int{1, 7}, false, 0.01},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var stdout, stderr bytes.Buffer
			o, err := parseFlags(append(append(base(t), "-out", out), tc.args...), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), o, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			for _, f := range append(tc.files, "grid.png") {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
			if !strings.Contains(stdout.String(), tc.files[0]) || !strings.Contains(stderr.String(), "RANDOM weights") {
				t.Errorf("output does not name %s or the random weights:\n%s\n%s", tc.files[0], stdout.String(), stderr.String())
			}
			r := clitest.Report[Report](t, out)
			if r.Tool != Tool || r.Status != outdir.StatusComplete || r.Steps != 4 || !reflect.DeepEqual(r.Snapshots, []int{2, 4}) ||
				!reflect.DeepEqual(r.Settings.Channels, tc.channels) || len(r.Units) != tc.units || r.Backend == "" {
				t.Fatalf("report: %+v", r)
			}
			if !strings.HasPrefix(r.Settings.Param, o.param) || r.Settings.InitSD != tc.initSD || r.Settings.RedirectReLU != o.redirect {
				t.Errorf("report param %q, init SD %g, redirect-relu %d; flags %q, want init SD %g, redirect-relu %d",
					r.Settings.Param, r.Settings.InitSD, r.Settings.RedirectReLU, o.param, tc.initSD, o.redirect)
			}
			for _, u := range r.Units {
				if len(u.Objective) != 2 || u.HFShare <= 0 || u.HFShare >= 1 || (tc.photos && (r.Photos == nil || r.Photos.Files != 3 || u.PhotosBest == "")) {
					t.Errorf("unit %+v (photos %+v)", u, r.Photos)
				}
			}
			if u := r.Units[0]; tc.name == "channel" && (u.Channel != 5 || u.Files[0] != "channel_0005.png" ||
				u.Objective[1] <= u.Objective[0] || u.Activation <= 0) {
				t.Errorf("channel 5 did not gain: %+v", u)
			}
		})
	}
}

// TestRunErrors checks that bad input is refused with an error naming the
// problem, before anything is written.
func TestRunErrors(t *testing.T) {
	root := t.TempDir()
	foreign := filepath.Join(root, "foreign")
	os.Mkdir(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("x"), 0o644)
	weights := filepath.Join(root, "w", "r18.pth")
	os.MkdirAll(filepath.Dir(weights), 0o755)
	os.WriteFile(weights, []byte("x"), 0o644)
	out := filepath.Join(root, "out")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-layer", "layer5"}, "closest: layer"},
		{[]string{"-channels", "3,64"}, "channel 64 is out of range: layer layer1 has 64 channels, 0–63"},
		{[]string{"-channels", "3,x"}, `"x" is not a channel number`},
		{[]string{"-channels", "9-2"}, `"9-2" is not a channel number or a range`},
		{[]string{"-batch", "3"}, "-batch applies to -objective diversity and direction"},
		{[]string{"-objective", "diversity", "-batch", "1"}, "give -batch 2 or more"},
		{[]string{"-size", "0"}, "-size 0"},
		{[]string{"-steps", "0"}, "-steps 0"},
		{[]string{"-lr", "-1"}, "-lr -1"},
		{[]string{"-init-sd", "-1"}, "-init-sd -1"},
		{[]string{"-redirect-relu", "-1"}, "-redirect-relu -1"},
		{[]string{"-model", "resnet19"}, "unknown model"},
		{[]string{"-out", foreign}, "not empty"},
		{[]string{"-out", filepath.Dir(weights), "-model", "resnet18", "-weights", weights}, "contains the input file"},
		{[]string{"-photos", filepath.Join(root, "nope")}, "-photos"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		o, err := parseFlags(append(append(base(t), "-out", out), tc.args...), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		err = run(context.Background(), o, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run created %s", out)
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("a refused run wrote into %s: %v", foreign, entries)
	}
}

// TestFlagErrors checks that a bad flag value names the flag and the
// valid values.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"-param", "fft"}}, {[]string{"-transforms", "lucid"}}, {[]string{"-objective", "layer"}},
	} {
		var stderr bytes.Buffer
		_, err := parseFlags(tc.args, &stderr)
		flagName := tc.args[0]
		if err == nil || !strings.Contains(err.Error(), flagName) || !strings.Contains(err.Error(), "is not one of") {
			t.Errorf("%v: %v, want an error naming %s and the valid values", tc.args, err, flagName)
		}
	}
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-param", "pix"}, &stderr); err == nil || !strings.Contains(err.Error(), "fourier, pixel, maco") {
		t.Errorf("-param pix: %v", err)
	}
	if _, err := parseFlags([]string{"extra"}, &stderr); err == nil || !strings.Contains(err.Error(), "unexpected argument") {
		t.Errorf("positional argument: %v", err)
	}
	if _, err := parseFlags([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "channel_NNNN.png") {
		t.Errorf("-help: %v\n%s", err, stderr.String())
	}
}

func TestParseChannels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"3,17,40", []int{3, 17, 40}, true},
		{"0-3", []int{0, 1, 2, 3}, true},
		{" 5 , 1-2, 5", []int{5, 1, 2}, true},
		{"", nil, false},
		{"1,,2", nil, false},
		{"-1", nil, false},
		{"50", nil, false},
	} {
		got, err := parseChannels(tc.in, 50, "l")
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseChannels(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// cancelOn is a writer that cancels a context when a line containing s
// has been written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	s      string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.s) {
		w.cancel()
	}
	return n, err
}

// TestInterrupt stops a run after its first snapshot (as Ctrl-C does) and
// checks that it keeps the images, says so, and that a second run into the
// same folder replaces the previous output's files and keeps the user's.
func TestInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	args := append(base(t), "-out", out, "-channels", "0-2", "-steps", "50", "-save-every", "1")
	o, err := parseFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOn{s: "images saved", cancel: cancel}
	var stdout bytes.Buffer
	if err := run(ctx, o, &stdout, stderr); !errors.Is(err, cli.ErrInterrupted) {
		t.Fatalf("run: %v, want cli.ErrInterrupted\n%s", err, stderr.buf.String())
	}
	r := clitest.Report[Report](t, out)
	if r.Status != outdir.StatusInterrupted || r.Steps < 1 || r.Steps >= 50 || !strings.Contains(stdout.String(), "interrupted after") {
		t.Errorf("report status %q after %d steps; stdout:\n%s", r.Status, r.Steps, stdout.String())
	}
	for _, f := range []string{"channel_0000.png", "channel_0002.png", "grid.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	os.WriteFile(filepath.Join(out, "mine.txt"), []byte("x"), 0o644)
	o, err = parseFlags(append(base(t), "-out", out, "-channels", "1", "-steps", "1"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), o, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("second run into a previous output: %v", err)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"channel_0001.png", "grid.png", "mine.txt", "report.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("after a second run: %v, want %v", names, want)
	}
}
