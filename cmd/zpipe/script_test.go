package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zpipe/zpipe/internal/cachetest"
	"github.com/zpipe/zpipe/internal/journal"
)

func TestMain(m *testing.M) {
	testscript.Main(cachetest.Wrap(m), map[string]func(){
		"zpipe": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. ZPIPE_UPDATE=1
// rewrites their expected output blocks from what zpipe now prints.
func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// One cache for all scripts: each schema is tried in an evaluator's
	// process once (see schema.trial).
	cache := t.TempDir()
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		UpdateScripts:       os.Getenv("ZPIPE_UPDATE") == "1",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Scripts copy examples from here, so they test the examples
			// exactly as shipped.
			env.Setenv("ROOT", root)
			env.Setenv("NO_COLOR", "1")
			env.Setenv("ZPIPE_CACHE_DIR", cache)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"journal-append": journalAppend},
	})
}

// journalAppend appends each line of a file to a journal as a record, as
// a run that wrote it would: journal-append JOURNAL LINES.
func journalAppend(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: journal-append JOURNAL LINES")
	}
	var b []byte
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(ts.ReadFile(args[1]))), []byte("\n")) {
		b = journal.AppendFrame(b, line)
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_APPEND|os.O_WRONLY, 0)
	ts.Check(err)
	_, err = f.Write(b)
	ts.Check(err)
	ts.Check(f.Close())
}
