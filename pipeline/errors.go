package pipeline

import (
	"fmt"
	"strings"
)

// Diagnostic is one problem found in a manifest, with its position.
type Diagnostic struct {
	File      string // as the user named it
	Line, Col int
	// Path is the manifest path of the value, such as stages.users.schema.
	Path     string
	Msg      string
	Severity Severity
}

// Severity says whether a Diagnostic fails a manifest. The zero value is
// SeverityError, so every diagnostic Load and Compile report is an error.
type Severity int

// The severities, worst first.
const (
	SeverityError Severity = iota
	// SeverityWarning is for what may be intended, such as a glob that
	// matches nothing yet.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.Line, d.Col)
	}
	b.WriteString(": ")
	if d.Path != "" {
		b.WriteString(d.Path + ": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Error lists what is wrong with a manifest. Nothing runs while a manifest
// has one.
type Error struct {
	Diags []Diagnostic
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// ExitCode is 2: a usage or manifest error, so nothing ran.
func (e *Error) ExitCode() int { return 2 }
