package engine

import (
	"runtime/debug"
	"sync"
)

// version is set at build time with -ldflags "-X github.com/zpipe/zpipe/engine.version=v1.2.3".
var version = ""

// Version returns zpipe's version: the one set at build time, else the
// module version go install recorded, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	return moduleVersion()
}

// moduleVersion is read once: every item's fingerprint names the
// version, and parsing the build information costs 10 µs a time.
var moduleVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
})
