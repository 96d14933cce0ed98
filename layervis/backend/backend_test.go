package backend

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDefaultIsPureGo(t *testing.T) {
	t.Setenv(EnvVar, "")
	if got := Config(); got != "go" {
		t.Fatalf("Config() with %s unset = %q, want \"go\"", EnvVar, got)
	}
	b, err := New(Config())
	if err != nil {
		t.Fatal(err)
	}
	if !IsGo(b) {
		t.Errorf("default backend is %q, want the pure-Go backend", b.String())
	}
	if d := Describe(b); !strings.Contains(d, "SIMD") {
		t.Errorf("Describe = %q, want it to say whether SIMD is on", d)
	}
}

func TestBadConfigs(t *testing.T) {
	dir := t.TempDir()
	notPlugin := filepath.Join(dir, "not_a_plugin.so")
	if err := os.WriteFile(notPlugin, []byte("this is not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		config string
		want   []string // substrings of the error
	}{
		{"tpu", []string{`unknown backend "tpu"`, "xla:/abs/path"}},
		{"xla", []string{"name a PJRT plugin", "never downloads"}},
		{"xla:" + filepath.Join(dir, "missing.so"), []string{"not found", "missing.so"}},
		{"xla:relative/plugin.so", []string{"must be absolute"}},
		{"xla:" + dir, []string{"is a directory"}},
	}
	if xlaCompiledIn {
		cases = append(cases, struct {
			config string
			want   []string
		}{"xla:" + notPlugin, []string{"failed to start", "not_a_plugin.so"}})
	}
	for _, tc := range cases {
		t.Run(tc.config, func(t *testing.T) {
			b, err := New(tc.config)
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tc.config, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%q) error %q does not mention %q", tc.config, err, w)
				}
			}
		})
	}
}

func TestPrecisionSetting(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want Precision
	}{{"", Fast}, {"fast", Fast}, {" exact ", Exact}} {
		t.Setenv(PrecisionEnvVar, tc.env)
		if got, err := PrecisionSetting(); err != nil || got != tc.want {
			t.Errorf("%s=%q: %q, %v; want %q", PrecisionEnvVar, tc.env, got, err, tc.want)
		}
	}
	t.Setenv(PrecisionEnvVar, "tf32")
	if _, err := New("go"); err == nil || !strings.Contains(err.Error(), PrecisionEnvVar) || !strings.Contains(err.Error(), "exact") {
		t.Errorf("New with %s=tf32: %v, want an error naming the variable and the choices", PrecisionEnvVar, err)
	}
}

func TestWithPrecision(t *testing.T) {
	t.Setenv(tf32Override, "")
	os.Unsetenv(tf32Override)
	if got := withPrecision("/p.so", Fast); got != "/p.so" {
		t.Errorf("fast: options %q, want them unchanged", got)
	}
	if _, set := os.LookupEnv(tf32Override); set {
		t.Errorf("fast set %s", tf32Override)
	}
	if got := withPrecision("/p.so", Exact); got != "/p.so,tf32=false" {
		t.Errorf("exact: options %q, want tf32=false added", got)
	}
	if v := os.Getenv(tf32Override); v != "0" {
		t.Errorf("exact: %s=%q, want 0", tf32Override, v)
	}
	if d := describePrecision(Exact); d != "exact (full float32)" {
		t.Errorf("describePrecision(Exact) = %q", d)
	}
	t.Setenv(tf32Override, "1") // the user's own setting wins and is shown
	withPrecision("/p.so", Exact)
	if v := os.Getenv(tf32Override); v != "1" {
		t.Errorf("exact overwrote the user's %s=1 with %q", tf32Override, v)
	}
	if d := describePrecision(Exact); !strings.Contains(d, tf32Override+"=1") {
		t.Errorf("describePrecision = %q, want it to show %s=1", d, tf32Override)
	}
	if got := withPrecision("/p.so,notf32", Exact); got != "/p.so,notf32" {
		t.Errorf("exact with the user's notf32: %q", got)
	}
}

func TestGoOptions(t *testing.T) {
	for _, c := range []struct {
		in, want string
		refused  bool
	}{
		{"", "", false},
		{"ops_parallel", "ops_parallel", false},
		{"ops_dynamic", "", false},
		{"ops_sequential,dependency_order", "dependency_order,ops_sequential", false},
		{"parallelism=2", "", true},
		{"ops_sequential,parallelism=3", "", true},
		{"parallelism=-1,ops_parallel", "ops_parallel", false},
		{"parallelism=0", "", true},
	} {
		got, err := goOptions(c.in)
		if c.refused {
			if err == nil || !strings.Contains(err.Error(), "GOMAXPROCS") {
				t.Errorf("goOptions(%q) = %q, %v; want an error that points to GOMAXPROCS", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("goOptions(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestLocal checks that Local is the pure-Go backend whatever GOMLX_BACKEND
// and LAYERVIS_PRECISION say, and the same backend at every call.
func TestLocal(t *testing.T) {
	t.Setenv(EnvVar, "xla:/nonexistent/plugin.so")
	t.Setenv(PrecisionEnvVar, "bogus")
	b, err := Local()
	if err != nil {
		t.Fatal(err)
	}
	if !IsGo(b) {
		t.Errorf("Local() is %q, want the pure-Go backend", b.String())
	}
	again, err := Local()
	if err != nil || again != b {
		t.Errorf("a second Local() = %v, %v; want the same backend", again, err)
	}
}

// TestGoExecutor checks how each pure-Go configuration runs ops, that
// Describe says so, that the parallel ones get an unbounded worker pool
// (optvis's TestNoDeadlock runs, under a timeout, the graph that deadlocks
// a bounded one), that Branches asks the parallel ones for a branch per
// core, and that a configuration bounding the pool is refused.
func TestGoExecutor(t *testing.T) {
	for _, c := range []struct {
		config, mode string
		max          int // the worker pool's bound; 0: not checked
		parallel     bool
	}{
		{"go", "ops in parallel when one computation runs, else one at a time, workers unbounded", -1, true},
		{"go:ops_sequential", "ops one at a time", 0, false},
		{"go:ops_parallel", "ops in parallel, workers unbounded", -1, true},
		{"go:ops_dynamic", "ops in parallel when one computation runs, else one at a time, workers unbounded", -1, true},
	} {
		b, err := New(c.config)
		if err != nil {
			t.Fatal(err)
		}
		if d := Describe(b); !strings.Contains(d, c.mode) {
			t.Errorf("Describe(%s) = %q, want it to say %q", c.config, d, c.mode)
		}
		p, ok := workers(b)
		if !ok {
			t.Fatalf("%s: the pure-Go backend has no Workers pool: compute changed; see newGo", c.config)
		}
		if c.max != 0 && p.MaxParallelism() != c.max {
			t.Errorf("%s: worker pool bound %d, want %d", c.config, p.MaxParallelism(), c.max)
		}
		want := 1
		if c.parallel {
			want = runtime.GOMAXPROCS(0)
		}
		if got := Branches(b); got != want {
			t.Errorf("Branches(%s) = %d, want %d", c.config, got, want)
		}
		b.Finalize()
	}
	for _, config := range []string{"go:parallelism=2", "go:ops_parallel,parallelism=3"} {
		b, err := New(config)
		if err == nil {
			b.Finalize()
			t.Errorf("New(%q) started a backend with a bounded worker pool, which can deadlock; want an error", config)
			continue
		}
		for _, want := range []string{config, "deadlock", "GOMAXPROCS=N"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New(%q): %v; want it to say %q", config, err, want)
			}
		}
	}
}
