//go:build goexperiment.simd

package backend

// SIMD reports whether this binary was built with GOEXPERIMENT=simd, which the
// pure-Go backend needs for its fast matrix multiplication.
const SIMD = true
