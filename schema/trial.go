package schema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// CUE's evaluator can crash on a schema: a stack overflow, which no
// recover catches, ends the process with the runtime's stack trace (cue vet
// does the same). An isolated schema is therefore compiled first in an
// evaluator's process, where a crash is a message; only then in this one.
// A schema that compiled so is remembered in the user's cache, by its
// content and this executable, so that the trial costs one process start
// per schema, not per run.

// trial compiles the schema in an evaluator's process. It returns the
// evaluator, still running, when it compiled the schema, or nil when the
// schema was tried before or the evaluator refused it (this process's
// compile then says why, with its own file names).
func (s *Schema) trial() (*child, error) {
	mark := trialMark(s.hello())
	if mark != "" {
		if _, err := os.Stat(mark); err == nil {
			return nil, nil
		}
	}
	c, err := s.startChild(context.Background())
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%s: CUE cannot compile the schema: %w", s.display(s.spec.File), err)
	}
	if mark != "" && os.MkdirAll(filepath.Dir(mark), 0o755) == nil {
		os.WriteFile(mark, nil, 0o644) // a cache: losing it costs a trial
	}
	return c, nil
}

// trialMark is the file that says a schema compiled, under the user's
// cache; "" when there is no cache. It names the sources by content, not
// by path: a schema moved, or copied to a temporary folder, is the same.
func trialMark(hello childHello) string {
	dir := os.Getenv("ZPIPE_CACHE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(cache, "zpipe")
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	// Another build of zpipe may compile it otherwise.
	field(exe)
	field(strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().String())
	field(hello.Sources[hello.Spec.File])
	field(hello.Spec.Def)
	if hello.Transform != nil {
		field(hello.Sources[hello.Transform.File])
		field(hello.Transform.Def)
	}
	field(strconv.FormatBool(hello.NativeWhole))
	srcs := make([]string, 0, len(hello.Sources))
	for _, src := range hello.Sources {
		srcs = append(srcs, src)
	}
	slices.Sort(srcs)
	for _, src := range srcs {
		field(src)
	}
	return filepath.Join(dir, "schemas", hex.EncodeToString(h.Sum(nil)))
}
