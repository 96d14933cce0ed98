package kernel

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestExpectUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		mime    map[string]int
		text    []string
		wantErr string
	}{
		{"counts and text", `{"image/png": 3, "text/html": 1, "text": ["backend:", "SIMD"]}`,
			map[string]int{"image/png": 3, "text/html": 1}, []string{"backend:", "SIMD"}, ""},
		{"text only", `{"text": ["x"]}`, map[string]int{}, []string{"x"}, ""},
		{"not an object", `[1]`, nil, nil, "must be an object"},
		{"unknown key", `{"images": 3}`, nil, nil, `key "images"`},
		{"negative count", `{"image/png": -1}`, nil, nil, "non-negative integer"},
		{"fractional count", `{"image/png": 1.5}`, nil, nil, "non-negative integer"},
		{"text not a list", `{"text": "backend:"}`, nil, nil, "list of strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Expect
			err := json.Unmarshal([]byte(tc.json), &e)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(e.MIME) != len(tc.mime) {
				t.Errorf("MIME = %v, want %v", e.MIME, tc.mime)
			}
			for k, v := range tc.mime {
				if e.MIME[k] != v {
					t.Errorf("MIME[%q] = %d, want %d", k, e.MIME[k], v)
				}
			}
			if strings.Join(e.Text, "|") != strings.Join(tc.text, "|") {
				t.Errorf("Text = %q, want %q", e.Text, tc.text)
			}
		})
	}
}

// executed builds an executed notebook's JSON from output JSON objects, one
// code cell each, with the given metadata.
func executed(meta string, outputs ...string) string {
	var cells []string
	for _, o := range outputs {
		cells = append(cells, `{"cell_type": "code", "source": ["x"], "outputs": [`+o+`]}`)
	}
	return `{"metadata": ` + meta + `, "cells": [` + strings.Join(cells, ",") + `]}`
}

func TestProblems(t *testing.T) {
	const expect = `{"layervis": {"expect": {"image/png": 2, "text": ["backend: go", "SIMD on"]}}}`
	const png = `{"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<image>"}}`
	const stdout = `{"output_type": "stream", "name": "stdout", "text": ["backend: go (pure Go, ", "SIMD on)\n"]}`
	tests := []struct {
		name string
		nb   string
		want []string // a substring of each expected problem, in order
	}{
		{"passes", executed(expect, png, png, stdout), nil},
		{"text in html", executed(expect, png, png,
			`{"output_type": "display_data", "data": {"text/html": "<b>backend: go</b> SIMD on"}}`), nil},
		{"error output", executed(expect, png, png, stdout,
			`{"output_type": "error", "ename": "ERROR", "evalue": "exit status 2", "traceback": ["\u001b[31mpanic: boom\u001b[0m"]}`),
			[]string{"cell 3: ERROR: exit status 2\n    panic: boom"}},
		{"panic on stderr", executed(expect, png, png, stdout,
			`{"output_type": "stream", "name": "stderr", "text": "goroutine 1\npanic: index out of range\n"}`),
			[]string{"cell 3: standard error reports a failure"}},
		{"error on stderr, any case", executed(expect, png, png, stdout,
			`{"output_type": "stream", "name": "stderr", "text": "Error: no such file\n"}`),
			[]string{"cell 3: standard error"}},
		{"error on stdout is fine", executed(expect, png, png, stdout,
			`{"output_type": "stream", "name": "stdout", "text": "the error for an unknown layer: ...\n"}`), nil},
		{"harmless stderr", executed(expect, png, png, stdout,
			`{"output_type": "stream", "name": "stderr", "text": "downloading checkpoint\n"}`), nil},
		{"too few images", executed(expect, png, stdout), []string{"expected at least 2 image/png outputs, got 1"}},
		{"missing text", executed(expect, png, png), []string{`"backend: go"`, `"SIMD on"`}},
		{"no expectations", executed(`{}`, png), []string{"no expectations"}},
		{"empty expectations", executed(`{"layervis": {"expect": {}}}`, png), []string{"layervis.expect is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var nb Notebook
			if err := json.Unmarshal([]byte(tc.nb), &nb); err != nil {
				t.Fatal(err)
			}
			got := nb.Problems()
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant %d containing %q", strings.Join(got, "\n"), len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestCounts(t *testing.T) {
	var nb Notebook
	src := executed(`{}`,
		`{"output_type": "display_data", "data": {"image/png": "x", "text/plain": "y"}}`,
		`{"output_type": "execute_result", "data": {"text/html": "<p>"}}`,
		`{"output_type": "stream", "name": "stdout", "text": "a"}`,
		`{"output_type": "stream", "name": "stderr", "text": "b"}`,
		`{"output_type": "error", "ename": "E", "evalue": "v", "traceback": []}`)
	if err := json.Unmarshal([]byte(src), &nb); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"image/png": 1, "text/plain": 1, "text/html": 1, "stream/stdout": 1, "stream/stderr": 1, "error": 1}
	got := nb.Counts()
	if len(got) != len(want) {
		t.Fatalf("Counts = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Counts[%q] = %d, want %d", k, got[k], v)
		}
	}
}
