// Command layervis-kernel installs, checks and runs layervis's Jupyter
// kernel (GoNB with the environment layervis needs).
//
//	go run ./kernel/cmd/layervis-kernel setup [-headless] [-no-apt] [-no-assets]
//	go run ./kernel/cmd/layervis-kernel doctor
//	go run ./kernel/cmd/layervis-kernel run [-write] [-out DIR] [-timeout 15m] [notebook.ipynb ...]
//	go run ./kernel/cmd/layervis-kernel notebook [-- jupyter notebook flags]
//
// setup is idempotent: run it again after changing GOMLX_BACKEND (the
// kernel's backend is fixed at setup; unset means pure Go) or PATH. run
// executes notebooks headless (all of notebooks/ by default), fails on any
// error output, and checks the outputs each notebook declares in its
// metadata; -write puts the executed notebooks, outputs included, back in
// place. notebook starts a Jupyter server on notebooks/ with the kernel.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/layervis/layervis/kernel"
)

const usage = `usage: layervis-kernel COMMAND [flags]

commands:
  setup     install Jupyter, gonb, goimports, gopls; register the %q kernel; warm the build cache; fetch demo assets
  doctor    check each piece and print what is missing with the fix (exit status 1 if something required is)
  run       execute notebooks headless and check their outputs (default: every notebooks/*.ipynb)
  notebook  start Jupyter on notebooks/ for interactive use

Run "layervis-kernel COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, usage, kernel.Name)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "setup":
		err = setup(ctx, args)
	case "doctor":
		err = doctor(ctx, args)
	case "run":
		err = run(ctx, args)
	case "notebook":
		err = notebook(ctx, args)
	case "help", "-h", "-help", "--help":
		fmt.Printf(usage, kernel.Name)
		return
	default:
		err = fmt.Errorf("unknown command %q", cmd)
		fmt.Fprintf(os.Stderr, usage, kernel.Name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "layervis-kernel:", err)
		os.Exit(1)
	}
}

func repoFlag(fs *flag.FlagSet) *string {
	return fs.String("repo", ".", "the layervis repository (or a directory inside it)")
}

func setup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	repo := repoFlag(fs)
	headless := fs.Bool("headless", false, "skip Jupyter's notebook server (jupyter-notebook): notebooks then run only headless, not with the notebook command (make jupyter)")
	noApt := fs.Bool("no-apt", false, "do not install Debian packages: Jupyter is installed some other way")
	noAssets := fs.Bool("no-assets", false, "do not fetch the demo assets")
	fs.Parse(args)
	root, err := kernel.RepoRoot(*repo)
	if err != nil {
		return err
	}
	start := time.Now()
	err = kernel.Setup(ctx, kernel.SetupOptions{Repo: root, Headless: *headless, NoApt: *noApt, NoAssets: *noAssets, Out: os.Stdout})
	fmt.Printf("setup took %s\n", time.Since(start).Round(time.Second))
	if err != nil {
		return err
	}
	fmt.Printf("\nThe %q kernel is ready: go run ./kernel/cmd/layervis-kernel notebook (interactive) or run (headless).\n", kernel.Name)
	return nil
}

func doctor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ExitOnError)
	repo := repoFlag(fs)
	fs.Parse(args)
	root, err := kernel.RepoRoot(*repo)
	if err != nil {
		return err
	}
	if !kernel.Report(os.Stdout, kernel.Doctor(ctx, root)) {
		return errors.New("something required is missing (FAIL lines above)")
	}
	return nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	repo := repoFlag(fs)
	write := fs.Bool("write", false, "write each executed notebook (with its outputs) back over its source when it passes")
	out := fs.String("out", "", "keep the executed notebooks in this directory")
	timeout := fs.Duration("timeout", 15*time.Minute, "limit per cell")
	name := fs.String("kernel", kernel.Name, "kernelspec name")
	verbose := fs.Bool("v", false, "show nbconvert's log")
	fs.Parse(args)
	paths := fs.Args()
	if len(paths) == 0 {
		root, err := kernel.RepoRoot(*repo)
		if err != nil {
			return err
		}
		paths, _ = filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
		if len(paths) == 0 {
			return fmt.Errorf("no notebooks in %s", filepath.Join(root, "notebooks"))
		}
	}
	o := kernel.RunOptions{Kernel: *name, Timeout: *timeout, InPlace: *write, OutDir: *out}
	if *verbose {
		o.Log = os.Stderr
	}
	var failed []string
	for _, p := range paths {
		fmt.Printf("run  %s\n", p)
		r, err := kernel.Execute(ctx, p, o)
		if err != nil {
			fmt.Printf("FAIL %s (%s)\n%v\n", p, r.Duration.Round(time.Second), err)
			failed = append(failed, p)
			continue
		}
		fmt.Printf("ok   %s (%s) %s\n", p, r.Duration.Round(time.Second), counts(r.Counts))
		if r.Executed != "" {
			fmt.Printf("     executed notebook: %s\n", r.Executed)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d notebooks failed: %s", len(failed), len(paths), strings.Join(failed, " "))
	}
	return nil
}

func counts(c map[string]int) string {
	var parts []string
	for _, k := range []string{"image/png", "text/html", "stream/stdout", "stream/stderr"} {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, c[k]))
		}
	}
	return strings.Join(parts, " ")
}

func notebook(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("notebook", flag.ExitOnError)
	repo := repoFlag(fs)
	fs.Parse(args)
	root, err := kernel.RepoRoot(*repo)
	if err != nil {
		return err
	}
	for _, c := range kernel.Doctor(ctx, root) {
		if !c.OK && c.Required {
			fmt.Fprintf(os.Stderr, "warning: %s: %s (fix: %s)\n", c.Name, c.Detail, c.Fix)
		}
	}
	if os.Getuid() == 0 {
		fmt.Fprintln(os.Stderr, "running as root: passing --allow-root to jupyter")
	}
	cmd, err := kernel.NotebookCommand(ctx, filepath.Join(root, "notebooks"), fs.Args()...)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	return cmd.Run()
}
