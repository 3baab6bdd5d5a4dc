package format

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
)

// Detect names the format of a file: by its extension, and failing that by
// its first bytes. It reports false when neither tells.
func Detect(name string, content []byte) (Format, bool) {
	if f, ok := FromName(name); ok {
		return f, true
	}
	if sniffCompression(content) != "" {
		// What of the stream its first bytes hold.
		if r, _, err := Decompress(bytes.NewReader(content)); err == nil {
			content, _ = io.ReadAll(io.LimitReader(r, 4096))
		}
	}
	return detectContent(content)
}

// FromName is the format a file's extension names, after a compression
// extension such as .gz.
func FromName(name string) (Format, bool) {
	if c, ok := byExtension[strings.ToLower(filepath.Ext(TrimCompression(name)))]; ok {
		return c.Name, true
	}
	return "", false
}

// detectContent asks each format's Sniff about the first significant lines
// and takes the highest score; a tie goes to the format first in All. The
// built-in formats score, each on its first line:
//
//	60 ndjson  a whole JSON value, with more lines after it
//	50 toml    a [table] header that is not JSON
//	40 json    { or [ to start
//	30 yaml    ---, %YAML or - to start
//	20 toml    key = value
//	10 yaml    key: value
//	 2 tsv     a tab
//	 1 csv     a comma
func detectContent(content []byte) (Format, bool) {
	content = bytes.TrimPrefix(content, bom)
	lines := significantLines(content, 8)
	if len(lines) == 0 {
		return "", false
	}
	var best Format
	top := 0
	for _, f := range All {
		if sniff := codecs[f].Sniff; sniff != nil {
			if s := sniff(lines); s > top {
				best, top = f, s
			}
		}
	}
	return best, top > 0
}

// startsJSON reports whether a line opens a JSON object or array.
func startsJSON(line []byte) bool { return line[0] == '{' || line[0] == '[' }

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
