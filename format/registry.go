package format

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format names an encoding of records.
type Format string

// Codec is everything zpipe asks of one format. A format is one file that
// calls Register from its init function; no other Go code names it. The
// one other place is the #Format list in cueschemas/manifest.cue, which
// says what a manifest may name.
type Codec struct {
	// Name is what manifests, flags and messages call the format.
	Name Format
	// Order places the format in All, and so in messages. The built-in
	// formats use 10 to 60 in steps of 10, leaving room between them.
	Order int
	// Extensions are the file name extensions, lower case with the dot,
	// by which Detect knows the format.
	Extensions []string
	// Sniff, if set, scores how surely the first lines of a file are in
	// this format: 0 for not at all. It is given up to 8 lines, trimmed,
	// none blank or a # comment, and at least one. Detect takes the
	// highest score; detect.go lists those of the built-in formats.
	Sniff func(lines [][]byte) int
	// NewDecoder reads the records of one input. The limits it is given
	// are never zero: DefaultLimits stand in for none.
	NewDecoder func(r io.Reader, lim Limits) (Decoder, error)
	// NewChunkDecoder, for a format whose large inputs may be cut into
	// pieces read in parallel, reads one Chunk of an input: r holds the
	// chunk's bytes alone. Setting it makes the format Chunked.
	NewChunkDecoder func(r io.Reader, c Chunk, lim Limits) (Decoder, error)
	// Split cuts an input into Chunks of about size bytes; nil means
	// SplitLines, for a format of one record per line. It may return a
	// single chunk, or none, to have the input read whole.
	Split func(r io.Reader, size int64) ([]Chunk, error)
	// NewUnit is called once per encoder. It returns the function that
	// appends one record and, when Frame.Header is set, the function
	// that gives the header line once the columns are known: from
	// opts.Columns, or else from the first record appended.
	NewUnit func(opts EncodeOptions) (UnitFunc, func() []byte)
	// Frame says how the units join into one file.
	Frame Frame
	// Holds is the set of kinds the format can hold; pipeline.Lint
	// reports schema fields of a kind it lacks.
	Holds Kinds
	// Layout lists the output options the encoder honours: "indent"
	// (EncodeOptions.Indent), "pretty" (EncodeOptions.Compact). A
	// manifest that sets another is told so.
	Layout []string
	// Weight estimates the memory that decoding n bytes of input takes,
	// for the max_memory gate. Nil means WholeFileWeight.
	Weight func(n int64) int64
}

// Kinds is a set of the kinds of value that not every format can hold.
type Kinds uint8

// The kinds a format may lack.
const (
	// Objects nested inside a record.
	Objects Kinds = 1 << iota
	// Lists inside a record.
	Lists
	// Nulls, as a field's value.
	Nulls
	// EmptyStrings, told from an absent field.
	EmptyStrings
)

// StreamedWeight is the Weight of a format decoded a record at a time:
// about one read buffer, however big the input.
func StreamedWeight(n int64) int64 { return min(n, 1<<20) + 1 }

// WholeFileWeight is the Weight of a format decoded from the whole input
// at once: the bytes, and the values parsed from them.
func WholeFileWeight(n int64) int64 { return 3*n + 1 }

var (
	codecs      = map[Format]*Codec{}
	byExtension = map[string]*Codec{}
)

// All lists every registered format in Order, the order the docs and
// errors name them: json, ndjson, yaml, toml, csv, tsv.
var All []Format

// Register adds a format. It is meant for init functions: it is not safe
// to call while other functions of this package run. It panics on a codec
// without a name, decoder or encoder, or with a name or extension that is
// taken, since those are mistakes in the program.
func Register(c Codec) {
	if c.Name == "" || c.NewDecoder == nil || c.NewUnit == nil {
		panic(fmt.Sprintf("format: codec %q needs a name, NewDecoder and NewUnit", c.Name))
	}
	if _, ok := codecs[c.Name]; ok {
		panic(fmt.Sprintf("format: %q is registered twice", c.Name))
	}
	for _, ext := range c.Extensions {
		if prev, ok := byExtension[strings.ToLower(ext)]; ok {
			panic(fmt.Sprintf("format: %q and %q both claim %s", prev.Name, c.Name, ext))
		}
	}
	if c.Weight == nil {
		c.Weight = WholeFileWeight
	}
	for _, ext := range c.Extensions {
		byExtension[strings.ToLower(ext)] = &c
	}
	codecs[c.Name] = &c
	i := slices.IndexFunc(All, func(f Format) bool { return codecs[f].Order > c.Order })
	if i < 0 {
		i = len(All)
	}
	All = slices.Insert(All, i, c.Name)
}

func codecOf(f Format) (*Codec, error) {
	if c, ok := codecs[f]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// Parse turns a format name into a Format.
func Parse(name string) (Format, error) {
	if _, ok := codecs[Format(name)]; ok {
		return Format(name), nil
	}
	return "", fmt.Errorf("unknown format %q: must be one of %s", name, Names())
}

// Names returns the format names joined for messages: "json, ndjson, ...".
func Names() string {
	s := make([]string, len(All))
	for i, f := range All {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Honours reports whether f's encoder honours an output option, such as
// "indent"; HonouredBy lists the formats that do.
func (f Format) Honours(option string) bool {
	c, ok := codecs[f]
	return ok && slices.Contains(c.Layout, option)
}

func HonouredBy(option string) []Format {
	var out []Format
	for _, f := range All {
		if f.Honours(option) {
			out = append(out, f)
		}
	}
	return out
}

// Chunked reports whether a large input of f can be cut into Chunks,
// read in parallel and resumed in pieces: at line boundaries (ndjson), or
// between the elements of a top-level array (json).
func (f Format) Chunked() bool {
	c, ok := codecs[f]
	return ok && c.NewChunkDecoder != nil
}

// Holds reports whether f can hold every kind in k. A format that is not
// registered holds none.
func (f Format) Holds(k Kinds) bool {
	c, ok := codecs[f]
	return ok && c.Holds&k == k
}

// Weight estimates the memory that decoding n bytes of f takes, for the
// max_memory gate. A format that is not registered weighs as a whole file.
func Weight(f Format, n int64) int64 {
	if c, ok := codecs[f]; ok {
		return c.Weight(n)
	}
	return WholeFileWeight(n)
}
