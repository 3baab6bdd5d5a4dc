// Package cachetest points zpipe's cache at a temporary folder for the
// length of a test binary's run. The cache remembers the schemas tried in
// an evaluator's process; tests should leave nothing in the user's.
package cachetest

import "os"

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

// Main runs a test binary's tests with a temporary cache, and exits.
func Main(m interface{ Run() int }) {
	remove := Use()
	code := m.Run()
	remove()
	os.Exit(code)
}
