package format

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends v as JSON. With an indent it writes one field or
// element per line, as jq does; level is the nesting it starts at.
func appendJSON(dst []byte, v any, indent string, level int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendJSONString(dst, v), nil
	case Number:
		return append(dst, v...), nil
	case []any:
		if len(v) == 0 {
			return append(dst, "[]"...), nil
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, indent, level+1)
			var err error
			if dst, err = appendJSON(dst, e, indent, level+1); err != nil {
				return dst, err
			}
		}
		return append(newline(dst, indent, level), ']'), nil
	case *Object:
		if len(v.Fields) == 0 {
			return append(dst, "{}"...), nil
		}
		dst = append(dst, '{')
		for i, f := range v.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, indent, level+1)
			dst = appendJSONString(dst, f.Key)
			dst = append(dst, ':')
			if indent != "" {
				dst = append(dst, ' ')
			}
			var err error
			if dst, err = appendJSON(dst, f.Value, indent, level+1); err != nil {
				return dst, err
			}
		}
		return append(newline(dst, indent, level), '}'), nil
	}
	n, err := Normalize(v)
	if err != nil {
		return dst, err
	}
	return appendJSON(dst, n, indent, level)
}

func newline(dst []byte, indent string, level int) []byte {
	if indent == "" {
		return dst
	}
	dst = append(dst, '\n')
	for i := 0; i < level; i++ {
		dst = append(dst, indent...)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += n
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Normalize turns ordinary Go values (maps, slices, ints, floats,
// json.Number, structs) into the record value model. Map keys are sorted,
// since a Go map has no order to keep.
func Normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string, Number:
		return v, nil
	case *Object:
		out := &Object{Fields: make([]Field, len(v.Fields))}
		for i, f := range v.Fields {
			n, err := Normalize(f.Value)
			if err != nil {
				return nil, err
			}
			out.Fields[i] = Field{f.Key, n}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := &Object{}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			n, err := Normalize(v[k])
			if err != nil {
				return nil, err
			}
			out.Fields = append(out.Fields, Field{k, n})
		}
		return out, nil
	case json.Number:
		if !ValidNumber(string(v)) {
			return nil, fmt.Errorf("invalid number %q", string(v))
		}
		return Number(v), nil
	case int:
		return Number(strconv.Itoa(v)), nil
	case int64:
		return Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return Number(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%v cannot be represented as a JSON number", v)
		}
		return Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case *big.Int:
		return Number(v.String()), nil
	}
	// Anything else goes through encoding/json, which knows struct tags.
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	p := jsonParser{data: b, lim: DefaultLimits}
	return p.value()
}

// AppendJSON appends v to dst as compact JSON.
func AppendJSON(dst []byte, v any) ([]byte, error) { return appendJSON(dst, v, "", 0) }
