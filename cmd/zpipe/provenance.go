package main

import (
	"io"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/atomicfile"
)

// writeProvenance writes the run's provenance to stdout for "-", or
// atomically to a file.
func (a *app) writeProvenance(dest string, sum *engine.Summary) error {
	write := func(w io.Writer) error { return sum.WriteProvenance(w, "  ") }
	if dest == "-" {
		return write(a.stdout)
	}
	return atomicfile.Write(dest, write)
}
