package format

import (
	"math/big"
	"strconv"
	"strings"
)

// Object is a JSON-style object whose fields keep their input order.
type Object struct {
	Fields []Field
}

// Field is one key and value of an Object.
type Field struct {
	Key   string
	Value any
}

// Get returns the value of key and whether it is present.
func (o *Object) Get(key string) (any, bool) {
	for i := range o.Fields {
		if o.Fields[i].Key == key {
			return o.Fields[i].Value, true
		}
	}
	return nil, false
}

// Set replaces the value of key, or appends the field when key is new.
func (o *Object) Set(key string, v any) {
	for i := range o.Fields {
		if o.Fields[i].Key == key {
			o.Fields[i].Value = v
			return
		}
	}
	o.Fields = append(o.Fields, Field{key, v})
}

// Number is a number kept as its literal text in JSON syntax, so that
// integers beyond 2^53 and decimals survive every conversion exactly.
type Number string

// IsInt reports whether n is written as an integer (no fraction, no exponent).
func (n Number) IsInt() bool {
	return !strings.ContainsAny(string(n), ".eE")
}

// Int64 returns n as an int64 when it is an integer that fits.
func (n Number) Int64() (int64, bool) {
	if !n.IsInt() {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// BigInt returns n as a big.Int when it is an integer.
func (n Number) BigInt() (*big.Int, bool) {
	if !n.IsInt() {
		return nil, false
	}
	return new(big.Int).SetString(string(n), 10)
}

// ValidNumber reports whether s is a number in JSON syntax.
func ValidNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Equal reports whether two values are the same, key order aside; numbers
// compare by their literal text.
func Equal(a, b any) bool {
	switch a := a.(type) {
	case *Object:
		b, ok := b.(*Object)
		if !ok || len(a.Fields) != len(b.Fields) {
			return false
		}
		for _, f := range a.Fields {
			bv, ok := b.Get(f.Key)
			if !ok || !Equal(f.Value, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !Equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}
