package kernel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive the notebook UI in headless Chromium (Debian's
// chromium, which make deps installs): Jupyter's own page running notebook
// cells on the layervis kernel, and the interactive outputs (the snapshot
// slider, the t-SNE map) of executed notebooks. Screenshots go to the
// test's temporary directory, or to $LAYERVIS_SCREENSHOTS when set (to
// look at them).

// requireChromium returns the Chromium binary. Without one the test is
// skipped, or, when the environment variable CI is non-empty, fails: CI
// installs it (make deps).
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH, so the notebook UI is not tested in a browser; install it with: apt-get install chromium (make deps)"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s\nCI must test the notebook UI", msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium and returns a context for
// chromedp.Run, with a limit of timeout on the whole session.
func newBrowser(t *testing.T, chromium string, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // as root, Chromium needs it; the pages are local
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1400),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser on a context without the deadline (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromium, err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return tctx
}

// screenshot scrolls the element sel into view and saves a PNG of the
// window in the screenshot directory. (Jupyter's page scrolls inside an
// element, so a screenshot clipped to the element's box would miss it.)
func screenshot(t *testing.T, ctx context.Context, sel, name string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).scrollIntoView()`, sel)),
		chromedp.Sleep(300*time.Millisecond), // let the page repaint
	)
	var png []byte
	if err == nil {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		t.Errorf("screenshot of %s: %v", sel, err)
		return
	}
	dir := os.Getenv("LAYERVIS_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// freePort returns a TCP port on localhost that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startJupyter starts the Jupyter notebook server on dir as make jupyter
// does (NotebookCommand), on localhost at a free port with a random token, with the layervis kernel of env, and
// returns its base URL and token. The server and its kernels stop when the
// test ends.
func startJupyter(t *testing.T, env []string, dir string) (base, token string) {
	t.Helper()
	tok := make([]byte, 16)
	rand.Read(tok)
	token = hex.EncodeToString(tok)
	port := freePort(t)
	runtime := t.TempDir()
	// The command make jupyter runs, on localhost at port with the token.
	cmd, err := NotebookCommand(context.Background(), dir, "--no-browser", "--ip=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--port-retries=0", "--NotebookApp.token="+token)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cmd.Env = withEnv(env, "JUPYTER_RUNTIME_DIR="+runtime, "JUPYTER_CONFIG_DIR="+t.TempDir(), "PYTHONNOUSERSITE=1")
	log, err := os.Create(filepath.Join(t.TempDir(), "jupyter.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the kernels too stop with the group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("jupyter's log:%s", tail(string(data), 40))
		}
	})
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(base + "/api/status?token=" + token)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, token
			}
		}
		if time.Since(start) > time.Minute {
			data, _ := os.ReadFile(log.Name())
			t.Fatalf("Jupyter did not answer on %s within a minute:%s", base, tail(string(data), 30))
		}
	}
}

// TestNotebookUI opens notebook 01 in Jupyter's notebook page in headless
// Chromium, runs its first code cells with Shift+Enter as a user does, and
// checks that they print the backend, show an inline image (the photo
// grid), and raise no error, and that the kernel is idle and alive after.
func TestNotebookUI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Jupyter, the kernel and Chromium (about a minute); run without -short")
	}
	env := requireKernel(t)
	chromium := requireChromium(t)
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the notebook, so that nothing the page saves touches the
	// repository; its setup cell points GoNB at this checkout by the same
	// path as the warm build cache (see WarmModule), so cells compile warm.
	dir := filepath.Join(t.TempDir(), "notebooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "notebooks", "01-quickstart.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var nb map[string]any
	if err := json.Unmarshal(src, &nb); err != nil {
		t.Fatal(err)
	}
	// The cells to run: up to the photo grid, the first cell showing images.
	const lastCell = 8
	cells := nb["cells"].([]any)
	for i, c := range cells {
		c := c.(map[string]any)
		if c["cell_type"] == "code" {
			c["outputs"], c["execution_count"] = []any{}, nil
		}
		src := sourceText(c["source"])
		if strings.Contains(src, "${GONB_DIR}/..") {
			c["source"] = strings.ReplaceAll(src, "${GONB_DIR}/..", root+"/notebooks/..")
		}
		if i == lastCell && !strings.Contains(src, "display.Grid") {
			t.Fatalf("cell %d of notebook 01 no longer shows the photo grid; update lastCell:\n%s", i, src)
		}
	}
	data, err := json.Marshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "01-quickstart.ipynb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	base, token := startJupyter(t, env, dir)
	ctx := newBrowser(t, chromium, 8*time.Minute)

	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/notebooks/01-quickstart.ipynb?token="+token)); err != nil {
		t.Fatal(err)
	}
	// The page is up and its kernel connected and idle.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
		Jupyter.notebook.kernel.is_connected() && document.querySelector('#kernel_indicator_icon.kernel_idle_icon'))`,
		chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		screenshot(t, ctx, "body", "nb01-not-ready.png")
		t.Fatalf("the notebook page did not connect to the layervis kernel: %v", err)
	}
	t.Logf("page and kernel ready in %s", time.Since(start).Round(time.Second))
	// Select the first cell and press Shift+Enter once per cell up to
	// lastCell: each runs (or renders) the selected cell and selects the next.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#notebook-container .cell`)),
		chromedp.KeyEvent(kb.Escape),
	); err != nil {
		t.Fatal(err)
	}
	for range lastCell + 1 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift))); err != nil {
			t.Fatal(err)
		}
	}
	// Every code cell up to lastCell has run (a number in its prompt, not *
	// or blank) and the kernel is idle.
	done := fmt.Sprintf(`(function(){
		var cells = Array.from(document.querySelectorAll('#notebook-container .cell')).slice(0, %d);
		var code = cells.filter(function(c){ return c.classList.contains('code_cell'); });
		return code.length > 0 && code.every(function(c){ return /In\s*\[\d+\]/.test(c.querySelector('.input_prompt').textContent); }) &&
			!!document.querySelector('#kernel_indicator_icon.kernel_idle_icon');
	})()`, lastCell+1)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](done, chromedp.WithPollingTimeout(6*time.Minute))); err != nil {
		screenshot(t, ctx, "#notebook-container", "nb01-timeout.png")
		t.Fatalf("the cells did not finish: %v\nprompts: %s", err, eval[string](t, ctx,
			`Array.from(document.querySelectorAll('.code_cell .input_prompt')).map(function(p){return p.textContent.trim()}).join(' ')`))
	}
	t.Logf("cells 0-%d run through the page in %s", lastCell, time.Since(start).Round(time.Second))

	text := eval[string](t, ctx, `Array.from(document.querySelectorAll('.output_area')).map(function(o){return o.innerText}).join('\n')`)
	for _, want := range []string{"backend:", "GOEXPERIMENT=simd build: true", "default layers: target", "the 22 demo photos"} {
		if !strings.Contains(text, want) {
			t.Errorf("the outputs lack %q:\n%s", want, text)
		}
	}
	if errs := eval[string](t, ctx, `Array.from(document.querySelectorAll('.output_error, .output_stderr')).map(function(o){return o.innerText}).join('\n')`); errs != "" {
		t.Errorf("the kernel reported errors:\n%s", errs)
	}
	if dead := eval[bool](t, ctx, `!!document.querySelector('#kernel_indicator_icon.kernel_dead_icon, #kernel_indicator_icon.kernel_disconnected_icon')`); dead {
		t.Error("the kernel indicator shows a dead or disconnected kernel")
	}
	// Inline images: decoded (naturalWidth > 0) and laid out on the page.
	n := eval[int](t, ctx, `Array.from(document.querySelectorAll('.output_area img')).filter(function(i){
		return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0; }).length`)
	if n < 22 {
		t.Errorf("%d inline images shown, want the 22 photos of the grid", n)
	}
	screenshot(t, ctx, fmt.Sprintf(`#notebook-container .cell:nth-child(%d)`, lastCell+1), "nb01-photos.png")
}

// sourceText is a notebook cell's source, a string or a list of lines.
func sourceText(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []any:
		var b strings.Builder
		for _, l := range s {
			b.WriteString(fmt.Sprint(l))
		}
		return b.String()
	}
	return ""
}

// checkExecutedHTML converts an executed notebook to HTML (jupyter
// nbconvert, as a reader of the executed notebook sees it) and, in headless
// Chromium, moves every snapshot slider with the keyboard and checks that
// the shown frame changes, and hovers a point of every t-SNE map and checks
// that its thumbnail shows. It returns how many sliders and maps it tried.
func checkExecutedHTML(t *testing.T, env []string, executed string) (sliders, maps int) {
	t.Helper()
	chromium := requireChromium(t)
	dir := t.TempDir()
	cmd := exec.Command("jupyter", "nbconvert", "--to", "html", "--output-dir", dir, executed)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert --to html: %v\n%s", err, out)
	}
	page := filepath.Join(dir, strings.TrimSuffix(filepath.Base(executed), ".ipynb")+".html")
	ctx := newBrowser(t, chromium, 3*time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(executed), ".ipynb")

	// Sliders: the visible frame (its label and first image), before and
	// after pressing Home on the focused slider.
	shown := func(i int) string {
		return eval[string](t, ctx, fmt.Sprintf(`(function(){
			var s = document.querySelectorAll('.lv-scrubber')[%d];
			var f = Array.from(s.querySelectorAll('.lv-frame')).filter(function(f){ return getComputedStyle(f).display != 'none'; });
			return f.length == 1 ? f[0].getAttribute('data-label') + ' ' + f[0].querySelector('img').src.slice(-64) : 'visible frames: ' + f.length;
		})()`, i))
	}
	sliders = eval[int](t, ctx, `document.querySelectorAll('.lv-scrubber input[type=range]').length`)
	for i := range sliders {
		s := fmt.Sprintf(`document.querySelectorAll('.lv-scrubber')[%d]`, i)
		in := s + `.querySelector('input[type=range]')`
		if eval[int](t, ctx, in+`.max|0`) == 0 {
			continue // one frame: nothing to move
		}
		before := shown(i)
		first := eval[string](t, ctx, s+`.querySelector('.lv-frame').getAttribute('data-label')`)
		eval[chromedp.Void](t, ctx, fmt.Sprintf(`%s.id = 'lv-slider-%d'; %s.scrollIntoView(); %s.focus()`, s, i, in, in))
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Home)); err != nil {
			t.Fatal(err)
		}
		after := shown(i)
		if after == before || !strings.HasPrefix(after, first+" ") {
			t.Errorf("%s: slider %d: after Home the frame %q shows (before %q), want the first, %q", name, i, after, before, first)
		}
		if label := eval[string](t, ctx, in+`.nextElementSibling.textContent`); label != first {
			t.Errorf("%s: slider %d is labelled %q after Home, want %q", name, i, label, first)
		}
		screenshot(t, ctx, fmt.Sprintf(`#lv-slider-%d`, i), fmt.Sprintf("%s-slider%d.png", name, i))
	}

	// Maps: hover the first point that has a hover thumbnail; it shows.
	maps = eval[int](t, ctx, `document.querySelectorAll('.lv-map').length`)
	for i := range maps {
		m := fmt.Sprintf(`document.querySelectorAll('.lv-map')[%d]`, i)
		pt := m + `.querySelector('.lv-pt .lv-th').parentNode`
		th := pt + `.querySelector('.lv-th')`
		if d := eval[string](t, ctx, `getComputedStyle(`+th+`).display`); d != "none" {
			t.Errorf("%s: map %d: a hover thumbnail shows (display %s) before any hover", name, i, d)
		}
		eval[chromedp.Void](t, ctx, fmt.Sprintf(`%s.id = 'lv-map-%d'; %s.scrollIntoView({block: 'center'})`, m, i, pt))
		at := eval[[]float64](t, ctx, `(function(){ var r = `+pt+`.querySelector('circle').getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`)
		if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1])); err != nil {
			t.Fatal(err)
		}
		if d := eval[string](t, ctx, `getComputedStyle(`+th+`).display`); d == "none" {
			t.Errorf("%s: map %d: hovering the point at (%.0f, %.0f) does not show its thumbnail", name, i, at[0], at[1])
		}
		if w := eval[float64](t, ctx, th+`.getBoundingClientRect().width`); w < 8 {
			t.Errorf("%s: map %d: the hover thumbnail is %.0f pixels wide", name, i, w)
		}
		screenshot(t, ctx, fmt.Sprintf(`#lv-map-%d`, i), fmt.Sprintf("%s-map%d-hover.png", name, i))
	}
	return sliders, maps
}
