// Package cli holds what the example commands share: opening the model a
// user names (with a loud fallback when the demo is missing), Ctrl-C
// handling, and a progress bar that draws itself on a terminal and prints
// plain lines elsewhere.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/zoo"
)

// Fallback is the model used, with random weights, when no -model is given
// and the demo is not usable.
const Fallback = "resnet18"

// OpenModel opens the model named by -model and -weights. With no name it
// opens the demo and, if that is missing or usable says it is not fit
// (usable may be nil), falls back to [Fallback] with random weights,
// saying so loudly on stderr. A named model with random weights is
// announced too.
func OpenModel(name, weights string, usable func(cnn.Model) error, stderr io.Writer) (cnn.Model, zoo.Info, error) {
	if name != "" {
		m, info, err := zoo.Open(name, weights)
		if err == nil && info.Random {
			fmt.Fprintf(stderr, "*** %s has RANDOM weights (%s): the images show the architecture, nothing learned.\n", m.Name(), info.Source)
		}
		return m, info, err
	}
	if weights != "" {
		return nil, zoo.Info{}, fmt.Errorf("-weights %s needs -model: it is for a built-in architecture (e.g. -model resnet50 -weights %s); the default model, the demo, carries its own weights", weights, weights)
	}
	m, info, err := zoo.Open("demo", "")
	if err == nil && usable != nil {
		err = usable(m)
	}
	if err == nil {
		return m, info, nil
	}
	fmt.Fprintf(stderr, "\n*** The demo model is not usable here (%v).\n*** Running %s with RANDOM weights instead: the images show the architecture, nothing learned.\n*** Fetch the demo with %s, or pass -model and -weights.\n\n", err, Fallback, assets.FetchHint)
	return zoo.Open(Fallback, "")
}

// SignalContext returns a context cancelled by the first Ctrl-C (or
// SIGTERM); a second one kills the process.
func SignalContext() context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
	}()
	return ctx
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar draws progress on one line of a terminal, redrawn in place;
// elsewhere (a file, a pipe) it prints nothing but the lines given to
// [Bar.Line].
type Bar struct {
	W     io.Writer
	Quiet bool // draw nothing (Line still prints)
	shown bool
}

// Status redraws the line on a terminal: an optional bar of done/total,
// then text.
func (b *Bar) Status(done, total int, text string) {
	if b.Quiet || !IsTerminal(b.W) {
		return
	}
	bar := ""
	if total > 0 {
		const width = 24
		n := width * min(done, total) / total
		bar = "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] "
	}
	fmt.Fprintf(b.W, "\r\033[K%s%s", bar, text)
	b.shown = true
}

// Line clears the bar, if drawn, and prints a line.
func (b *Bar) Line(format string, args ...any) {
	b.Clear()
	fmt.Fprintf(b.W, format+"\n", args...)
}

// Clear removes the bar from the terminal.
func (b *Bar) Clear() {
	if b.shown {
		fmt.Fprint(b.W, "\r\033[K")
		b.shown = false
	}
}

// ETA formats the time left for done of total steps at rate steps a second.
func ETA(done, total int, rate float64) string {
	return (time.Duration(float64(total-done)/max(rate, 1e-9)) * time.Second).Round(time.Second).String()
}

// ErrInterrupted is a command's error when Ctrl-C stopped it after it kept
// what it had made; [Main] exits with status 130 for it.
var ErrInterrupted = errors.New("interrupted")

// Main runs a command: parse reads the flags (-help exits 0; a bad flag or
// value prints message(err) and exits 2), run does the work with a
// context that Ctrl-C cancels ([SignalContext]), and Main exits 130 (128 +
// SIGINT, as a shell reports an interrupted command) when run returns
// [ErrInterrupted], or prints message(err) and exits 1 on any other error.
func Main[O any](parse func(args []string, stderr io.Writer) (O, error), run func(ctx context.Context, o O, stdout, stderr io.Writer) error, message func(error) string) {
	o, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(2)
	}
	err = run(SignalContext(), o, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, ErrInterrupted):
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(1)
	}
}

// Prefix returns a message function for [Main] that prints "name: error".
func Prefix(name string) func(error) string {
	return func(err error) string { return name + ": " + err.Error() }
}
