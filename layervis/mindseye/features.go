package mindseye

import (
	"context"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Stage A: the pooled target features of every image.

// extractFeatures is Stage A: every image is loaded, resized and pooled
// through the target layer, FeatureBatch at a time (the last batch padded,
// so one shape is compiled). Unreadable files are skipped with a warning.
func (r *Run) extractFeatures(ctx context.Context, progress func(Event)) error {
	files := r.set.files
	batch := min(r.cfg.FeatureBatch, len(files))
	exec, err := model.NewExec(r.b, r.m.Store(), specFor(&r.cfg, 0).featuresFn)
	if err != nil {
		return fmt.Errorf("mindseye: building the feature extraction: %w", err)
	}
	defer exec.Finalize()
	size := r.cfg.Size
	n := size * size * 3
	buf := make([]float32, batch*n)
	for startIdx := 0; startIdx < len(files); {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Load the next batch (in parallel), skipping unreadable files.
		var names []string
		for len(names) < batch && startIdx < len(files) {
			chunk := files[startIdx:min(startIdx+batch-len(names), len(files))]
			startIdx += len(chunk)
			pix := make([][]float32, len(chunk))
			errs := make([]error, len(chunk))
			forEach(len(chunk), func(i int) {
				pix[i], errs[i] = loadPixels(chunk[i], size, r.cfg.QuantizeInputs)
			})
			for i, f := range chunk {
				if errs[i] != nil {
					r.report.Skipped = append(r.report.Skipped, SkippedFile{File: f, Error: errs[i].Error()})
					r.warn(progress, StageFeatures, "skipping an unreadable file: %v", errs[i])
					continue
				}
				copy(buf[len(names)*n:], pix[i])
				names = append(names, f)
			}
		}
		if len(names) == 0 {
			break
		}
		clear(buf[len(names)*n:])
		x := tensors.FromFlatDataAndDimensions(buf, batch, size, size, 3)
		out, err := exec.Exec(x)
		x.FinalizeAll()
		if err != nil {
			return fmt.Errorf("mindseye: features of %s: %w", names[0], err)
		}
		a, err := tensors.CopyFlatData[float32](out[0])
		out[0].FinalizeAll()
		if err != nil {
			return err
		}
		for i := range names {
			for _, v := range a[i*r.c : (i+1)*r.c] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("mindseye: the target layer's features of %s are not finite; check the model's weights", names[i])
				}
				r.feats = append(r.feats, float64(v))
			}
		}
		r.images = append(r.images, names...)
		r.note(progress, Event{Stage: StageFeatures, Done: len(r.images) + len(r.report.Skipped), Total: len(files),
			Message: fmt.Sprintf("features of %d/%d images", len(r.images)+len(r.report.Skipped), len(files))})
	}
	r.report.Images = r.images
	if len(r.images) <= 2 {
		return fmt.Errorf("mindseye: %d readable image(s) of %d files; the method needs at least 3 (t-SNE and k-means of a set)", len(r.images), len(files))
	}
	return nil
}
