// Package benchdata generates the deterministic user records that zpipe's
// benchmarks run on: the same records, from the same seed, as ndjson, csv, a
// yaml multi-document stream and many small json files. Every hundredth
// record is invalid against Schema (its zip code has four digits).
package benchdata

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Schema holds #User, the schema of the benchmarks, and #UserFlat, the same
// without tags and address (city and zip are top-level), for csv, which
// cannot hold lists or nested objects.
const Schema = `#User: {
	id:    int & >=1
	name:  string & !=""
	email: string & =~#"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$"#
	age:   int & >=0 & <=150
	tags: [...string]
	address: {
		city: string & !=""
		zip:  string & =~"^[0-9]{5}$"
	}
}

#UserFlat: {
	id:    int & >=1
	name:  string & !=""
	email: string & =~#"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$"#
	age:   int & >=0 & <=150
	city:  string & !=""
	zip:   string & =~"^[0-9]{5}$"
}
`

// JSONSchema is #User written as a JSON Schema (2020-12): the same
// constraints, closed as a definition is.
const JSONSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "name", "email", "age", "tags", "address"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "minLength": 1},
    "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[a-zA-Z]{2,}$"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "tags": {"type": "array", "items": {"type": "string"}},
    "address": {
      "type": "object",
      "required": ["city", "zip"],
      "additionalProperties": false,
      "properties": {
        "city": {"type": "string", "minLength": 1},
        "zip": {"type": "string", "pattern": "^[0-9]{5}$"}
      }
    }
  }
}
`

// User is one generated record.
type User struct {
	ID          int
	Name, Email string
	Age         int
	Tags        []string
	City, Zip   string
}

// Valid reports whether u satisfies Schema; only the zip code is ever wrong.
func (u User) Valid() bool { return len(u.Zip) == 5 }

var (
	cities = []string{"Amsterdam", "Berlin", "Lisbon", "Oslo", "Turin"}
	tags   = []string{"admin", "beta", "ops", "dev", "qa"}
)

// Gen yields the records of one seed in order. The draws are in the order
// the original gendata made them, so its output has not changed.
type Gen struct {
	r *rand.Rand
	i int
}

// New returns a generator for seed.
func New(seed uint64) *Gen { return &Gen{r: rand.New(rand.NewPCG(seed, 0))} }

// Next returns the next record; ids start at 1.
func (g *Gen) Next() User {
	g.i++
	u := User{ID: g.i, Name: fmt.Sprintf("user %d", g.i), Email: fmt.Sprintf("user%d@example.com", g.i)}
	u.Zip = fmt.Sprintf("%05d", g.r.IntN(100000))
	u.Age = g.r.IntN(90) + 10
	if g.i%100 == 0 { // 1% invalid: a zip code of four digits
		u.Zip = u.Zip[:4]
	}
	u.Tags = []string{tags[g.r.IntN(len(tags))], tags[g.r.IntN(len(tags))]}
	u.City = cities[g.r.IntN(len(cities))]
	return u
}

// Invalid is how many of the first n records are invalid.
func Invalid(n int) int { return n / 100 }

// AppendJSON appends u as one line of JSON without the newline; pad > 0 adds
// a "note" field of that many bytes (not in Schema: for size, not checks).
func AppendJSON(b []byte, u User, pad int) []byte {
	b = fmt.Appendf(b, `{"id":%d,"name":%q,"email":%q,"age":%d,"tags":[`, u.ID, u.Name, u.Email, u.Age)
	for i, t := range u.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, t)
	}
	b = fmt.Appendf(b, `],"address":{"city":%q,"zip":%q}`, u.City, u.Zip)
	if pad > 0 {
		b = append(b, `,"note":"`+strings.Repeat("x", pad)+`"`...)
	}
	return append(b, '}')
}

// WriteNDJSON writes the first n records of seed, one per line.
func WriteNDJSON(w io.Writer, n int, seed uint64, pad int) error {
	return writeLines(w, n, seed, pad, func(User) bool { return true })
}

// WriteValidNDJSON writes the records of the first n of seed that are valid,
// one per line: n - Invalid(n) lines, for tools that stop at the first
// invalid record and for timing the all-valid case.
func WriteValidNDJSON(w io.Writer, n int, seed uint64) error {
	return writeLines(w, n, seed, 0, User.Valid)
}

// writeLines writes those of the first n records of seed that keep
// accepts, one per line.
func writeLines(w io.Writer, n int, seed uint64, pad int, keep func(User) bool) error {
	bw := bufio.NewWriter(w)
	g := New(seed)
	var b []byte
	for range n {
		if u := g.Next(); keep(u) {
			b = append(AppendJSON(b[:0], u, pad), '\n')
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// WriteJSONArray writes the first n records of seed as one json array,
// a record a line.
func WriteJSONArray(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriter(w)
	g := New(seed)
	var b []byte
	bw.WriteString("[\n")
	for i := range n {
		b = b[:0]
		if i > 0 {
			b = append(b, ",\n"...)
		}
		if _, err := bw.Write(AppendJSON(b, g.Next(), 0)); err != nil {
			return err
		}
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// WriteCSV writes the first n records of seed as csv with the columns of
// #UserFlat. No generated value needs quoting.
func WriteCSV(w io.Writer, n int, seed uint64) error { return writeFlat(w, n, seed, ",") }

// WriteTSV writes the first n records of seed as tsv with the columns of
// #UserFlat.
func WriteTSV(w io.Writer, n int, seed uint64) error { return writeFlat(w, n, seed, "\t") }

// writeFlat writes a header row and a row a record, the columns of
// #UserFlat separated by sep.
func writeFlat(w io.Writer, n int, seed uint64, sep string) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(strings.Join([]string{"id", "name", "email", "age", "city", "zip"}, sep) + "\n")
	g := New(seed)
	for range n {
		u := g.Next()
		bw.WriteString(strings.Join([]string{strconv.Itoa(u.ID), u.Name, u.Email, strconv.Itoa(u.Age), u.City, u.Zip}, sep) + "\n")
	}
	return bw.Flush()
}

// WriteTOML writes the first n records of seed as one toml document of
// [[records]] tables, as zpipe writes toml.
func WriteTOML(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriter(w)
	g := New(seed)
	for i := range n {
		u := g.Next()
		if i > 0 {
			bw.WriteString("\n")
		}
		fmt.Fprintf(bw, "[[records]]\nid = %d\nname = %q\nemail = %q\nage = %d\ntags = [", u.ID, u.Name, u.Email, u.Age)
		for j, t := range u.Tags {
			if j > 0 {
				bw.WriteString(", ")
			}
			fmt.Fprintf(bw, "%q", t)
		}
		fmt.Fprintf(bw, "]\n\n[records.address]\ncity = %q\nzip = %q\n", u.City, u.Zip)
	}
	return bw.Flush()
}

// WriteYAML writes the first n records of seed as a yaml multi-document
// stream in block style. Strings are double-quoted so that a zip code stays
// a string.
func WriteYAML(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriter(w)
	g := New(seed)
	for i := range n {
		u := g.Next()
		if i > 0 {
			bw.WriteString("---\n")
		}
		fmt.Fprintf(bw, "id: %d\nname: %q\nemail: %q\nage: %d\ntags:\n", u.ID, u.Name, u.Email, u.Age)
		for _, t := range u.Tags {
			fmt.Fprintf(bw, "  - %q\n", t)
		}
		fmt.Fprintf(bw, "address:\n  city: %q\n  zip: %q\n", u.City, u.Zip)
	}
	return bw.Flush()
}

// WriteJSONFiles spreads the first n records of seed over files json files
// in dir (users-0001.json, ...), each an array of records, in order. It
// returns the paths.
func WriteJSONFiles(dir string, n int, seed uint64, files int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := New(seed)
	var paths []string
	for f := range files {
		// Spread evenly: file f holds records [n*f/files, n*(f+1)/files).
		count := n*(f+1)/files - n*f/files
		b := []byte("[\n")
		for i := range count {
			if i > 0 {
				b = append(b, ",\n"...)
			}
			b = AppendJSON(b, g.Next(), 0)
		}
		b = append(b, "\n]\n"...)
		p := filepath.Join(dir, fmt.Sprintf("users-%04d.json", f+1))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
