package main

import (
	"encoding/json"
	"io"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/atomicfile"
)

// writeProvenance writes the run's provenance to stdout for "-", or
// atomically to a file.
func (a *app) writeProvenance(dest string, sum *engine.Summary) error {
	write := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum.Provenance)
	}
	if dest == "-" {
		return write(a.stdout)
	}
	return atomicfile.Write(dest, write)
}
