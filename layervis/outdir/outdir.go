// Package outdir checks and prepares a tool's output folder so that a run
// never overwrites or mixes with files it did not write: the folder must be
// new, empty, or a previous output of the same tool (it holds that tool's
// report.json), unless the user asks to write into it anyway; it must not
// be or hold one of the run's inputs; and a run over a previous output
// removes only the files that output's tool writes.
package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/layervis/layervis/layervis/internal/atomicfile"
)

// Report is the name of the JSON report a tool writes into its output
// folder; its "tool" field marks the folder as that tool's output.
const Report = "report.json"

// Run states, for a report's "status" field.
const (
	StatusRunning     = "running"
	StatusComplete    = "complete"
	StatusInterrupted = "interrupted"
	StatusFailed      = "failed"
)

// Input is a file or folder a run reads, which the output folder must not
// be or hold.
type Input struct {
	Path string
	What string // how errors name it, after "an" or "the": "input folder", "input image"…
}

// Dir is a checked output folder.
type Dir struct {
	Path     string // absolute, symlinks resolved
	Tool     string // the tool whose output it is
	Previous bool   // holds a previous report.json of Tool
}

// Check refuses an output folder out that is or holds one of the inputs, is
// not a folder, or is not empty and not a previous output of tool (unless
// overwrite). It creates nothing; see [Dir.Prepare].
func Check(out, tool string, overwrite bool, inputs ...Input) (*Dir, error) {
	path, err := resolve(out)
	if err != nil {
		return nil, fmt.Errorf("output folder %q: %w", out, err)
	}
	for _, in := range inputs {
		rp, err := resolve(in.Path)
		if err != nil {
			return nil, err
		}
		if rp == path {
			return nil, fmt.Errorf("output folder %q is an %s; choose another output folder", out, in.What)
		}
		if within(rp, path) {
			return nil, fmt.Errorf("output folder %q contains the %s %q; choose another output folder", out, in.What, in.Path)
		}
	}
	d := &Dir{Path: path, Tool: tool}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output folder %q: %w", out, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("output %q exists and is not a folder; choose a folder name", out)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("output folder %q: %w", out, err)
	}
	if len(entries) == 0 {
		return d, nil
	}
	d.Previous = isPrevious(path, tool)
	if !d.Previous && !overwrite {
		return nil, fmt.Errorf("output folder %q is not empty and holds no previous %s %s; choose a new or empty folder, or set Overwrite (-overwrite) to write into it", out, tool, Report)
	}
	return d, nil
}

// resolve returns p absolute with symlinks resolved as far as it exists.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest), nil
		}
		if filepath.Dir(cur) == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

// within reports whether path is dir or inside it (both resolved).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isPrevious reports whether dir's report.json was written by tool.
func isPrevious(dir, tool string) bool {
	data, err := os.ReadFile(filepath.Join(dir, Report))
	if err != nil {
		return false
	}
	var r struct {
		Tool string `json:"tool"`
	}
	return json.Unmarshal(data, &r) == nil && r.Tool == tool
}

// Prepare creates the folder and, in a previous output, removes the regular
// files whose slash-separated path relative to the folder matches stale
// (the files the tool writes), then the sub-folders that removal left
// empty, so that a previous run's outputs do not linger beside the new
// ones. It does not follow links.
func (d *Dir) Prepare(stale *regexp.Regexp) error {
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Errorf("creating the output folder: %w", err)
	}
	if !d.Previous {
		return nil
	}
	var emptied []string
	err := filepath.WalkDir(d.Path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.Path, p)
		if err != nil || !e.Type().IsRegular() || !stale.MatchString(filepath.ToSlash(rel)) {
			return err
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing the previous %s: %w", p, err)
		}
		if dir := filepath.Dir(p); dir != d.Path && !slices.Contains(emptied, dir) {
			emptied = append(emptied, dir)
		}
		return nil
	})
	for _, dir := range emptied {
		os.Remove(dir) // only succeeds if now empty
	}
	return err
}

// Sub creates and returns the sub-folder name, refusing one that exists and
// is not a folder (a link, say), so that nothing is written outside the
// output folder.
func (d *Dir) Sub(name string) (string, error) {
	p := filepath.Join(d.Path, name)
	if st, err := os.Lstat(p); err == nil && !st.IsDir() {
		return "", fmt.Errorf("%s exists and is not a folder (a link?); remove it or choose another output folder", p)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", p, err)
	}
	return p, nil
}

// WriteReport writes v as the folder's report.json, indented, through a
// temporary file renamed into place, so a reader never sees a partial
// file. v should carry the tool's name in its "tool" field.
func (d *Dir) WriteReport(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	err = atomicfile.Write(filepath.Join(d.Path, Report), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
