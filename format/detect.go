package format

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
)

var byExtension = map[string]Format{
	".json": JSON, ".ndjson": NDJSON, ".jsonl": NDJSON, ".ldjson": NDJSON,
	".yaml": YAML, ".yml": YAML, ".toml": TOML, ".csv": CSV, ".tsv": TSV, ".tab": TSV,
}

var (
	tomlTable = regexp.MustCompile(`^\[\[?\s*[A-Za-z0-9_."' -]+\s*\]\]?\s*(#.*)?$`)
	tomlKey   = regexp.MustCompile(`^[A-Za-z0-9_."'-]+(\s*\.\s*[A-Za-z0-9_"'-]+)*\s*=`)
	yamlKey   = regexp.MustCompile(`^("[^"]*"|'[^']*'|[^\s#:][^:#]*):(\s|$)`)
)

// Detect names the format of a file: by its extension, and failing that by
// its first bytes. It reports false when neither tells.
func Detect(name string, content []byte) (Format, bool) {
	if f, ok := byExtension[strings.ToLower(filepath.Ext(name))]; ok {
		return f, true
	}
	return detectContent(content)
}

func detectContent(content []byte) (Format, bool) {
	content = bytes.TrimPrefix(content, bom)
	lines := significantLines(content, 8)
	if len(lines) == 0 {
		return "", false
	}
	first := lines[0]
	switch {
	case first[0] == '{' || first[0] == '[':
		// Two lines that each hold a whole value make ndjson; a value that
		// spans lines is one json document.
		if len(lines) > 1 && completeJSON(first) {
			return NDJSON, true
		}
		if first[0] == '[' && tomlTable.Match(first) && !completeJSON(first) {
			return TOML, true
		}
		return JSON, true
	case bytes.HasPrefix(first, []byte("---")) || bytes.HasPrefix(first, []byte("%YAML")) || first[0] == '-':
		return YAML, true
	case tomlTable.Match(first) || tomlKey.Match(first):
		return TOML, true
	case yamlKey.Match(first):
		return YAML, true
	case bytes.IndexByte(first, '\t') >= 0:
		return TSV, true
	case bytes.IndexByte(first, ',') >= 0:
		return CSV, true
	}
	return "", false
}

func completeJSON(line []byte) bool {
	p := jsonParser{data: line, lim: DefaultLimits}
	if _, err := p.value(); err != nil {
		return false
	}
	p.skipSpace()
	return p.pos == len(line)
}

// significantLines returns up to n lines that are neither blank nor comments.
func significantLines(content []byte, n int) [][]byte {
	var out [][]byte
	for len(content) > 0 && len(out) < n {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return out
}
