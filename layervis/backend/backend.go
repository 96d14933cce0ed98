// Package backend chooses the GoMLX compute backend layervis runs on.
//
// With GOMLX_BACKEND unset, layervis uses the pure-Go backend ("go"): it needs no
// C library, never downloads anything and works offline. XLA is used only when
// asked for, with an absolute path to a PJRT plugin:
//
//	GOMLX_BACKEND=xla:/abs/path/to/pjrt_c_api_cuda_plugin.so
//
// (jax's CUDA plugin, xla_cuda_plugin.so, works too). A name instead of a path
// ("xla:cuda") is looked up in PJRT_PLUGIN_LIBRARY_PATH as
// pjrt_c_api_<name>_plugin.so. layervis never auto-installs a plugin.
//
// On an NVIDIA GPU, XLA computes float32 convolutions and matrix products in
// TF32 by default, as PyTorch does for convolutions: [PrecisionEnvVar]
// ("fast", the default, or "exact") chooses; see [Precision].
//
// The pure-Go backend runs independent ops of a computation side by side
// (compute's ops_dynamic: while no other computation runs; ops_parallel:
// always) unless the configuration names ops_sequential, one op at a time.
// Only its matrix products use several cores inside, so [Branches] tells
// graph builders into how many independent branches to split a batch. The
// parallel modes get an unbounded worker pool: with compute v0.1.6's
// bounded one, two large matrix products running in parallel can deadlock
// (see newGo), so a "parallelism=N" option is refused with an error that
// points to GOMAXPROCS. [Describe] says which mode runs.
//
// The pure-Go backend is only fast when the binary was built with
// GOEXPERIMENT=simd (the Makefile and the notebook kernel set it);
// [SIMD] reports whether it was.
package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, "go".
)

// EnvVar is the environment variable that selects the backend
// ("go", or "xla:<plugin path or name>").
const EnvVar = compute.ConfigEnvVar

// Default is the configuration used when EnvVar is unset.
const Default = "go"

var (
	mu      sync.Mutex
	current compute.Backend
)

// PrecisionEnvVar is the environment variable that sets the float32
// precision of convolutions and matrix products on an NVIDIA GPU: "fast"
// (the default) or "exact". It is read when a backend starts.
const PrecisionEnvVar = "LAYERVIS_PRECISION"

// Precision is the arithmetic XLA may use for float32 convolutions and
// matrix products on an NVIDIA GPU.
type Precision string

const (
	// Fast lets cuDNN and cuBLAS use TF32 (10-bit mantissa products, float32
	// sums), like PyTorch's default for convolutions: activations differ
	// from a float64 reference by about 1e-3 and input gradients by about
	// 0.1 (relative to their largest value; PyTorch with TF32: 9e-4, 0.097).
	Fast Precision = "fast"
	// Exact computes in full float32 (NVIDIA_TF32_OVERRIDE=0 for cuDNN and
	// cuBLAS, and XLA's highest precision for matrix products): about 2e-6
	// and 6e-7 from a float64 reference, as on the CPU. It is slower.
	Exact Precision = "exact"
)

// tf32Override is the variable that disables TF32 in cuDNN and cuBLAS; they
// read it when they start, so it is set before the plugin loads.
const tf32Override = "NVIDIA_TF32_OVERRIDE"

// PrecisionSetting returns the precision [PrecisionEnvVar] asks for: [Fast]
// when unset. It fails on any other value.
func PrecisionSetting() (Precision, error) {
	switch p := Precision(strings.TrimSpace(os.Getenv(PrecisionEnvVar))); p {
	case "":
		return Fast, nil
	case Fast, Exact:
		return p, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q (TF32 on NVIDIA GPUs, the default) or %q (full float32)", PrecisionEnvVar, p, Fast, Exact)
	}
}

// withPrecision returns the XLA backend options opts for precision p: Exact
// adds tf32=false (XLA's highest precision for matrix products) and sets
// NVIDIA_TF32_OVERRIDE=0 in the environment, for cuDNN's convolutions,
// unless the user set that variable.
func withPrecision(opts string, p Precision) string {
	if p != Exact {
		return opts
	}
	if _, set := os.LookupEnv(tf32Override); !set {
		_ = os.Setenv(tf32Override, "0")
	}
	if !strings.Contains(opts, "tf32") {
		opts += ",tf32=false"
	}
	return opts
}

// Config returns the backend configuration layervis will use: the value of
// GOMLX_BACKEND if set and not empty, else [Default].
func Config() string {
	if c := strings.TrimSpace(os.Getenv(EnvVar)); c != "" {
		return c
	}
	return Default
}

// Get returns the process-wide backend, creating it on first use from [Config].
// Later calls return the same backend.
func Get() (compute.Backend, error) {
	mu.Lock()
	defer mu.Unlock()
	if current != nil && !current.IsFinalized() {
		return current, nil
	}
	b, err := New(Config())
	if err != nil {
		return nil, err
	}
	current = b
	return b, nil
}

// MustGet is like [Get] but panics on error; for examples and tests.
func MustGet() compute.Backend {
	b, err := Get()
	if err != nil {
		panic(err)
	}
	return b
}

// Local returns a process-wide pure-Go backend for what a model does on the
// host whatever backend it runs on: building graphs only for their shapes
// (the layer catalogue) and one-off preparation of weights while loading.
// Unlike [Get] it reads no environment variable: the backend that runs
// computations is the one passed to them.
func Local() (compute.Backend, error) {
	localOnce.Do(func() {
		local, localErr = newGo(Default, "")
	})
	return local, localErr
}

var (
	localOnce sync.Once
	local     compute.Backend
	localErr  error
)

// New creates a backend from a configuration string such as "go" or
// "xla:/abs/path/plugin.so", with the precision [PrecisionEnvVar] sets.
// Errors name the problem and the fix; it never panics and never downloads
// a plugin.
func New(config string) (b compute.Backend, err error) {
	prec, err := PrecisionSetting()
	if err != nil {
		return nil, err
	}
	name, opts, _ := strings.Cut(config, ":")
	switch name {
	case "go", "simplego":
		name = "go"
	case "xla", "stablehlo", "hlo", "shlo", "pjrt":
		if !xlaCompiledIn {
			return nil, fmt.Errorf("backend %q: this binary was built without XLA support (tag noxla or CGO_ENABLED=0); rebuild with cgo enabled and without -tags noxla, or use %s=go", config, EnvVar)
		}
		plugin, _, _ := strings.Cut(opts, ",")
		if plugin == "" {
			return nil, fmt.Errorf("backend %q: name a PJRT plugin, e.g. %s=xla:/abs/path/to/xla_cuda_plugin.so (layervis never downloads one)", config, EnvVar)
		}
		if strings.ContainsRune(plugin, os.PathSeparator) {
			if !filepath.IsAbs(plugin) {
				return nil, fmt.Errorf("backend %q: plugin path %q must be absolute", config, plugin)
			}
			if st, serr := os.Stat(plugin); serr != nil {
				return nil, fmt.Errorf("backend %q: PJRT plugin file %q not found: %v; point %s at an existing pjrt plugin .so", config, plugin, serr, EnvVar)
			} else if st.IsDir() {
				return nil, fmt.Errorf("backend %q: %q is a directory, not a PJRT plugin .so file", config, plugin)
			}
		}
		disableAutoInstall()
		name = "xla"
		opts = withPrecision(opts, prec)
	default:
		return nil, fmt.Errorf("unknown backend %q in %s=%q: use %q (pure Go, the default) or \"xla:/abs/path/to/pjrt_plugin.so\"", name, EnvVar, config, "go")
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("backend %q failed to start: %v", config, r)
		}
	}()
	if name == "go" {
		return newGo(config, opts)
	}
	cfg := name
	if opts != "" {
		cfg = name + ":" + opts
	}
	b, err = compute.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q failed to start: %w", config, err)
	}
	if !IsGo(b) {
		precisions.Store(b, prec)
	}
	return b, nil
}

// precisions holds the precision each XLA backend was started with.
var precisions sync.Map // compute.Backend → Precision

// newGo starts the pure-Go backend with the options opts (see goOptions).
//
// compute v0.1.6's pure-Go backend runs each ready op, and each worker of a
// matrix product, as a task of one pool bounded to 2·GOMAXPROCS tasks. A
// matrix product's Saturate waits, holding its task, for free slots; when
// the ops holding every slot are matrix products, all wait for ever. With
// an unbounded pool (parallelism -1) no task ever waits for a slot: ops
// start at once, and a product waits only for the workers it started
// itself, which finish. That is set on the backend's exported Workers pool
// (the "parallelism=-1" option would print to stdout); should that ever
// fail, the backend runs the ops one at a time instead. A "parallelism"
// option, which would bound the pool again, is refused (goOptions).
func newGo(config, opts string) (compute.Backend, error) {
	opts, err := goOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	b, err := compute.NewWithConfig("go:" + opts)
	if err != nil {
		return nil, fmt.Errorf("backend %q failed to start: %w", config, err)
	}
	mode := "ops in parallel when one computation runs, else one at a time" // ops_dynamic
	switch {
	case strings.Contains(opts, "ops_sequential"):
		goModes.Store(b, goMode{desc: "ops one at a time"})
		return b, nil
	case strings.Contains(opts, "ops_parallel"):
		mode = "ops in parallel"
	}
	if !unboundWorkers(b) { // not compute v0.1.6's layout: run ops one at a time rather than risk a deadlock
		b.Finalize()
		return newGo(config, opts+",ops_sequential")
	}
	mode += ", workers unbounded"
	goModes.Store(b, goMode{desc: mode, parallel: true})
	return b, nil
}

// goMode is how a pure-Go backend runs ops: desc for Describe, and whether
// it runs independent ops side by side.
type goMode struct {
	desc     string
	parallel bool
}

// goModes holds each pure-Go backend's goMode.
var goModes sync.Map // compute.Backend → goMode

// Branches returns how many independent branches a graph on b is best
// built in, where its work splits that way (the images of a batch): on the
// pure-Go backend running independent ops side by side, GOMAXPROCS, since
// it runs every op but a matrix product on one core, so that one branch's
// ops run beside another's; otherwise 1 (XLA schedules a graph itself, and
// one op at a time gains nothing from branches).
func Branches(b compute.Backend) int {
	if m, ok := goModes.Load(b); !ok || !m.(goMode).parallel {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// pool is the part of compute's worker pool (gobackend's Workers) that
// layervis sets.
type pool interface {
	MaxParallelism() int
	SetMaxParallelism(int)
}

// workers returns the worker pool of the pure-Go backend b, if it has the
// layout of compute v0.1.6 (a pointer to a struct with a Workers field).
func workers(b compute.Backend) (pool, bool) {
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("Workers")
	if !f.IsValid() || !f.CanInterface() {
		return nil, false
	}
	p, ok := f.Interface().(pool)
	return p, ok && p != nil && !reflect.ValueOf(p).IsNil()
}

// unboundWorkers makes b's worker pool unbounded and reports whether it did.
func unboundWorkers(b compute.Backend) bool {
	p, ok := workers(b)
	if !ok {
		return false
	}
	p.SetMaxParallelism(-1)
	return p.MaxParallelism() == -1
}

// goOptions returns the pure-Go backend's options: opts without
// "ops_dynamic", the backend's own default mode (unless they choose
// "ops_sequential" or "ops_parallel"), and without "parallelism=-1", the
// unbounded worker pool newGo sets anyway. Any other "parallelism" is an
// error: a bounded pool deadlocks (see newGo; a ResNet-50 image built in
// bands hung at parallelism=2 and 3), and GOMAXPROCS sets the cores
// instead (branches, bands and products all follow it).
func goOptions(opts string) (string, error) {
	var keep []string
	mode := ""
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "":
		case o == "ops_sequential" || o == "ops_parallel":
			mode = o
		case o == "ops_dynamic":
			mode = ""
		case o == "parallelism=-1": // what layervis sets anyway (compute would print it to stdout)
		case strings.HasPrefix(o, "parallelism="):
			return "", fmt.Errorf("option %q is not supported: compute v0.1.6's pure-Go backend deadlocks on a bounded worker pool "+
				"(matrix products wait for workers that other products hold), so layervis runs it unbounded; "+
				"to use fewer cores set GOMAXPROCS=N, to run one op at a time use %s=go:ops_sequential", o, EnvVar)
		default:
			keep = append(keep, o)
		}
	}
	if mode != "" {
		keep = append(keep, mode)
	}
	return strings.Join(keep, ","), nil
}

// Describe returns a one-line description of the backend in use, e.g.
// "go (Go Portable Compute Backend (parallelism=4), ops one at a time,
// SIMD on)" or "xla:/path/plugin.so - cuda [1 device(s)]".
func Describe(b compute.Backend) string {
	if b == nil {
		return "none"
	}
	if IsGo(b) {
		simd := "off (build with GOEXPERIMENT=simd for speed)"
		if SIMD {
			simd = "on"
		}
		mode := "ops as compute defaults"
		if m, ok := goModes.Load(b); ok {
			mode = m.(goMode).desc
		}
		return fmt.Sprintf("go (%s, %s, SIMD %s)", b.Description(), mode, simd)
	}
	d := b.Description()
	if p, ok := precisions.Load(b); ok {
		d += ", precision " + describePrecision(p.(Precision))
	}
	return d
}

// describePrecision says what p means on the GPU, noting a user's own
// NVIDIA_TF32_OVERRIDE, which cuDNN and cuBLAS obey whatever p says.
func describePrecision(p Precision) string {
	d := string(p) + " (TF32 on NVIDIA GPUs; " + PrecisionEnvVar + "=exact for full float32)"
	if p == Exact {
		d = string(p) + " (full float32)"
	}
	if v, set := os.LookupEnv(tf32Override); set && !(p == Exact && v == "0") {
		d += ", " + tf32Override + "=" + v
	}
	return d
}

// IsGo reports whether b is the pure-Go backend.
func IsGo(b compute.Backend) bool { return b != nil && b.String() == "go" }
