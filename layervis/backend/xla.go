//go:build cgo && !noxla

package backend

import (
	"os"

	"github.com/gomlx/go-xla/compute/xla"
)

const xlaCompiledIn = true

func disableAutoInstall() {
	// The plugin is named explicitly; never try to download one.
	_ = os.Setenv(xla.NoAutoInstallEnv, "1")
	xla.EnableAutoInstall(false)
}
