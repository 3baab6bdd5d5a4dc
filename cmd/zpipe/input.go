package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// input is one file named on the command line, or standard input for -.
type input struct {
	r      io.Reader
	close  func() error
	name   string // in messages
	format format.Format
}

// openInput opens file, or standard input for -, and finds its format:
// forced when --from says it, else from its name, else from its first
// bytes (through any compression).
func (a *app) openInput(file string, forced format.Format) (*input, error) {
	if file != pipeline.Stdin {
		f := forced
		if f == "" {
			var err error
			if f, err = engine.DetectFile(file); err != nil {
				if errors.As(err, new(*fs.PathError)) {
					return nil, notReadable(err) // missing, say
				}
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
		fh, err := os.Open(file)
		if err != nil {
			return nil, notReadable(err)
		}
		return &input{r: fh, close: fh.Close, name: filepath.Clean(file), format: f}, nil
	}
	in := bufio.NewReaderSize(a.stdin, 64<<10)
	f := forced
	if f == "" {
		head, _ := in.Peek(4096)
		var ok bool
		if f, ok = format.Detect("", head); !ok {
			return nil, errors.New("standard input: cannot tell its format from its content; say it with --from")
		}
	}
	return &input{r: in, close: func() error { return nil }, name: "<stdin>", format: f}, nil
}

// parseFrom reads --from: "" or auto means detect.
func parseFrom(name string) (format.Format, error) {
	if name == "" || name == "auto" {
		return "", nil
	}
	f, err := format.Parse(name)
	if err != nil {
		return "", usageError{fmt.Errorf("--from %q: use auto, %s", name, format.Names())}
	}
	return f, nil
}

// unreadableError is an input that could not be opened: no record was
// read from it, so none is counted invalid.
type unreadableError struct{ error }

// notReadable says "missing.json: no such file or directory", as cat
// does, rather than "open missing.json: ...".
func notReadable(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return unreadableError{fmt.Errorf("%s: %w", pe.Path, pe.Err)}
	}
	return unreadableError{err}
}
