package kernel

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBin makes a directory holding executable files with the given names.
func fakeBin(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewSpec(t *testing.T) {
	bin := fakeBin(t, "gonb", "goimports", "go")
	c := Config{
		Gonb:  filepath.Join(bin, "gonb"),
		Cache: "/cache",
		Path:  []string{bin, "/usr/bin", bin, ""},
		Env:   map[string]string{"XLA_FLAGS": "--xla_gpu_cuda_data_dir=/x"},
	}
	s := NewSpec(c)
	want := map[string]string{
		"GOEXPERIMENT":          "simd",
		"GOMLX_BACKEND":         "go",
		"GOMLX_NO_AUTO_INSTALL": "1",
		"LAYERVIS_CACHE":        "/cache",
		"PATH":                  bin + string(os.PathListSeparator) + "/usr/bin",
		"XLA_FLAGS":             "--xla_gpu_cuda_data_dir=/x",
	}
	for k, v := range want {
		if s.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, s.Env[k], v)
		}
	}
	if len(s.Env) != len(want) {
		t.Errorf("env = %v, want exactly %v", s.Env, want)
	}
	if strings.Join(s.Argv, " ") != c.Gonb+" --kernel {connection_file}" || s.Language != "go" || s.DisplayName != DisplayName {
		t.Errorf("spec = %+v", s)
	}
	if p := CheckSpec(s); len(p) != 0 {
		t.Errorf("CheckSpec of a fresh spec: %q", p)
	}
	c.Backend = "xla:/abs/plugin.so"
	if got := NewSpec(c).Env["GOMLX_BACKEND"]; got != c.Backend {
		t.Errorf("GOMLX_BACKEND = %q, want %q", got, c.Backend)
	}
}

func TestCheckSpec(t *testing.T) {
	bin := fakeBin(t, "gonb", "goimports", "go")
	good := func() Spec {
		return NewSpec(Config{Gonb: filepath.Join(bin, "gonb"), Cache: "/cache", Path: []string{bin}})
	}
	tests := []struct {
		name   string
		modify func(*Spec)
		want   string // a substring of the only problem; "" for none
	}{
		{"good", func(*Spec) {}, ""},
		{"simd among others", func(s *Spec) { s.Env["GOEXPERIMENT"] = "arenas,simd" }, ""},
		{"no simd", func(s *Spec) { delete(s.Env, "GOEXPERIMENT") }, "lacks simd"},
		{"other experiment", func(s *Spec) { s.Env["GOEXPERIMENT"] = "simdx" }, "lacks simd"},
		{"gonb missing", func(s *Spec) { s.Argv[0] = filepath.Join(bin, "nope") }, "not an executable gonb"},
		{"no connection file", func(s *Spec) { s.Argv = s.Argv[:2] }, "{connection_file}"},
		{"language", func(s *Spec) { s.Language = "python" }, `language is "python"`},
		{"no backend", func(s *Spec) { delete(s.Env, "GOMLX_BACKEND") }, "no GOMLX_BACKEND"},
		{"unknown backend", func(s *Spec) { s.Env["GOMLX_BACKEND"] = "tpu" }, `unknown backend "tpu"`},
		{"missing plugin", func(s *Spec) { s.Env["GOMLX_BACKEND"] = "xla:" + filepath.Join(bin, "none.so") }, "not found"},
		{"no cache", func(s *Spec) { delete(s.Env, "LAYERVIS_CACHE") }, "no LAYERVIS_CACHE"},
		{"path without tools", func(s *Spec) { s.Env["PATH"] = t.TempDir() }, "does not reach go"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.modify(&s)
			got := CheckSpec(s)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems %q, want none", got)
				}
				return
			}
			if len(got) == 0 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("problems %q, want the first to contain %q", got, tc.want)
			}
		})
	}
}

func TestInstallSpec(t *testing.T) {
	path := SpecPath(t.TempDir(), Name)
	bin := fakeBin(t, "gonb", "goimports", "go")
	s := NewSpec(Config{Gonb: filepath.Join(bin, "gonb"), Cache: "/c", Path: []string{bin}})
	steps := []struct {
		name    string
		spec    Spec
		changed bool
	}{
		{"new", s, true},
		{"same again", s, false},
		{"backend changed", NewSpec(Config{Gonb: s.Argv[0], Cache: "/c", Path: []string{bin}, Backend: "xla:/p.so"}), true},
	}
	for _, st := range steps {
		changed, err := InstallSpec(path, st.spec)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.changed {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.changed)
		}
		back, err := ReadSpec(path)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if back.Env["GOMLX_BACKEND"] != st.spec.Env["GOMLX_BACKEND"] || back.Argv[0] != st.spec.Argv[0] {
			t.Errorf("%s: read back %+v, want %+v", st.name, back, st.spec)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "kernel", "spec.go")); err != nil {
		t.Errorf("RepoRoot(.) = %s, which has no kernel/spec.go", root)
	}
	if got, err := RepoRoot(filepath.Join(root, "layervis", "cnn")); err != nil || got != root {
		t.Errorf("RepoRoot(layervis/cnn) = %q, %v; want %q", got, err, root)
	}
	if _, err := RepoRoot(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not inside the layervis repository") {
		t.Errorf("RepoRoot(outside) error = %v", err)
	}
}

// TestWarmPackages checks that the packages warmed for the notebooks
// include every one they all need (kernel/nb, kernel/display...) and leave
// out commands and internal packages.
func TestWarmPackages(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, _, err := WarmPackages(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(slices.Clone(essential), NotebookPackages...) {
		if !slices.Contains(pkgs, p) {
			t.Errorf("WarmPackages leaves out %s", p)
		}
	}
	for _, p := range pkgs {
		if strings.Contains(p, "/internal/") || strings.HasPrefix(p, Module+"/examples/") || strings.HasPrefix(p, Module+"/kernel/cmd/") {
			t.Errorf("WarmPackages lists %s, not importable by a notebook", p)
		}
	}
}

func TestWarmModule(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "warm")
	pkgs := []string{Module + "/layervis/cnn", "github.com/janpfeifer/gonb/gonbui"}
	if err := WarmModule(context.Background(), root, dir, pkgs); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join(dir, "go.mod")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		Require []struct{ Path, Version string }
		Replace []struct{ Old, New struct{ Path string } }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{Module: "v0.0.0", "github.com/janpfeifer/gonb": GonbVersion}
	for _, r := range mod.Require {
		if v, ok := want[r.Path]; ok && v == r.Version {
			delete(want, r.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("go.mod lacks the requirements %v:\n%s", want, out)
	}
	if len(mod.Replace) != 1 || mod.Replace[0].Old.Path != Module || mod.Replace[0].New.Path != root+"/notebooks/.." {
		t.Errorf("go.mod replace = %+v, want %s => %s/notebooks/..", mod.Replace, Module, root)
	}
	main, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if !strings.Contains(string(main), `_ "`+p+`"`) {
			t.Errorf("main.go does not import %s:\n%s", p, main)
		}
	}
}
