// Package atomicfile writes files so that a reader never sees a partial one
// and a failed write leaves the previous file, if any, untouched.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write creates a temporary file beside path, fills it with fill, syncs it
// and renames it to path (mode 0644). On any error it removes the temporary
// file and leaves path alone.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
