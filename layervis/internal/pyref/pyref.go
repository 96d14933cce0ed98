// Package pyref helps tests compare layervis against PyTorch: it finds
// Debian's python3 with torch and torchvision (packages python3-torch and
// python3-torchvision) and runs the reference scripts shipped beside this
// file, such as torchref.py.
//
// Tests that need PyTorch call [Require] first: without a usable PyTorch the
// test is skipped, except under CI (the CI environment variable set to a
// non-empty value), where it fails, because CI must run these tests
// (.ci/run installs python3-torch and python3-torchvision).
package pyref

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// PythonPath is the interpreter used: Debian's, where apt installs torch.
const PythonPath = "/usr/bin/python3"

// Require returns the path of /usr/bin/python3 if it can import torch and
// torchvision. Otherwise it skips the test with a message saying what is
// missing, or, when the environment variable CI is non-empty, fails it:
// CI must run these tests (.ci/run installs python3-torch and
// python3-torchvision through scripts/deps.sh).
func Require(t testing.TB) string {
	t.Helper()
	return RequireModules(t, "torch", "torchvision")
}

// Run runs python (as found by [Require], skipping or failing the test the
// same way when it is missing) on the script file with the given arguments,
// with OMP_NUM_THREADS=2, OMP_WAIT_POLICY=PASSIVE and PYTHONHASHSEED=0 in
// its environment. It fails the test, showing stderr, if the script fails,
// and returns the script's standard output.
func Run(t testing.TB, script string, args ...string) string {
	t.Helper()
	return RunModules(t, []string{"torch", "torchvision"}, script, args...)
}

// RunModules is [Run] for a script that needs the given Python modules
// (checked with [RequireModules]) rather than PyTorch.
func RunModules(t testing.TB, modules []string, script string, args ...string) string {
	t.Helper()
	py := RequireModules(t, modules...)
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.Env = pythonEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python %s %s: %v\nstderr:\n%s", filepath.Base(script), strings.Join(args, " "), err, lastLines(stderr.String(), 40))
	}
	return stdout.String()
}

// JSON runs `python script op in.json out.json` (see [RunModules]) with in
// encoded as in.json, and decodes out.json into out: the calling convention
// of the reference scripts in the packages' testdata folders.
func JSON(t testing.TB, modules []string, script, op string, in, out any) {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	RunModules(t, modules, script, op, src, dst)
	if b, err = os.ReadFile(dst); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s output: %v", filepath.Base(script), op, err)
	}
}

// pythonEnv is the environment of the python processes: the test's, with
// thread settings that suit a small shared machine and hashing made
// deterministic.
func pythonEnv() []string {
	env := os.Environ()
	set := map[string]string{"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONHASHSEED": "0"}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// Script returns the absolute path of a script shipped in
// layervis/internal/pyref/ (e.g. "torchref.py").
func Script(name string) string {
	return filepath.Join(dir(), name)
}

// dir finds this package's source directory: from the compiled-in file
// name, or (for builds with -trimpath) by walking up from the working
// directory to the module root.
func dir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(d, "torchref.py")); err == nil {
			return d
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("layervis", "internal", "pyref")
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "layervis", "internal", "pyref")
		if _, err := os.Stat(filepath.Join(cand, "torchref.py")); err == nil {
			return cand
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return filepath.Join(wd, "layervis", "internal", "pyref")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// RelErr is the error measure of every reference comparison:
// max|got − want| / max|want| (or max|got − want| when want is all zeros).
// got and want must have the same length.
func RelErr(got, want []float32) float64 {
	var diff, ref float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-float64(want[i])))
		ref = math.Max(ref, math.Abs(float64(want[i])))
	}
	if ref == 0 {
		return diff
	}
	return diff / ref
}
