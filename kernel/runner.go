package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Expect is what a notebook declares it must output, in its metadata under
// "layervis": a minimum number of outputs per MIME type and substrings that
// must appear in its text. For example
//
//	"metadata": {"layervis": {"expect": {"image/png": 3, "text/html": 1, "text": ["backend: go", "SIMD on"]}}}
//
// The runner fails a notebook whose outputs fall short, and a notebook
// without any expectation.
type Expect struct {
	MIME map[string]int // minimum number of outputs carrying each MIME type
	Text []string       // substrings each of which must appear in some text output
}

// UnmarshalJSON reads the "expect" object: "text" is a list of strings,
// every other key a MIME type with a minimum count.
func (e *Expect) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("layervis.expect must be an object: %w", err)
	}
	e.MIME = map[string]int{}
	for k, v := range raw {
		if k == "text" {
			if err := json.Unmarshal(v, &e.Text); err != nil {
				return fmt.Errorf("layervis.expect.text must be a list of strings: %w", err)
			}
			continue
		}
		if !strings.Contains(k, "/") {
			return fmt.Errorf("layervis.expect: key %q is neither \"text\" nor a MIME type such as \"image/png\"", k)
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return fmt.Errorf("layervis.expect[%q] must be a count (a non-negative integer), got %s", k, v)
		}
		e.MIME[k] = n
	}
	return nil
}

// Notebook is the part of an nbformat 4 notebook the runner reads.
type Notebook struct {
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
		Layervis *struct {
			Expect *Expect `json:"expect"`
		} `json:"layervis"`
	} `json:"metadata"`
	Cells []Cell `json:"cells"`
}

// Cell is a notebook cell.
type Cell struct {
	Type    string   `json:"cell_type"`
	Source  Text     `json:"source"`
	Outputs []Output `json:"outputs"`
}

// Output is one output of a code cell.
type Output struct {
	Type      string          `json:"output_type"` // stream, display_data, execute_result, error
	Name      string          `json:"name"`        // stream: stdout or stderr
	Text      Text            `json:"text"`        // stream
	Data      map[string]Text `json:"data"`        // display_data, execute_result: MIME type → content
	Ename     string          `json:"ename"`       // error
	Evalue    string          `json:"evalue"`      // error
	Traceback []string        `json:"traceback"`   // error
}

// Text is a notebook string, stored either as one string or as a list of
// lines. Non-string data (JSON outputs) is kept as its JSON text.
type Text string

// UnmarshalJSON accepts a string, a list of strings or any other JSON value.
func (t *Text) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*t = Text(s)
		return nil
	}
	var parts []string
	if err := json.Unmarshal(data, &parts); err == nil {
		*t = Text(strings.Join(parts, ""))
		return nil
	}
	*t = Text(data)
	return nil
}

// ReadNotebook parses a notebook file.
func ReadNotebook(path string) (*Notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb Notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("%s is not a notebook: %w", path, err)
	}
	return &nb, nil
}

// Counts returns the number of outputs carrying each MIME type; stream
// outputs count as "stream/stdout" and "stream/stderr", errors as "error".
func (nb *Notebook) Counts() map[string]int {
	n := map[string]int{}
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.Type {
			case "stream":
				n["stream/"+o.Name]++
			case "error":
				n["error"]++
			default:
				for mime := range o.Data {
					n[mime]++
				}
			}
		}
	}
	return n
}

// Problems lists what is wrong with an executed notebook: error outputs,
// standard error containing "panic:" or "error", no declared expectation,
// and expectations its outputs do not meet.
func (nb *Notebook) Problems() []string {
	var problems []string
	var text strings.Builder
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.Type {
			case "error":
				detail := stripANSI(strings.Join(o.Traceback, "\n"))
				for _, o2 := range c.Outputs {
					// GoNB shows compile errors as HTML next to the error output.
					if h := string(o2.Data["text/html"]); strings.Contains(h, "gonb-err") {
						detail += "\n" + htmlText(h)
					}
				}
				problems = append(problems, fmt.Sprintf("cell %d: %s: %s%s", i, o.Ename, o.Evalue, tail(detail, 12)))
			case "stream":
				s := string(o.Text)
				text.WriteString(s)
				if l := strings.ToLower(s); o.Name == "stderr" && (strings.Contains(l, "panic:") || strings.Contains(l, "error")) {
					problems = append(problems, fmt.Sprintf("cell %d: standard error reports a failure:%s", i, tail(stripANSI(s), 10)))
				}
			default:
				for mime, d := range o.Data {
					if strings.HasPrefix(mime, "text/") {
						text.WriteString(string(d))
					}
				}
			}
		}
	}
	if nb.Metadata.Layervis == nil || nb.Metadata.Layervis.Expect == nil {
		return append(problems, `no expectations: add "layervis": {"expect": {...}} to the notebook metadata (e.g. {"image/png": 1, "text": ["backend:"]})`)
	}
	e := nb.Metadata.Layervis.Expect
	if len(e.MIME) == 0 && len(e.Text) == 0 {
		problems = append(problems, "layervis.expect is empty: declare at least one output the notebook must produce")
	}
	counts := nb.Counts()
	mimes := make([]string, 0, len(e.MIME))
	for m := range e.MIME {
		mimes = append(mimes, m)
	}
	slices.Sort(mimes)
	for _, m := range mimes {
		if counts[m] < e.MIME[m] {
			problems = append(problems, fmt.Sprintf("expected at least %d %s outputs, got %d", e.MIME[m], m, counts[m]))
		}
	}
	all := text.String()
	for _, s := range e.Text {
		if !strings.Contains(all, s) {
			problems = append(problems, fmt.Sprintf("expected the text %q in the outputs", s))
		}
	}
	return problems
}

var (
	styleRE = regexp.MustCompile(`(?s)<style.*?</style>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRE = regexp.MustCompile(`\n\s*\n+`)
)

// htmlText is the text of an HTML fragment: styles and tags removed,
// entities decoded, blank lines dropped.
func htmlText(h string) string {
	h = tagRE.ReplaceAllString(styleRE.ReplaceAllString(h, ""), "")
	return strings.TrimSpace(blankRE.ReplaceAllString(html.UnescapeString(h), "\n"))
}

// stripANSI removes terminal colour sequences (ESC [ ... letter).
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < '@' || s[j] > '~') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RunOptions controls [Execute].
type RunOptions struct {
	Kernel  string        // kernelspec name; "" means Name ("layervis")
	Timeout time.Duration // limit per cell; 0 means 15 minutes
	InPlace bool          // write the executed notebook over its source when it passes
	OutDir  string        // keep the executed notebook here; "" means a temporary directory, removed
	Env     []string      // jupyter's environment; nil means this process's
	Log     io.Writer     // nbconvert's own messages; nil discards them
}

// Result is the outcome of executing one notebook.
type Result struct {
	Path     string         // the source notebook
	Executed string         // the executed copy, when kept (OutDir) or written back (InPlace)
	Duration time.Duration  // wall time of nbconvert
	Counts   map[string]int // outputs per MIME type (see Notebook.Counts)
	Problems []string       // what failed; empty when the notebook passed
}

// Execute runs a notebook with `jupyter nbconvert --execute` on the layervis
// kernel and checks the executed notebook (see [Notebook.Problems]). Cells
// run to the end even after an error, so that every failure is reported. It
// returns an error when the notebook could not be executed or failed a
// check; the Result says which.
func Execute(ctx context.Context, path string, o RunOptions) (*Result, error) {
	r := &Result{Path: path}
	if _, err := ReadNotebook(path); err != nil {
		return r, err
	}
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		return r, fmt.Errorf("jupyter is not on PATH: run %s", setupCmd)
	}
	kernel, timeout := o.Kernel, o.Timeout
	if kernel == "" {
		kernel = Name
	}
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	outDir := o.OutDir
	if outDir == "" {
		tmp, err := os.MkdirTemp("", "layervis-nb-")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(tmp)
		outDir = tmp
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return r, err
	}
	base := filepath.Base(path)
	executed := filepath.Join(outDir, base)
	src, _ := filepath.Abs(path)
	if dst, _ := filepath.Abs(executed); src == dst {
		return r, fmt.Errorf("output directory %s holds the source notebook; use -write to update it in place", outDir)
	}
	cmd := exec.CommandContext(ctx, jup, "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name="+kernel,
		"--ExecutePreprocessor.timeout="+strconv.Itoa(int(timeout.Seconds())),
		"--ExecutePreprocessor.allow_errors=True",
		"--ExecutePreprocessor.record_timing=False",
		"--output-dir", outDir, "--output", base, path)
	cmd.Env = o.Env
	var log bytes.Buffer
	var w io.Writer = &log
	if o.Log != nil {
		w = io.MultiWriter(&log, o.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err = cmd.Run()
	r.Duration = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("%s: jupyter nbconvert failed after %s: %w%s", path, r.Duration.Round(time.Second), err, tail(log.String(), 25))
	}
	nb, err := ReadNotebook(executed)
	if err != nil {
		return r, err
	}
	r.Counts = nb.Counts()
	r.Problems = nb.Problems()
	if o.OutDir != "" {
		r.Executed = executed
	}
	if len(r.Problems) > 0 {
		return r, fmt.Errorf("%s failed:\n  %s", path, strings.Join(r.Problems, "\n  "))
	}
	if o.InPlace {
		if err := replaceFile(executed, path); err != nil {
			return r, fmt.Errorf("writing %s back: %w", path, err)
		}
		r.Executed = path
	}
	return r, nil
}

// replaceFile copies src over dst through a temporary file in dst's
// directory, keeping dst's mode.
func replaceFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(dst); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".nb-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), mode)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
