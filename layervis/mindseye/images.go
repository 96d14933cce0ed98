package mindseye

// The image set: listing files and folders, and loading one image as the
// Size×Size pixels Stage A and the blends use.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/layervis/layervis/layervis/photo"
)

// imageSet is the expanded list of candidate image files.
type imageSet struct {
	files []string // absolute paths, in the order given (folders in name order)
	dirs  []string // absolute paths of the folders given
	dups  []string // files listed more than once (kept once)
}

// listImages expands paths: a file is itself; a folder gives the regular,
// non-hidden files directly inside it, in name order (sub-folders are not
// entered). A path that does not exist is an error; files that turn out not
// to be images are skipped later, when loaded.
func listImages(paths []string) (*imageSet, error) {
	set := &imageSet{}
	seen := map[string]bool{}
	add := func(f string) {
		if seen[f] {
			set.dups = append(set.dups, f)
			return
		}
		seen[f] = true
		set.files = append(set.files, f)
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("mindseye: image path %q: %w", p, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("mindseye: image path %q: %w; give existing image files or folders", p, err)
		}
		if !st.IsDir() {
			add(abs)
			continue
		}
		set.dirs = append(set.dirs, abs)
		entries, err := os.ReadDir(abs) // sorted by name
		if err != nil {
			return nil, fmt.Errorf("mindseye: image folder %q: %w", p, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			f := filepath.Join(abs, e.Name())
			if st, err := os.Stat(f); err == nil && st.IsDir() {
				continue
			}
			add(f)
		}
	}
	if len(set.files) == 0 {
		return nil, fmt.Errorf("mindseye: no image files in %s", strings.Join(paths, ", "))
	}
	return set, nil
}

// loadPixels reads an image and returns it resized to size×size (OpenCV
// INTER_AREA, whatever the aspect ratio, as the reference does) as 8-bit
// pixel values in float32, HWC RGB. With quantize the image is resized as
// the reference resizes cv2.imread's 8-bit image, with OpenCV's uint8
// arithmetic ([photo.RGB.ResizeArea8]), so the values are whole numbers;
// otherwise it is resized in float32 and only values within 1e-4 of an
// integer are rounded (the float32 error of v/255·255), so that an
// unresized 8-bit pixel stays exactly its value.
func loadPixels(path string, size int, quantize bool) ([]float32, error) {
	img, err := photo.Load(path)
	if err != nil {
		return nil, err
	}
	var px []float32
	if quantize {
		px = img.ResizeArea8(size, size).Pix
	} else {
		px = img.ResizeArea(size, size).Pix
	}
	for i, v := range px {
		x := min(max(float64(v)*255, 0), 255)
		if r := math.RoundToEven(x); quantize || math.Abs(x-r) < 1e-4 {
			x = r
		}
		px[i] = float32(x)
	}
	return px, nil
}

// forEach runs f(0..n−1) on up to GOMAXPROCS goroutines.
func forEach(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Files returns the candidate image files (folders expanded, each file
// once, in order) that [New] found; [Run.Prepare] skips those it cannot
// read.
func (r *Run) Files() []string { return slices.Clone(r.set.files) }
