# layervis build entry points. Every Go command here runs with
# GOEXPERIMENT=simd: the pure-Go backend needs it for fast matrix products,
# and it cannot be set in go.mod.
export GOEXPERIMENT := simd
GO ?= go
FUZZTIME ?= 10s
# The fuzzer minimizes every input that finds new coverage, for up to 60 s
# by default, executing nothing new meanwhile: bound it so that a short run
# fuzzes.
FUZZMINIMIZE ?= 2s
KERNEL = $(GO) run ./kernel/cmd/layervis-kernel

.PHONY: all build demo test test-only setup deps assets kernel doctor notebooks notebooks-regen jupyter fuzz bench bench-mindseye gpu-build gpu-dry bench-optvis bench-variants vet

all: build

build:
	$(GO) build ./...

# The main job: the Mind's Eye method on the embedded default (the offline
# demo model and photos, quick settings, the toolbox variant: see
# out/bin/mindseye -help), outputs in out/mindseye. The build is its own,
# announced step: the first one compiles GoMLX, silently, for 1-2 minutes.
demo: assets
	@echo "demo: building examples/mindseye (the first build compiles GoMLX: 1-2 minutes on 2 cores, no output)"
	$(GO) build -o out/bin/mindseye ./examples/mindseye
	out/bin/mindseye -out out/mindseye

# The test suite, after installing what it needs: unit tests, reference
# comparisons (PyTorch, TF.js, OpenCV, scikit-image, scikit-learn, SciPy),
# every notebook executed headless, and a short run of every fuzz target.
test: setup test-only

test-only: vet
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz

# Everything the tests need; each step does nothing when already done.
setup: deps assets kernel

# Debian packages of the reference implementations (root or sudo once).
deps:
	./scripts/deps.sh

# The offline demo model (npm) and photos (Debian packages), checksummed,
# into $${LAYERVIS_CACHE:-~/.cache/layervis}.
assets:
	./scripts/fetch-assets.sh

# The notebook kernel: Jupyter (the headless runner and the notebook
# server make jupyter starts), gonb, goimports, gopls, the kernelspec.
kernel:
	$(KERNEL) setup

doctor:
	$(KERNEL) doctor

# Execute every notebook headless and check its outputs; -regen writes the
# executed notebooks (with outputs) back.
notebooks:
	$(KERNEL) run

notebooks-regen:
	$(KERNEL) run -write

# Jupyter with the layervis kernel, for interactive use.
jupyter:
	$(KERNEL) notebook

vet:
	$(GO) vet ./...

# Runs each fuzz target for FUZZTIME, minimizing new inputs for at most
# FUZZMINIMIZE each.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZE=$(FUZZMINIMIZE) ./scripts/fuzz.sh

# Speed: ResNet-50 step on the pure-Go backend next to PyTorch CPU.
bench:
	./scripts/bench.sh

# Speed: one Mind's Eye iteration (compiled step + host regularizers) next to
# a PyTorch implementation of the step.
bench-mindseye:
	./scripts/bench-mindseye.sh

# The GPU check (scripts/gpu-check.sh): gpu-build puts the binaries (with
# XLA), the demo assets and the Python helpers into the git-ignored .gpu/,
# to carry to a CUDA machine and run `scripts/gpu-check.sh run` there;
# gpu-dry runs the check's CPU parts here.
gpu-build:
	./scripts/gpu-check.sh build

gpu-dry: gpu-build
	./scripts/gpu-check.sh dry

# Quality: each parameterization over 16 channels at three depths of the demo
# model, against the demo photos (activation, high-frequency share).
bench-optvis:
	./scripts/bench-optvis.sh

# Quality: the Mind's Eye's two variants (loop, toolbox) on the demo, per
# facet over seeds 0-2 (activation gain, high-frequency share next to the
# photos'); BENCH_OUT=DIR writes blend | loop | toolbox strips. 23
# minutes on a busy 2-core machine.
bench-variants:
	$(GO) test ./examples/mindseye -run '^$$' -bench ToolboxVsClean -benchtime 1x -v -timeout 90m
