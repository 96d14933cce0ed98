package pyref

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// debPackages maps Python modules to the Debian packages that provide them.
var debPackages = map[string]string{
	"torch": "python3-torch", "torchvision": "python3-torchvision", "numpy": "python3-numpy",
	"cv2": "python3-opencv", "skimage": "python3-skimage", "sklearn": "python3-sklearn",
	"scipy": "python3-scipy", "PIL": "python3-pil",
}

var probes sync.Map // sorted module list → error (nil if importable)

// RequireModules returns the path of /usr/bin/python3 if it can import all
// the named modules. Otherwise it skips the test with a message naming the
// Debian packages to install, or, when the environment variable CI is
// non-empty, fails it: CI must run every comparison test (.ci/run installs
// the packages through scripts/deps.sh).
func RequireModules(t testing.TB, modules ...string) string {
	t.Helper()
	key := slices.Clone(modules)
	slices.Sort(key)
	v, ok := probes.Load(strings.Join(key, ","))
	if !ok {
		v = probeModules(key)
		probes.Store(strings.Join(key, ","), v)
	}
	if err, _ := v.(error); err != nil {
		unavailable(t, err, key)
		return ""
	}
	return PythonPath
}

// unavailable skips t, or fails it under CI, because the modules cannot be
// imported (err), naming the Debian packages that provide them.
func unavailable(t testing.TB, err error, modules []string) {
	t.Helper()
	var pkgs []string
	for _, m := range modules {
		if p, ok := debPackages[m]; ok {
			pkgs = append(pkgs, p)
		}
	}
	msg := fmt.Sprintf("Python reference unavailable (apt-get install %s, or scripts/deps.sh): %v", strings.Join(pkgs, " "), err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s\nCI must run the reference comparison tests; .ci/run installs them", msg)
		return
	}
	t.Skip(msg)
}

func probeModules(modules []string) error {
	if _, err := os.Stat(PythonPath); err != nil {
		return fmt.Errorf("%s not found: %v", PythonPath, err)
	}
	cmd := exec.Command(PythonPath, "-c", "import "+strings.Join(modules, ", "))
	cmd.Env = pythonEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s cannot import %s: %v\n%s", PythonPath, strings.Join(modules, ", "), err, lastLines(string(out), 5))
	}
	return nil
}
