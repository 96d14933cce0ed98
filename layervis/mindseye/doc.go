// Package mindseye implements "The Mind's Eye: Visualizing Class-Agnostic
// Features of CNNs" (A. Stergiou, ICIP 2021): given a set of images, it
// creates K images that show the most informative features of one layer
// of a network, one per "facet" of the set, without a generator network and
// without changing the model.
//
// The method, as the released code (vis.py) runs it, in the order of this
// package's files:
//
//   - images.go: the image set (files and folders), each image resized to
//     Size×Size with OpenCV's INTER_AREA (its uint8 arithmetic in Compat,
//     as the reference resizes 8-bit images).
//
//   - run.go: the Run, its life cycle (New, Prepare, Continue, Finish) and
//     Generate.
//
//   - features.go, Stage A (Run.Prepare): the target layer's activations of
//     every image, globally average-pooled to a C-vector, in batches.
//
//   - facetset.go and facets.go, Stage B: PCA (50 components), exact t-SNE to 2-D and
//     k-means++ into K facets. Per facet, M exemplars, soft weights from
//     their t-SNE distances to the centre, the target vector T_k (weighted
//     mean of the exemplars' features), its n largest channels S_k, and the
//     initial image: the weighted blend of the exemplars.
//
//   - optimize.go, Stage C (Run.Step): each iteration's schedules, host
//     operations and step, in the reference's order.
//
//   - graph.go: one compiled computation per iteration
//     that feeds the K images to the network and takes the gradient of
//
//     −Σ W·a·T  +  Charbonnier(a − T) + log Z(1)  +  λ·‖P‖₁
//
//     (a the pooled target activations, P the penalty layer; the objective
//     is built from layervis/optvis's pieces, the same definition as
//     Run.ToolboxObjective) with respect
//     to the input, masks it with a centred Gaussian, takes the SGD step
//     x − 1.9·lr·mask⊙∇ in normalized space (optvis.Nesterov) and quantizes
//     back to 8 bits (optvis.Levels);
//     it also pastes the images into the jitter canvas (a 1.2× zoom of the
//     initial images). The same step with lr = 0 measures the snapshots.
//
//   - stepper.go: the step runs over micro-batches of the K images (each
//     image's gradient depends on that image alone, so the result does not
//     depend on the split; memory.go chooses it from the step's estimated
//     memory and refuses a run that cannot fit), and the images, canvas and
//     momentum buffers stay on the device between host operations.
//
//   - host.go and hostops.go: between steps, on the host and in parallel
//     over images, as periodic host operations, the window re-crop from
//     the canvas every 400 iterations, a centre-weighted
//     Gaussian blur and +5 brightness, and a centre-weighted TV (split
//     Bregman) denoising; learning rate, mask width, blur, denoising weight
//     and λ follow linear schedules. These
//     steps reproduce the reference's libraries bit for bit (cv2.GaussianBlur,
//     skimage's denoise_tv_bregman, scipy.ndimage.zoom) and its float32
//     arithmetic for the masks and blends, in both presets.
//
//   - record.go, report.go and plot.go: facet_XX/iteration_NNNN.png snapshots,
//     tsne.png and report.json in the output folder.
//
//   - toolbox.go: a variant of Stage C that is not the reference's
//     (Run.ToolboxRender, instead of Run.Step): the same facets, each image
//     optimized from its exemplar blend with layervis/optvis (decorrelated
//     Fourier parameterization, small jitter, scale and rotation, Adam) on
//     the same dual objective, without the host regularizers, mask or 8-bit
//     steps; same outputs. On the demo model its images show object parts
//     where the loop's show a confetti-like blob on the faded blend, at
//     somewhat lower activation gains; it is the default of
//     examples/mindseye (make demo) and notebook 01.
//
// The reference code has quirks that change what is optimized (the
// farthest exemplars are blended, every image is pushed on every facet's
// channels, BGR images go in with RGB statistics, ...). [Quirks] switches
// each of them; [Compat] reproduces vis.py and [Clean] (the default) is the
// method's apparent intent. See the method note
// (shared/reference/minds-eye-method.md) for the reference in detail.
//
// Use [Generate] for a whole run, or drive it step by step from a notebook:
//
//	cfg := mindseye.Clean()
//	cfg.Backend, err = backend.Get() // the backend GOMLX_BACKEND names
//	cfg.Model, cfg.Images, cfg.Out = m, []string{"photos/"}, "out/"
//	r, err := mindseye.New(cfg)
//	err = r.Prepare(ctx, nil)
//	for {
//		ev, err := r.Step(ctx)
//		if errors.Is(err, mindseye.ErrDone) { break }
//		if ev.Snapshot != nil { show(ev.Snapshot.Images) }
//	}
//	err = r.Finish()
package mindseye
