package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/zpipe/zpipe/engine"
)

// findingFormats are the values of check's and run's --format.
const findingFormats = "text, json or github"

// recordFindings prints the errors of invalid records as they come, so
// that a million of them take no memory: a line each (text), the
// elements of one JSON array (json), or GitHub Actions annotations on
// the records' files and lines (github).
type recordFindings struct {
	mu   sync.Mutex
	w    io.Writer
	mode string
	n    int
}

func newRecordFindings(w io.Writer, mode string) (*recordFindings, error) {
	switch mode {
	case "text", "json", "github":
		return &recordFindings{w: w, mode: mode}, nil
	}
	return nil, usageError{fmt.Errorf("--format %q: use %s", mode, findingFormats)}
}

type jsonRecordFinding struct {
	File    string `json:"file"`
	Record  int    `json:"record,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Schema  string `json:"schema,omitempty"`
	Error   string `json:"error"`
}

func (f *recordFindings) report(e engine.RecordError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	switch f.mode {
	case "text":
		fmt.Fprintln(f.w, e.Error())
	case "json":
		b, _ := json.Marshal(jsonRecordFinding{e.Source, e.Record, e.Line, e.Column, e.Path, e.Message, e.Schema, e.Error()})
		sep := ",\n  "
		if f.n == 1 {
			sep = "[\n  "
		}
		fmt.Fprintf(f.w, "%s%s", sep, b)
	case "github":
		props := "file=" + ghEscape(e.Source, true)
		if e.Line > 0 {
			props += fmt.Sprintf(",line=%d,col=%d", e.Line, e.Column)
		}
		fmt.Fprintf(f.w, "::error %s::%s\n", props, ghEscape(e.Detail(), false))
	}
}

// close ends the JSON array, which is [] when all records were valid, so
// that a consumer never has to tell "none" from "no output".
func (f *recordFindings) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode != "json" {
		return
	}
	if f.n == 0 {
		fmt.Fprintln(f.w, "[]")
		return
	}
	fmt.Fprintln(f.w, "\n]")
}
