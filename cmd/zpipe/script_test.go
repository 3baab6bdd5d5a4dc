package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
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
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		UpdateScripts:       os.Getenv("ZPIPE_UPDATE") == "1",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Scripts copy examples from here, so they test the examples
			// exactly as shipped.
			env.Setenv("ROOT", root)
			env.Setenv("NO_COLOR", "1")
			return nil
		},
	})
}
