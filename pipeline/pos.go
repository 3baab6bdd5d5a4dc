package pipeline

import (
	"strings"

	"github.com/zpipe/zpipe/format"
)

// source is what Load keeps of a manifest for later positions: the name
// the user gave it and its decoded YAML, which can locate any node.
type source struct {
	name string
	rec  format.Record
}

// Pos returns the line and column in the manifest of the node at path,
// given as object keys and list indexes: Pos("stages", "users", "outputs",
// "1"). A path that is absent locates its nearest present parent. It is
// 0, 0 for a Manifest that Load did not return.
func (m *Manifest) Pos(path ...string) (line, col int) {
	if m.src == nil {
		return 0, 0
	}
	return m.src.rec.Locate(path)
}

// DisplayName returns the manifest's file as the user named it to Load.
func (m *Manifest) DisplayName() string {
	if m.src != nil {
		return m.src.name
	}
	return m.File
}

// ErrorAt places err at the manifest node at path, one diagnostic a line,
// as validate reports it: a CUE error may hold several lines, each with
// its own position in the schema.
func (m *Manifest) ErrorAt(err error, path ...string) *Error {
	line, col := m.Pos(path...)
	e := &Error{}
	for _, msg := range strings.Split(err.Error(), "\n") {
		e.Diags = append(e.Diags, Diagnostic{File: m.DisplayName(), Line: line, Col: col, Path: dotted(path), Msg: msg})
	}
	return e
}
