// Package assets finds layervis's offline demo files: the demo model (a
// TF.js graph model), about twenty natural photos and the COCO class names,
// which scripts/fetch-assets.sh downloads from npm and Debian packages into
// a cache directory.
//
// The cache is $LAYERVIS_CACHE if set, else $HOME/.cache/layervis, as in
// the script. The layout is:
//
//	demo/model/centernet.json, centernet.bin, LICENSE, NOTICE
//	demo/photos/*.jpg, *.png
//	demo/coco.names
//	demo/SOURCES.tsv   (sha256, origin and licence of every file)
package assets

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// EnvVar is the environment variable that overrides the cache directory.
const EnvVar = "LAYERVIS_CACHE"

// FetchHint is the command that downloads the assets.
const FetchHint = "scripts/fetch-assets.sh (or: make assets)"

// DemoModelFiles are the files of the demo model directory.
var DemoModelFiles = []string{"centernet.json", "centernet.bin", "LICENSE", "NOTICE"}

// NumCOCO is the number of COCO classes, the demo model's class channels.
const NumCOCO = 80

// Dir returns the cache directory: $LAYERVIS_CACHE if set and not empty,
// else $HOME/.cache/layervis, the default of scripts/fetch-assets.sh. The
// directory need not exist.
func Dir() (string, error) {
	if d := strings.TrimSpace(os.Getenv(EnvVar)); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("assets: no cache directory (%v); set %s to a directory", err, EnvVar)
	}
	return filepath.Join(home, ".cache", "layervis"), nil
}

// demoDir returns CACHE/demo.
func demoDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "demo"), nil
}

// missing is the error for absent assets.
func missing(what, path string, err error) error {
	return fmt.Errorf("assets: %s missing (%s: %v); download the demo assets with %s, or set %s to where they are",
		what, path, err, FetchHint, EnvVar)
}

// DemoModel returns the directory of the demo model: centernet.json, its
// weights centernet.bin, LICENSE and NOTICE. It fails, saying how to fetch
// them, if a file is missing.
func DemoModel() (string, error) {
	d, err := demoDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(d, "model")
	for _, f := range DemoModelFiles {
		p := filepath.Join(dir, f)
		if err := regular(p); err != nil {
			return "", missing("demo model file "+f, p, err)
		}
	}
	return dir, nil
}

// regular checks that p is a regular file (symbolic links followed).
func regular(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return nil
}

// DemoPhotos returns the paths of the demo photos (JPEG and PNG), sorted by
// file name. It fails, saying how to fetch them, if there are none.
func DemoPhotos() ([]string, error) {
	d, err := demoDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(d, "photos")
	entries, err := os.ReadDir(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, missing("demo photos", dir, err)
	}
	var out []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			p := filepath.Join(dir, e.Name())
			if regular(p) == nil {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, missing("demo photos", dir, errors.New("no .jpg or .png file"))
	}
	slices.Sort(out)
	return out, nil
}

// DemoPhoto returns the path of the demo photo with the given file name
// ("dog.jpg"), failing, with the fetch hint, if it is missing.
func DemoPhoto(name string) (string, error) {
	d, err := demoDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, "photos", name)
	if err := regular(p); err != nil {
		return "", missing("demo photo "+name, p, err)
	}
	return p, nil
}

// COCONames returns the 80 COCO class names in the demo model's channel
// order (darknet's coco.names: person, bicycle, car, ...). It fails if the
// file is missing or does not hold 80 names.
func COCONames() ([]string, error) {
	d, err := demoDir()
	if err != nil {
		return nil, err
	}
	p := filepath.Join(d, "coco.names")
	f, err := os.Open(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, missing("COCO class names", p, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("assets: %s: %v", p, err)
	}
	if len(names) != NumCOCO {
		return nil, fmt.Errorf("assets: %s holds %d names, want %d; fetch it again with %s", p, len(names), NumCOCO, FetchHint)
	}
	return names, nil
}
