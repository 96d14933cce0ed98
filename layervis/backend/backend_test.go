package backend

import (
	"os"
	"path/filepath"
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

func TestGoOptions(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "ops_sequential"},
		{"parallelism=2", "parallelism=2,ops_sequential"},
		{"ops_parallel", "ops_parallel"},
		{"ops_dynamic", ""},
		{"ops_sequential,parallelism=3", "parallelism=3,ops_sequential"},
	} {
		if got := goOptions(c.in); got != c.want {
			t.Errorf("goOptions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
