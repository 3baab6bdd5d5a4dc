package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A JSON Schema's $ref may lead to another document: a file beside it
// (other.json#/$defs/tag), or a URL that the manifest's schema_refs maps
// to a local file or folder. zpipe never fetches. The documents are read
// once, at Load, kept with the schema's sources (so that they count in its
// fingerprint and travel to evaluators and workers), and embedded into the
// root document under their URLs, where CUE's translation resolves them as
// it does any embedded resource.

// jsonDoc is one document of a JSON Schema: its file and its base URL.
type jsonDoc struct {
	file string
	base *url.URL
	src  []byte
}

// fileURL is the file: URL of an absolute path.
func fileURL(path string) *url.URL {
	abs, _ := filepath.Abs(path)
	return &url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
}

// notSchemas are the keywords whose values are data, not subschemas: a
// "$ref" key inside them is a value to compare, not a reference.
var notSchemas = []string{"const", "enum", "default", "examples"}

// docRefs walks a JSON document and returns the $ids it declares and the
// $refs it makes, each resolved against the base in force where it is.
func docRefs(doc jsonDoc) (ids, refs []string, err error) {
	var v any
	if err := json.Unmarshal(doc.src, &v); err != nil {
		return nil, nil, nil // the translation reports malformed JSON with its position
	}
	var walk func(v any, base *url.URL)
	walk = func(v any, base *url.URL) {
		switch v := v.(type) {
		case map[string]any:
			for _, key := range []string{"$id", "id"} {
				if id, ok := v[key].(string); ok && !strings.HasPrefix(id, "#") {
					if u, perr := base.Parse(id); perr == nil {
						u.Fragment = ""
						base = u
						ids = append(ids, u.String())
					}
				}
			}
			// A metaschema of its own is read as a $ref is, for the
			// native check (see customMetaschema).
			if r, ok := v["$schema"].(string); ok && !metaschemaURL.MatchString(r) {
				if u, perr := base.Parse(r); perr == nil {
					u.Fragment = ""
					refs = append(refs, u.String())
				}
			}
			if r, ok := v["$ref"].(string); ok {
				if u, perr := base.Parse(r); perr == nil {
					u.Fragment = ""
					refs = append(refs, u.String())
				} else if err == nil {
					err = fmt.Errorf("$ref %q: %v", r, perr)
				}
			}
			for k, e := range v {
				if !slices.Contains(notSchemas, k) {
					walk(e, base)
				}
			}
		case []any:
			for _, e := range v {
				walk(e, base)
			}
		}
	}
	walk(v, doc.base)
	return ids, refs, err
}

// refDocuments finds every document that the JSON Schema in file leads
// to, transitively, as URL → local file, reading each with read.
// mapping maps URL prefixes to local files or folders.
func refDocuments(file string, src []byte, mapping map[string]string, read func(string) ([]byte, error)) (map[string]string, error) {
	found := map[string]string{}
	queue := []jsonDoc{{file: file, base: fileURL(file), src: src}}
	for len(queue) > 0 {
		doc := queue[0]
		queue = queue[1:]
		ids, refs, err := docRefs(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		self := append([]string{doc.base.String()}, ids...)
		for _, ref := range refs {
			// A draft's metaschema is built into the native check.
			if ref == "" || slices.Contains(self, ref) || found[ref] != "" || metaschemaURL.MatchString(ref) {
				continue
			}
			u, _ := url.Parse(ref)
			path, err := localFile(u, mapping)
			if err != nil {
				return nil, err
			}
			b, err := read(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("$ref %s: %s does not exist", ref, path)
			}
			if err != nil {
				return nil, fmt.Errorf("$ref %s: %w", ref, err)
			}
			found[ref] = path
			queue = append(queue, jsonDoc{file: path, base: u, src: b})
		}
	}
	return found, nil
}

// localFile is the file that holds the document at u: its own path for a
// file: URL, else the one the longest matching prefix of mapping gives.
func localFile(u *url.URL, mapping map[string]string) (string, error) {
	if u.Scheme == "file" {
		return filepath.FromSlash(u.Path), nil
	}
	if u.RawQuery != "" {
		return "", fmt.Errorf("$ref %s: a schema URL with a query cannot be mapped to a file", u)
	}
	s := u.String()
	prefixes := make([]string, 0, len(mapping))
	for p := range mapping {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(s, p)
		if !ok {
			continue
		}
		target := mapping[p]
		if rest == "" {
			return target, nil
		}
		if fi, err := os.Stat(target); err == nil && fi.IsDir() || strings.HasSuffix(target, "/") {
			// Only inside the folder that the prefix names.
			path := filepath.Join(target, filepath.FromSlash(rest))
			if rel, err := filepath.Rel(target, path); err != nil || !filepath.IsLocal(rel) {
				return "", fmt.Errorf("$ref %s leads out of %s, where schema_refs maps %s", s, target, p)
			}
			return path, nil
		}
	}
	return "", fmt.Errorf("$ref %s: zpipe never fetches a schema over the network; map the URL to a local file or folder with schema_refs in the manifest, or --schema-ref URL=PATH", s)
}
