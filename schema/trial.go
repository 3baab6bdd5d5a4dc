package schema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
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
		if fi, err := os.Lstat(mark); err == nil && isMark(fi) && trustedDir(filepath.Dir(mark)) {
			if time.Since(fi.ModTime()) > markTrimEvery {
				now := time.Now()
				os.Chtimes(mark, now, now) // still in use: kept by trimMarks
			}
			return nil, nil
		}
	}
	ctx := s.loading
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // stopped: no evaluator to start
	}
	trials.Add(1)
	c, err := s.startChild(ctx)
	if ctx.Err() != nil {
		if c != nil {
			c.kill()
		}
		return nil, ctx.Err()
	}
	var refused *refusedError
	var start *startError
	switch {
	case errors.As(err, &refused), errors.As(err, &start):
		// This process's compile says why it refuses; and where no
		// evaluator starts (its executable replaced, say), the schema
		// is compiled as it was before trials.
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%s: CUE cannot compile the schema: %w", s.display(s.spec.File), err)
	}
	if mark != "" && os.MkdirAll(filepath.Dir(mark), 0o700) == nil && trustedDir(filepath.Dir(mark)) {
		// A cache: losing it costs a trial. Never through a link, and
		// never over a file someone else put there.
		if f, err := os.OpenFile(mark, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600); err == nil {
			f.Close()
			trimMarks(filepath.Dir(mark))
		}
	}
	return c, nil
}

// trials counts the evaluators started for a trial, for tests.
var trials atomic.Int64

// Every edit of a schema, and every new build of zpipe, leaves marks no
// one will look up again. They are trimmed as Go trims its build cache:
// a mark not used for markUnused goes, in a look at most once a
// markTrimEvery, which a used mark's time is brought up to date within.
const (
	markUnused    = 30 * 24 * time.Hour
	markTrimEvery = 24 * time.Hour
)

// isMark reports whether fi is a trial mark: an empty regular file of
// this user, named as trialMark names it. Nothing else in the folder is
// trusted, or trimmed: ZPIPE_CACHE_DIR may name a folder that holds more.
func isMark(fi os.FileInfo) bool {
	name := fi.Name()
	return fi.Mode().IsRegular() && fi.Size() == 0 && ownedByMe(fi) && len(name) == sha256.Size*2 && isLowerHex(name)
}

// trustedDir reports whether the marks' folder is a folder of this user's
// that only it may write to, not a link: a mark another user could
// plant would skip the trial of a schema that crashes CUE.
func trustedDir(dir string) bool {
	fi, err := os.Lstat(dir)
	return err == nil && fi.IsDir() && private(fi)
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// trimMarks removes the marks in dir not used for markUnused, unless it
// did so less than markTrimEvery ago.
func trimMarks(dir string) {
	stamp := filepath.Join(dir, "trimmed")
	if fi, err := os.Lstat(stamp); err == nil && time.Since(fi.ModTime()) < markTrimEvery {
		return
	}
	f, err := os.OpenFile(stamp, os.O_WRONLY|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return
	}
	f.Close()
	now := time.Now()
	if os.Chtimes(stamp, now, now) != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && isMark(fi) && time.Since(fi.ModTime()) > markUnused {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
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
	// A file by its role, its kind (CUE or JSON Schema) and its content.
	file := func(role, path string) {
		field(role)
		field(strconv.FormatBool(IsJSONSchema(path)))
		field(hello.Sources[path])
	}
	// Another build of zpipe may compile it otherwise.
	field(exe)
	field(strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().String())
	file("schema #"+hello.Spec.Def, hello.Spec.File)
	if hello.Transform != nil {
		file("transform #"+hello.Transform.Def, hello.Transform.File)
	}
	for _, url := range slices.Sorted(maps.Keys(hello.Refs)) {
		file("ref "+url, hello.Refs[url])
	}
	field("whole " + strconv.FormatBool(hello.NativeWhole))
	// Any other file, such as one a CUE schema imports.
	var rest []string
	for path, src := range hello.Sources {
		rest = append(rest, strconv.FormatBool(IsJSONSchema(path))+" "+src)
	}
	slices.Sort(rest)
	for _, src := range rest {
		field("file")
		field(src)
	}
	return filepath.Join(dir, "schemas", hex.EncodeToString(h.Sum(nil)))
}
