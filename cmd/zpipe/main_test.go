package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// zpipe runs at GOGC=200 from before the packages whose init allocates
// most: at 100, the 3 MB they allocate set off a collection, 1.5 ms of
// zpipe version's 15. This binary links what zpipe links, so it
// initializes them in the same order.
func TestGOGCIsSetBeforeTheHeavyInits(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "GOGC=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	at := func(pkg string) int {
		i := strings.Index(string(out), "init "+pkg+" @")
		if i < 0 {
			t.Fatalf("no init of %s in:\n%s", pkg, out)
		}
		return i
	}
	gogc := at("github.com/zpipe/zpipe/internal/gogc")
	for _, heavy := range []string{"github.com/santhosh-tekuri/jsonschema/v6", "github.com/nats-io/nats-server/v2/server"} {
		if at(heavy) < gogc {
			t.Errorf("%s initializes before internal/gogc", heavy)
		}
	}
}
