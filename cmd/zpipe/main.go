// Command zpipe runs declarative data pipelines: it reads records from
// files, checks them against CUE schemas and writes them in other formats.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// zpipe streams records, so its live heap stays small; collecting at
	// 200% of it rather than 100% buys about 15% throughput for a few MB
	// (measured: 0.49 s at 26 MB against 0.42 s at 32 MB for 200,000
	// records). GOGC, when set, still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	os.Exit(Main())
}
