// Package pipelines holds runnable example pipelines. Each folder has a
// pipeline.yaml, its schemas and data, and expected/: the files the run must
// write, byte for byte, and the exit code it must end with.
package pipelines

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// TestExamples runs every example on a copy of its folder and compares what
// it wrote with expected/. ZPIPE_UPDATE=1 rewrites expected/.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("*/pipeline.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, manifest := range dirs {
		name := filepath.Dir(manifest)
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			copyTree(t, name, work, func(rel string) bool {
				return rel == "expected" || rel == "out" || rel == ".zpipe"
			})
			m, err := pipeline.Load(filepath.Join(work, "pipeline.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pipeline.Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := engine.Run(context.Background(), plan, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{"exit": []byte(strconv.Itoa(sum.ExitCode()) + "\n")}
			filepath.WalkDir(filepath.Join(work, "out"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(work, p)
					got[filepath.ToSlash(rel)], _ = os.ReadFile(p)
				}
				return nil
			})
			want := filepath.Join(name, "expected")
			if os.Getenv("ZPIPE_UPDATE") == "1" {
				os.RemoveAll(want)
				for rel, b := range got {
					p := filepath.Join(want, rel)
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			seen := map[string]bool{}
			filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(want, p)
				rel = filepath.ToSlash(rel)
				seen[rel] = true
				wantB, _ := os.ReadFile(p)
				if gotB, ok := got[rel]; !ok {
					t.Errorf("%s was not written", rel)
				} else if !bytes.Equal(gotB, wantB) {
					t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", rel, gotB, wantB)
				}
				return nil
			})
			for rel := range got {
				if !seen[rel] {
					t.Errorf("%s was written but is not in expected/", rel)
				}
			}
		})
	}
}

func copyTree(t *testing.T, from, to string, skip func(rel string) bool) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if skip(strings.Split(filepath.ToSlash(rel), "/")[0]) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
