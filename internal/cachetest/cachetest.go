// Package cachetest points zpipe's cache at a temporary folder for the
// length of a test binary's run. The cache remembers the schemas tried in
// an evaluator's process; tests should leave nothing in the user's.
package cachetest

import "os"

// Runner is what runs a test binary's tests: *testing.M.
type Runner interface{ Run() int }

// Use sets ZPIPE_CACHE_DIR to a new temporary folder, and returns what
// removes it.
func Use() (remove func()) {
	dir, err := os.MkdirTemp("", "zpipe-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("ZPIPE_CACHE_DIR", dir)
	return func() { os.RemoveAll(dir) }
}

// Wrap runs m's tests with a temporary cache, unless the environment
// names one already: a process the tests started shares theirs.
func Wrap(m Runner) Runner { return wrapped{m} }

type wrapped struct{ m Runner }

func (w wrapped) Run() int {
	if os.Getenv("ZPIPE_CACHE_DIR") != "" {
		return w.m.Run()
	}
	remove := Use()
	defer remove()
	return w.m.Run()
}

// Main runs m's tests with a temporary cache, and exits.
func Main(m Runner) { os.Exit(Wrap(m).Run()) }
