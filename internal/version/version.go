// Package version holds the build's version, set by the linker:
// -X github.com/billyronks/couchestor/internal/version.Version=v1.0.0
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release this binary was built from.
var Version = "dev"

// String is the one line --version prints.
func String(binary string) string {
	v := Version
	if v == "dev" {
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	return fmt.Sprintf("%s %s (%s %s/%s)", binary, v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
