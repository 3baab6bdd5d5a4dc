package pipeline

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/zpipe/zpipe/format"
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

// expand fills an output template's placeholders from a source file and
// returns the absolute path it names.
func (m *Manifest) expand(template, source string) string {
	base := filepath.Base(source)
	ext := filepath.Ext(base)
	if format.CompressionOf(base) != "" {
		// users.ndjson.gz: the stem is users, the extension ndjson.gz.
		ext = filepath.Ext(format.TrimCompression(base)) + ext
	}
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
	return filepath.Join(m.Dir, p)
}

// PerSourceFile is the file a per-source output writes for the source
// file at path.
func (m *Manifest) PerSourceFile(o Output, source string) string { return m.expand(o.Path, source) }

// root is the folder outputs must stay inside.
func (m *Manifest) root() string {
	if m.Root == "" {
		return m.Dir
	}
	return m.Root
}

func (m *Manifest) rootName() string {
	if m.root() == m.Dir {
		return "the manifest's folder"
	}
	return "the output root " + m.root()
}

// Rel shows a path relative to the manifest's folder when it lies inside.
func (m *Manifest) Rel(p string) string {
	if rel, ok := under(m.Dir, p); ok {
		return rel
	}
	if rel, err := filepath.Rel(m.Dir, p); err == nil && Inside(m.Dir, p) {
		return filepath.ToSlash(rel)
	}
	return p
}

// under is p relative to dir, when both are clean and p lies under dir,
// as the walk makes the paths of a million files: filepath.Rel cleaning
// both, twice a file, was 4% of a no-op rerun's CPU. Where it cannot
// tell so cheaply, it says no, and the caller asks filepath.Rel.
func under(dir, p string) (string, bool) {
	if filepath.Separator != '/' || len(p) <= len(dir)+1 || p[len(dir)] != '/' || !strings.HasPrefix(p, dir) ||
		len(dir) < 2 || dir[0] != '/' || !cleanElems(dir[1:]) {
		return "", false
	}
	rel := p[len(dir)+1:]
	return rel, cleanElems(rel)
}

// cleanElems reports whether the slashed path rel is made of names alone:
// no empty, "." or ".." element, so filepath.Clean leaves it as it is.
func cleanElems(rel string) bool {
	for elem := range strings.SplitSeq(rel, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

func (s *Stage) excluded(dir, file string) bool {
	if len(s.Source.Exclude) == 0 {
		return false
	}
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
	tpl := templateOf(path)
	excluded := func(p string) bool { return s.excluded(dir, filepath.Join(dir, p)) }
	for _, pat := range s.Source.Paths {
		if globMeetsBut(matchGlob(dir, pat), tpl, excluded) {
			return true
		}
	}
	return false
}

// readsSample is reads with each placeholder in path a name no source
// has.
func (s *Stage) readsSample(dir, path string) bool {
	raw, sample := samplePath(path)
	for _, pat := range s.Source.Paths {
		if ok, _ := doublestar.Match(matchGlob(dir, pat), sample); ok && !s.excluded(dir, filepath.Join(dir, raw)) {
			return true
		}
	}
	return false
}

// matchGlob is a source glob as reads matches it: relative to dir, in
// slash form.
func matchGlob(dir, pat string) string {
	if filepath.IsAbs(pat) {
		if rel, err := filepath.Rel(dir, pat); err == nil {
			pat = rel
		}
	}
	return filepath.ToSlash(filepath.Clean(pat))
}

// samplePath is a written path with each placeholder a name: raw for
// exclude patterns, sample in the slash form globs match.
func samplePath(path string) (raw, sample string) {
	raw = placeholderRE.ReplaceAllString(path, "zpipe-any")
	return raw, filepath.ToSlash(filepath.Clean(raw))
}

// Matches reports whether rel, a slash path relative to the manifest, could
// be a file of this output: {dir} stands for any folders, the other
// placeholders for one name.
func (o Output) Matches(rel string) bool { return matchesTemplate(o.Path, rel) }

func matchesTemplate(template, path string) bool {
	// {dir}/.. is {dir}'s parent: the folder before {dir}, cleaned as a
	// name, or one of {dir}'s own.
	for _, tpl := range []string{filepath.ToSlash(filepath.Clean(template)), templateOf(template)} {
		pat := "^" + regexp.QuoteMeta(tpl) + "$"
		pat = quotedPlaceholder.ReplaceAllStringFunc(pat, func(ph string) string {
			if strings.Contains(ph, "dir") {
				return ".+"
			}
			return "[^/]+"
		})
		if ok, _ := regexp.MatchString(pat, filepath.ToSlash(path)); ok {
			return true
		}
	}
	return false
}

var quotedPlaceholder = regexp.MustCompile(`\\\{[a-z]+\\\}`)

// StaticPrefix is the part of a glob before the segment with its first
// wildcard, as a path: data/users for data/users/*.json, "" for *.json,
// and the glob itself when it has none. It is where a walk, or a watch,
// of what the glob matches starts.
func StaticPrefix(glob string) string {
	parts := strings.Split(filepath.ToSlash(glob), "/")
	for i, p := range parts {
		if strings.ContainsAny(p, `*?[{\`) {
			return filepath.FromSlash(strings.Join(parts[:i], "/"))
		}
	}
	return glob
}

// MayRead reports whether path, absolute, is or could become a source of
// the stage: one of its globs matches it and no exclude does.
func (s *Stage) MayRead(m *Manifest, path string) bool {
	rel, err := filepath.Rel(m.Dir, path)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	for _, g := range s.Source.Paths {
		name := rel
		if filepath.IsAbs(g) {
			name = filepath.ToSlash(path)
		}
		if ok, _ := doublestar.Match(filepath.ToSlash(filepath.Clean(g)), name); ok && !s.excluded(m.Dir, path) {
			return true
		}
	}
	return false
}

// MayWrite reports whether path, absolute, could be one of the stage's
// outputs, whatever its placeholders turn out to be.
func (s *Stage) MayWrite(m *Manifest, path string) bool {
	rel, err := filepath.Rel(m.Dir, path)
	if err != nil {
		return false
	}
	for _, o := range s.Outputs {
		if o.Matches(filepath.ToSlash(rel)) {
			return true
		}
	}
	return false
}
