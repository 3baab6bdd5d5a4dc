// Command gendata writes a deterministic set of user records as ndjson, for
// benchmarks: every hundredth record is invalid against the #User schema
// that -schema writes. The records come from internal/benchdata, which
// cmd/zpipe-bench uses too.
//
//	go run ./internal/gendata -n 200000 > users.ndjson
//	go run ./internal/gendata -schema > user.cue     # the schema they are made for
//	go run ./internal/gendata -jsonschema > user.schema.json  # #User as a JSON Schema
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
	schema := flag.Bool("schema", false, "write the records' CUE schema (#User, #UserFlat) instead")
	jsonSchema := flag.Bool("jsonschema", false, "write #User as a JSON Schema instead")
	flag.Parse()
	switch {
	case *schema:
		fmt.Print(benchdata.Schema)
		return
	case *jsonSchema:
		fmt.Print(benchdata.JSONSchema)
		return
	}
	if err := benchdata.WriteNDJSON(os.Stdout, *n, *seed, *pad); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}
