package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// bundle is a manifest and the schema and transform files of its stages,
// each by its sha256, so that a worker without the coordinator's files can
// compile a stage, and one that has them from an earlier item does not
// fetch them again. The files keep their places relative to each other.
type bundle struct {
	// Sum names the bundle: the sha256 of its file list.
	Sum string `json:"sum"`
	// Manifest is the manifest's path among Files.
	Manifest string `json:"manifest"`
	// Files maps a slash path, relative to the files' common folder, to
	// the sha256 of its bytes.
	Files map[string]string `json:"files"`
}

func casObject(sum string) string { return "cas/" + sum }

// putBundle puts the manifest at file, and the files it names, into the
// bucket, each unless it is there already.
func putBundle(ctx context.Context, data jetstream.ObjectStore, file string) (*bundle, error) {
	m, err := pipeline.Load(file)
	if err != nil {
		return nil, err
	}
	files := []string{m.File}
	for _, s := range m.Stages {
		if schema.IsJSONSchema(s.Schema.File) {
			// The files its $refs lead to go along.
			refs, err := schema.JSONSchemaFiles(s.Schema.File, m.SchemaRefs)
			if err != nil {
				return nil, err
			}
			files = append(files, refs...)
		}
		files = append(files, s.Schema.File)
		if s.Transform != nil {
			files = append(files, s.Transform.File)
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	root := commonDir(files)
	b := &bundle{Files: map[string]string{}}
	var list []string
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(content)
		hexSum := hex.EncodeToString(sum[:])
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		b.Files[rel] = hexSum
		list = append(list, rel+"\x00"+hexSum)
		if f == m.File {
			b.Manifest = rel
		}
		if _, err := data.GetInfo(ctx, casObject(hexSum)); err == nil {
			continue
		}
		if _, err := data.PutBytes(ctx, casObject(hexSum), content); err != nil {
			return nil, fmt.Errorf("putting %s into the object store: %w", f, err)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(list, "\n")))
	b.Sum = hex.EncodeToString(sum[:])
	return b, nil
}

// commonDir is the deepest folder that holds every file.
func commonDir(files []string) string {
	dir := filepath.Dir(files[0])
	for _, f := range files[1:] {
		for !pipeline.Inside(dir, f) {
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return dir
}

// materialize writes a bundle's files under dir, once per bundle, checking
// each against its sum, and returns where the manifest is.
func materialize(ctx context.Context, data jetstream.ObjectStore, b *bundle, dir string) (string, error) {
	if !filepath.IsLocal(b.Sum) || !filepath.IsLocal(filepath.FromSlash(b.Manifest)) {
		return "", fmt.Errorf("the bundle names a path outside its folder")
	}
	base := filepath.Join(dir, b.Sum)
	manifest := filepath.Join(base, filepath.FromSlash(b.Manifest))
	if _, err := os.Stat(filepath.Join(base, ".complete")); err == nil {
		return manifest, nil
	}
	tmp, err := os.MkdirTemp(dir, b.Sum+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for rel, sum := range b.Files {
		local := filepath.FromSlash(rel)
		if !filepath.IsLocal(local) {
			return "", fmt.Errorf("the bundle names %q, outside its folder", rel)
		}
		content, err := data.GetBytes(ctx, casObject(sum))
		if err != nil {
			return "", fmt.Errorf("fetching %s: %w", rel, err)
		}
		if got := sha256.Sum256(content); hex.EncodeToString(got[:]) != sum {
			return "", fmt.Errorf("%s does not hold what the bundle says", rel)
		}
		p := filepath.Join(tmp, local)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, base); err != nil {
		if _, serr := os.Stat(filepath.Join(base, ".complete")); serr != nil {
			return "", err
		}
		// Another slot of this worker wrote it first.
	}
	return manifest, nil
}
