package mindseye

import (
	"context"
	"errors"

	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/photo"
)

// ToolboxObjective returns the Mind's Eye dual objective of the facets
// found by [Run.Prepare], as a layervis/optvis objective over a batch of
// one image per facet (to maximize): the activation term on each facet's
// channels weighted by its target ([optvis.ChannelSetOf]), minus the
// Charbonnier distance of the pooled target activations to the facets'
// targets ([optvis.PooledDistanceOf]) and the L1 penalty on the penalty
// layer at weight lambda ([optvis.L1]), each scaled as the run's preset
// scales Stage C's terms. It is the objective Stage C's step minimizes the
// negation of (the same definition, with the data fixed instead of fed).
func (r *Run) ToolboxObjective(lambda float64) (optvis.Objective, error) {
	if !r.prepared || r.spec == nil {
		return optvis.Objective{}, errors.New("mindseye: call Prepare before ToolboxObjective")
	}
	return r.spec.objective(r.cfg.Target, optvis.Fixed(weightedTarget32(r.weights, r.target)...),
		optvis.Fixed(r.target...), optvis.Fixed(float32(lambda))), nil
}

// ToolboxRender renders the facets found by [Run.Prepare] with
// layervis/optvis instead of Stage C's loop ([Run.Step]): the non-reference
// variant of the method. Each facet's image starts from its exemplar blend
// in the parameterization p (usually [optvis.FourierParam], decorrelated
// Fourier; see [optvis.FromImage]) and is
// optimized for steps steps with Adam at learning rate lr, small jitter,
// scale and rotation ([optvis.AccentTransforms]) and the dual objective
// ([Run.ToolboxObjective]) at the end value of the configuration's λ
// schedule; no host regularizers, mask or quantization. It returns
// optvis's result (the final images are Result.Final().Images, in facet
// order) and writes nothing.
func (r *Run) ToolboxRender(ctx context.Context, p optvis.Param, steps int, lr float64, progress func(optvis.Event), snapshots ...int) (*optvis.Result, error) {
	obj, err := r.ToolboxObjective(r.cfg.Lambda.End)
	if err != nil {
		return nil, err
	}
	var blends []*photo.RGB
	for _, img := range r.Images() {
		blends = append(blends, photo.FromImage(img))
	}
	p, err = optvis.FromImage(p, blends...)
	if err != nil {
		return nil, err
	}
	return optvis.Render(ctx, r.b, r.m, obj).Size(r.cfg.Size).Batch(len(blends)).Param(p).
		Transforms(optvis.AccentTransforms()...).Steps(steps).LR(lr).Seed(r.seed).
		Snapshots(snapshots...).Progress(progress).Done()
}
