// Command gendata writes a deterministic set of user records as ndjson, for
// benchmarks: every hundredth record is invalid against the #User schema
// of scripts/bench-run.sh. The records come from internal/benchdata, which
// cmd/zpipe-bench uses too.
//
//	go run ./internal/gendata -n 200000 > users.ndjson
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zpipe/zpipe/internal/benchdata"
)

func main() {
	n := flag.Int("n", 200000, "records to write")
	seed := flag.Uint64("seed", 1, "random seed")
	pad := flag.Int("pad", 0, "bytes of filler text per record, to make big files from few records")
	flag.Parse()
	if err := benchdata.WriteNDJSON(os.Stdout, *n, *seed, *pad); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}
