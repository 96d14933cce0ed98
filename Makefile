# layervis build entry points. Every Go command here runs with
# GOEXPERIMENT=simd: the pure-Go backend needs it for fast matrix products,
# and it cannot be set in go.mod.
export GOEXPERIMENT := simd
GO ?= go
FUZZTIME ?= 10s

.PHONY: all build demo test fuzz bench deps vet

all: build

build:
	$(GO) build ./...

# The main job on the embedded default.
demo:
	$(GO) run ./examples/layers -model resnet18
	$(GO) run ./examples/activations -model resnet18 -image examples/testdata/pattern.png \
		-layer layer3 -out /tmp/layervis-demo-layer3.npy -grad /tmp/layervis-demo-grad.npy -force

# The test suite: unit tests, PyTorch parity tests and a short run of every
# fuzz target.
test: vet
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) fuzz

vet:
	$(GO) vet ./...

# Runs each fuzz target for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Speed: ResNet-50 step on the pure-Go backend next to PyTorch CPU.
bench:
	./scripts/bench.sh

# Debian packages the tests use (PyTorch, NumPy, OpenCV as references).
deps:
	./scripts/deps.sh
