package kernel

import (
	"context"
	"errors"
	"os"
	"os/exec"
)

// NotebookCommand returns the command that serves the notebooks in dir with
// Jupyter's notebook server (`jupyter notebook`, what make jupyter runs),
// with args appended (e.g. --port). As root it adds --allow-root, without
// which Jupyter refuses to start (containers often run as root).
func NotebookCommand(ctx context.Context, dir string, args ...string) (*exec.Cmd, error) {
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		return nil, errors.New("jupyter is not on PATH: run make kernel (or go run ./kernel/cmd/layervis-kernel setup)")
	}
	if _, err := exec.LookPath("jupyter-notebook"); err != nil {
		return nil, errors.New("Jupyter's notebook server is not installed (no jupyter-notebook command): run make kernel (Debian package jupyter-notebook)")
	}
	jargs := []string{"notebook", "--notebook-dir", dir}
	if os.Getuid() == 0 {
		jargs = append(jargs, "--allow-root")
	}
	return exec.CommandContext(ctx, jup, append(jargs, args...)...), nil
}
