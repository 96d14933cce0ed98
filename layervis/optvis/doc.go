// Package optvis is layervis's feature-visualization toolbox: it
// synthesizes images that maximize an objective defined on a CNN's
// activations, from small composable pieces, in one compiled GoMLX step per
// iteration (pure-Go backend on CPU, XLA on GPU).
//
// # Rendering
//
//	b, _ := backend.Get() // the backend GOMLX_BACKEND names: pure Go when unset
//	m, _, _ := zoo.Open("demo", "")
//	res, err := optvis.Render(ctx, b, m, optvis.Channel("tower_0/MobilenetV3/expanded_conv_5/expand/Relu", 7)).
//		Size(128).Steps(256).Snapshots(64, 128).Done()
//	img := res.Final().Images[0] // *image.NRGBA
//
// [Render] returns a [Renderer]; its options (Size, Batch, Param,
// Transforms, Steps, Snapshots, Seed, LR, Adam, RedirectReLU, Schedule,
// Progress) end
// with [Renderer.Done], which runs the steps and returns a [Result]: the
// images of each [Snapshot] and the objective's value on them (untransformed).
// Progress events ([Event]) follow mindseye's style: a compile message,
// then one event per step with the objective's value, the step time and
// the snapshot when one was taken. Cancelling the context stops after the
// current step and returns what was made (Result.Interrupted, and the
// context's error).
//
// A ReLU unit that is zero on the initial image gets no gradient, and a
// render of it would never start; so for its first [RedirectSteps] steps
// a render from a random start takes lucid's redirected ReLU gradients
// (nn.RedirectReLUs: in an image where a whole ReLU layer passes no
// gradient, the gradient that pushes the units back into their live range
// passes), then the true gradient ([Renderer.RedirectReLU] sets the
// number of steps; 0 turns it off).
//
// The parameters and Adam's moments stay on the device between steps; the
// host sees only the objective's values every step and the images at
// snapshots. Random transforms are drawn on the host and fed as inputs, so
// one compiled graph serves every step.
//
// # Objectives (objective.go)
//
// An [Objective] is a scalar graph function of named layers' activations
// ([Acts], NCHW as cnn.Model.Build returns them), maximized by rendering:
// [Channel], [Neuron], [DeepDream], [Direction], [DirectionNeuron],
// [Diversity], [ClassLogit], the penalties [L1], [L2], [TV] (positive
// values: add them with a negative weight, usually on [ImageLayer]), and the
// Mind's Eye terms [ChannelSet] and [PooledDistance]. They compose with
// [Sum], [Objective.Scale], [Objective.Neg], [Objective.Offset], and
// [Objective.At] restricts one to an image of the batch:
//
//	obj := optvis.Sum(
//		optvis.Channel(layer, 3).At(0), optvis.Channel(layer, 17).At(1),
//		optvis.TV(optvis.ImageLayer).Scale(-1e-4))
//
// Pick layers whose activations are not capped: a ReLU6 output (and the
// ReLU6 inside a hard-swish) stops giving gradient at 6, so a rendering
// saturates there and shows little; take the block's output or the
// convolution before the cap instead.
//
// The terms of a Sum are reported one by one (Result.TermNames,
// Snapshot.Terms), e.g. one value per channel above.
//
// An objective can also be built inside a caller's own compiled step (as
// the Mind's Eye's Stage C does): its data is then [Fed] from graph inputs
// rather than [Fixed] ([ChannelSetOf], [PooledDistanceOf],
// [Objective.ScaleBy] for a scheduled weight), and [Objective.Share] makes
// a micro-batch's value its share of the whole batch's, so that one
// compiled step serves every micro-batch.
//
// # Parameterizations (param.go, fourier.go, color.go, spectrum.go)
//
// A [Param] turns the optimized tensor into RGB images in [0,1]: [Pixel],
// [Fourier] (lucid's 1/f-scaled spectrum, [FreqScale]) or [MaCo] (a fixed
// magnitude spectrum, the phase optimized; [DemoSpectrum] is the demo
// photos' average as no ImageNet spectrum is available offline), in lucid's
// decorrelated colour space ([Recorrelate], [ColorCorrelation]), mapped to
// [0,1] by a sigmoid or a straight-through clip. The images are then
// mapped to the model's input (channel order, range, mean and std from
// cnn.Input). The pure-Go backend has no FFT op: the inverse 2-D DFT is
// written as two matrix products there ([InverseRealDFT2] with
// [DFTMatMul]) and with GoMLX's FFT ops on XLA ([DFTFFT]).
// [FourierParam] (the default), [PixelParam] and [MaCoParam] are the
// standard settings.
//
// # Transforms (transform.go)
//
// [Padding], [Jitter], [Scale], [Rotate] and [BoxCrop] compose into one
// bilinear resampling per image and step; [Noise] adds pixel noise.
// [Standard] is lucid's standard_transforms.
//
// # Optimizer (adam.go)
//
// [Adam] is written in the graph exactly as torch.optim.Adam; a
// [Renderer.Schedule] multiplies its learning rate per step.
//
// # Feature accentuation (accent.go)
//
// [FromImage] starts a parameterization from photos (the inverse of
// Param.Image: inverse sigmoid, inverse colour matrix, forward DFT), [Keep]
// (an earlier layer's features, faccent) and [KeepPixels] (Horama) hold the
// image close to the photo, [Balance] weighs such a regularizer against the
// objective by their gradient norms at the start, and [Accentuate] puts
// them together into a Renderer; [Evaluate] gives an objective's value on
// photos.
//
// # Never hanging
//
// compute v0.1.6's pure-Go backend can deadlock when two large matrix
// products run in parallel, which the DFT products of the Fourier
// parameterizations trigger, when its worker pool is bounded. layervis/backend
// gives the parallel modes (ops_dynamic, the default, and ops_parallel) an
// unbounded pool, and refuses the "parallelism=N" option that would bound it
// again (GOMAXPROCS=N uses fewer cores instead); a test runs a graph of that
// shape under a timeout in each mode.
package optvis
