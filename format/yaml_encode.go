package format

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendYAML appends v as one YAML document in block style, ending with a
// newline. Strings are quoted wherever a plain scalar would read back as
// something else, so decoding the output gives v again.
func appendYAML(dst []byte, v any) ([]byte, error) {
	return appendYAMLBlock(dst, v, 0, 2, false)
}

// yamlUnit appends records whose nested mappings are indented by step.
func yamlUnit(opts EncodeOptions) (UnitFunc, func() []byte) {
	step := opts.Indent
	if step <= 0 {
		return appendYAML, nil
	}
	return func(dst []byte, v any) ([]byte, error) { return appendYAMLBlock(dst, v, 0, step, false) }, nil
}

// appendYAMLBlock appends v's lines at indent, a nested mapping step
// further in. With inline set, the first line goes on after a "- " already
// written, and the item's other lines line up with it. A scalar or an
// empty collection, which only comes here at the top, takes one line.
func appendYAMLBlock(dst []byte, v any, indent, step int, inline bool) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case *Object:
		if v == nil || len(v.Fields) == 0 {
			break
		}
		for i, f := range v.Fields {
			if i > 0 || !inline {
				dst = appendYAMLSpaces(dst, indent)
			}
			dst = appendYAMLString(dst, f.Key)
			dst = append(dst, ':')
			if yamlIsBlock(f.Value) {
				dst = append(dst, '\n')
				dst, err = appendYAMLBlock(dst, f.Value, indent+step, step, false)
			} else {
				dst = append(dst, ' ')
				dst, err = appendYAMLScalar(dst, f.Value)
				dst = append(dst, '\n')
			}
			if err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []any:
		if len(v) == 0 {
			break
		}
		for i, item := range v {
			if i > 0 || !inline {
				dst = appendYAMLSpaces(dst, indent)
			}
			dst = append(dst, "- "...)
			if yamlIsBlock(item) {
				dst, err = appendYAMLBlock(dst, item, indent+2, step, true)
			} else {
				dst, err = appendYAMLScalar(dst, item)
				dst = append(dst, '\n')
			}
			if err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	dst, err = appendYAMLScalar(dst, v)
	return append(dst, '\n'), err
}

// yamlIsBlock reports whether v is written on lines of its own: a
// collection that isn't empty.
func yamlIsBlock(v any) bool {
	switch v := v.(type) {
	case *Object:
		return v != nil && len(v.Fields) > 0
	case []any:
		return len(v) > 0
	}
	return false
}

func appendYAMLSpaces(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, ' ')
	}
	return dst
}

// appendYAMLScalar appends a value that takes no lines of its own.
func appendYAMLScalar(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case Number:
		if !ValidNumber(string(v)) {
			return dst, fmt.Errorf("invalid number %q", string(v))
		}
		return append(dst, v...), nil
	case string:
		return appendYAMLString(dst, v), nil
	case *Object:
		if v == nil {
			return append(dst, "null"...), nil
		}
		return append(dst, "{}"...), nil
	case []any:
		return append(dst, "[]"...), nil
	}
	return dst, fmt.Errorf("cannot encode a value of type %T as YAML", v)
}

// appendYAMLString appends s plain when it reads back as the same string,
// and double-quoted otherwise.
func appendYAMLString(dst []byte, s string) []byte {
	if !yamlNeedsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == utf8.RuneError && size == 1:
			// A byte that isn't UTF-8 can't be written in YAML; like
			// encoding/json, write the replacement character.
			dst = append(dst, `\uFFFD`...)
		case r < 0x20 || r == 0x7f:
			dst = fmt.Appendf(dst, `\x%02X`, r)
		case !yamlPrintable(r):
			dst = fmt.Appendf(dst, `\u%04X`, r)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// yamlPrintable reports whether r may stand as itself in a YAML scalar.
// Line and paragraph separators, NEL and the BOM are escaped too, since
// YAML 1.1 readers break lines at them.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t':
		return true
	case r < 0x20 || r == 0x7f:
		return false
	case r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029, r == 0xFEFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r != utf8.RuneError
}

// yamlNeedsQuotes reports whether s written plain would read back as
// another value or string, under YAML 1.2 or the YAML 1.1 rules that many
// readers still follow.
func yamlNeedsQuotes(s string) bool {
	if s == "" || strings.HasPrefix(s, "...") || !utf8.ValidString(s) {
		return true
	}
	switch strings.ToLower(s) {
	case "true", "false", "null", "~", "yes", "no", "on", "off", "y", "n",
		".inf", "-.inf", "+.inf", ".nan", "<<", "=":
		return true
	}
	// Anything that starts like a number: 1, 1.0, .5, 0x1f, 1e3, 1_000,
	// 12:30 (sexagesimal in YAML 1.1), 2001-12-14 (a timestamp).
	if isDigit(s[0]) || s[0] == '.' && len(s) > 1 && isDigit(s[1]) {
		return true
	}
	if strings.IndexByte("-?:,[]{}#&*!|>'\"%@`+ ", s[0]) >= 0 || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return true
	}
	// goccy's lexer reads a plain "a<<" as a merge key.
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.Contains(s, "<<") {
		return true
	}
	for _, r := range s {
		if r == '\t' || !yamlPrintable(r) {
			return true
		}
	}
	return false
}
