package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layervis/layervis/examples/internal/cli"
	"github.com/layervis/layervis/examples/internal/clitest"
)

// testPhoto writes a small colour PNG and returns its path.
func testPhoto(t *testing.T, dir string) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 48, 40))
	for y := range 40 {
		for x := range 48 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 5), uint8(y * 6), uint8((x * y) % 255), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "photo.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hugePNG writes a PNG whose header claims 100000×100000 pixels.
func hugePNG(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type).
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	path := filepath.Join(dir, "huge.png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func base(img, out string) []string {
	return []string{"-model", "resnet18", "-image", img, "-layer", "layer2.0", "-channel", "5",
		"-keep", "layer1.0", "-size", "32", "-steps", "6", "-snapshot-every", "3", "-lr", "0.1", "-seed", "2", "-quiet", "-out", out}
}

func runArgs(ctx context.Context, t *testing.T, args []string) (string, error) {
	t.Helper()
	var stderr, stdout bytes.Buffer
	o, err := parseFlags(args, &stderr)
	if err != nil {
		return stderr.String(), err
	}
	err = run(ctx, o, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// TestRun accentuates a channel of a random ResNet-18 and checks the
// outputs: the images at the model's input size, the snapshots, and a
// report whose activations and gain agree.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	img := testPhoto(t, dir)
	out := filepath.Join(dir, "out")
	text, err := runArgs(context.Background(), t, base(img, out))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, text)
	}
	for _, f := range []string{"accentuated.png", "photo.png", "snapshots/step_0003.png", "snapshots/step_0006.png"} {
		fh, err := os.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(fh)
		fh.Close()
		if err != nil || cfg.Width != 32 || cfg.Height != 32 {
			t.Errorf("%s: %dx%d, %v; want a 32x32 PNG", f, cfg.Width, cfg.Height, err)
		}
	}
	rep := *clitest.Report[Report](t, out)
	t.Logf("activation %.4f → %.4f (%.2f×), correlation %.3f, balance %.3g", rep.ActivationPhoto, rep.ActivationFinal, rep.Gain, rep.Correlation, rep.Balance)
	if rep.Tool != tool || rep.StepsDone != 6 || rep.Interrupted || len(rep.Snapshots) != 2 || rep.Keep != "layer1.0" || rep.Alpha != defaultAlpha {
		t.Errorf("report: %+v", rep)
	}
	if !(rep.ActivationFinal > rep.ActivationPhoto) || rep.Gain != rep.ActivationFinal/rep.ActivationPhoto || rep.Increase != rep.ActivationFinal-rep.ActivationPhoto {
		t.Errorf("activation %.4f → %.4f, gain %.4f: the channel should rise", rep.ActivationPhoto, rep.ActivationFinal, rep.Gain)
	}
	if !(rep.Correlation > 0.5 && rep.Correlation <= 1) {
		t.Errorf("grey correlation %.3f: the result should still be the photo", rep.Correlation)
	}
	if !strings.Contains(text, "accentuated.png") {
		t.Errorf("the output does not name accentuated.png:\n%s", text)
	}
	// A second run over the previous output replaces it.
	if text, err := runArgs(context.Background(), t, append(base(img, out), "-snapshot-every", "0", "-keep", "pixels")); err != nil {
		t.Fatalf("second run: %v\n%s", err, text)
	}
	if _, err := os.Stat(filepath.Join(out, "snapshots", "step_0003.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the previous run's snapshot is still there (%v)", err)
	}
}

// TestInterrupt cancels the run before it starts: the command returns
// cli.ErrInterrupted (exit 130) and keeps what it made.
func TestInterrupt(t *testing.T) {
	dir := t.TempDir()
	img := testPhoto(t, dir)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	text, err := runArgs(ctx, t, base(img, out))
	if !errors.Is(err, cli.ErrInterrupted) {
		t.Fatalf("error %v, want cli.ErrInterrupted\n%s", err, text)
	}
	for _, f := range []string{"accentuated.png", "photo.png", "report.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(text, "interrupted") {
		t.Errorf("no word of the interruption:\n%s", text)
	}
}

// TestBadInput checks that bad input gets a clear error naming the
// problem, and that no output folder is written.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	img := testPhoto(t, dir)
	text := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(text, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	huge := hugePNG(t, dir)
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "mine.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := func(args []string, flag, v string) []string {
		out := append([]string(nil), args...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = v
				return out
			}
		}
		return append(out, flag, v)
	}
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown layer", set(base(img, out), "-layer", "layer2.O"), "layer2.0"},
		{"channel out of range", set(base(img, out), "-channel", "128"), "has 128 channels"},
		{"unknown keep layer", set(base(img, out), "-keep", "layer1.9"), "-keep"},
		{"missing photo", set(base(img, out), "-image", filepath.Join(dir, "none.jpg")), "none.jpg"},
		{"unreadable photo", set(base(img, out), "-image", text), "notes.png"},
		{"too large photo", set(base(img, out), "-image", huge), "100000"},
		{"non-empty out", set(base(img, out), "-out", full), "not empty"},
		{"out holds the photo", set(base(img, out), "-out", dir), "contains the input image"},
		{"no channel", []string{"-image", img, "-layer", "layer2.0"}, "-channel"},
		{"no photo", []string{"-layer", "layer2.0", "-channel", "1"}, "-image"},
		{"bad alpha", set(base(img, out), "-alpha", "-2"), "-alpha"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text, err := runArgs(context.Background(), t, c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q\n%s", err, c.want, text)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the output folder was created (%v)", err)
			}
			if data, _ := os.ReadFile(filepath.Join(full, "mine.txt")); string(data) != "keep me" {
				t.Error("a user file was changed")
			}
		})
	}
}
