//go:build !cgo || noxla

package backend

const xlaCompiledIn = false

func disableAutoInstall() {}
