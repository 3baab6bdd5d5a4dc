package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkStartup starts zpipe as a user does, a process a time: zpipe
// version, and zpipe check of one small file, with jq beside them when it
// is installed. What it measures is mostly the packages' init (see
// internal/gogc):
//
//	go test -run '^$' -bench Startup -count 10 ./cmd/zpipe
func BenchmarkStartup(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "zpipe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	quickstart := filepath.Join("..", "..", "examples", "pipelines", "quickstart")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"version", []string{bin, "version"}},
		{"check", []string{bin, "check", "-s", filepath.Join(quickstart, "schemas", "user.cue") + "#User", filepath.Join(quickstart, "data", "guest.yaml")}},
		{"jq", []string{"jq", "-n", "1"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := exec.LookPath(tc.args[0]); err != nil {
				b.Skip(tc.args[0] + " is not installed")
			}
			for b.Loop() {
				if out, err := exec.Command(tc.args[0], tc.args[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
		})
	}
}
