package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

func hasPlaceholder(p string) bool { return placeholderRE.MatchString(p) }

func unknownPlaceholder(p string) string {
	for _, m := range placeholderRE.FindAllString(p, -1) {
		switch m {
		case "{stem}", "{name}", "{ext}", "{dir}":
		default:
			return m
		}
	}
	return ""
}

// OutputPath returns the absolute path an output template gives for a
// source file. It fails when the result, with the file's name filled in,
// would leave root.
func (m *Manifest) OutputPath(template, source, root string) (string, error) {
	base := filepath.Base(source)
	ext := filepath.Ext(base)
	dir, err := filepath.Rel(m.Dir, filepath.Dir(source))
	if err != nil {
		dir = filepath.Dir(source)
	}
	p := placeholderRE.ReplaceAllStringFunc(template, func(ph string) string {
		switch ph {
		case "{stem}":
			return strings.TrimSuffix(base, ext)
		case "{name}":
			return base
		case "{ext}":
			return strings.TrimPrefix(ext, ".")
		case "{dir}":
			return dir
		}
		return ph
	})
	abs := filepath.Join(m.Dir, p)
	if root == "" {
		root = m.Dir
	}
	if !inside(root, abs) {
		return "", fmt.Errorf("output %q for source %s is %s, which escapes %s", template, m.Rel(source), m.Rel(abs), root)
	}
	return abs, nil
}

// Rel shows a path relative to the manifest's folder when it lies inside.
func (m *Manifest) Rel(p string) string {
	if rel, err := filepath.Rel(m.Dir, p); err == nil && inside(m.Dir, p) {
		return filepath.ToSlash(rel)
	}
	return p
}

// Files resolves the stage's source globs to files, in a stable order: the
// globs in the order written, the matches of each sorted, each file once.
// A glob that matches nothing is reported in empty, not as an error.
func (s *Stage) Files(dir string) (files, empty []string, err error) {
	seen := map[string]bool{}
	for _, pat := range s.Source.Paths {
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, pat)
		}
		matches, err := doublestar.FilepathGlob(pat, doublestar.WithFilesOnly())
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: glob %q: %w", s.Name, pat, err)
		}
		sort.Strings(matches)
		n := 0
		for _, f := range matches {
			if seen[f] || s.excluded(dir, f) {
				continue
			}
			if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
				continue
			}
			seen[f] = true
			files = append(files, f)
			n++
		}
		if n == 0 {
			rel, _ := filepath.Rel(dir, pat)
			empty = append(empty, filepath.ToSlash(rel))
		}
	}
	return files, empty, nil
}

func (s *Stage) excluded(dir, file string) bool {
	rel, err := filepath.Rel(dir, file)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	for _, ex := range s.Source.Exclude {
		if ok, _ := doublestar.Match(ex, rel); ok {
			return true
		}
		if ok, _ := doublestar.Match(ex, filepath.Base(rel)); ok {
			return true
		}
	}
	return false
}

// reads reports whether one of the stage's source globs would match path,
// a file another stage writes; placeholders in path stand for any name.
func (s *Stage) reads(dir, path string) bool {
	sample := placeholderRE.ReplaceAllString(path, "zpipe-any")
	for _, pat := range s.Source.Paths {
		if filepath.IsAbs(pat) {
			if rel, err := filepath.Rel(dir, pat); err == nil {
				pat = rel
			}
		}
		pat = filepath.ToSlash(filepath.Clean(pat))
		if ok, _ := doublestar.Match(pat, filepath.ToSlash(filepath.Clean(sample))); ok && !s.excluded(dir, filepath.Join(dir, sample)) {
			return true
		}
	}
	return false
}
