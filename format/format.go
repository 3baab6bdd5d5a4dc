package format

import (
	"fmt"
	"io"
)

// Record is one decoded record with where it came from.
type Record struct {
	// Value is the record: nil, bool, string, Number, []any or *Object.
	Value any
	// Index counts records from 1 within the source.
	Index int
	// Line and Col locate the start of the record, from 1.
	Line, Col int
	// Untyped is set when every scalar is a string waiting to be typed by a
	// schema, as csv and tsv cells are.
	Untyped bool

	// locate finds the value at path; c, when set, is the caller's to
	// keep what a format learns of the record for the next path.
	locate    func(path []string, c *locateCache) (line, col int, ok bool)
	locateKey func(path []string) (line, col int, ok bool)
}

// locateCache keeps what locating one path in a record learnt of it, for
// the next: json's objects and lists read so far.
type locateCache struct {
	json *jsonIndex
}

// LocateKey returns the line and column of the key of the field at path,
// for a message about the field itself, such as one not allowed: where
// the field's value is a block on the next lines, its key is where the
// user wrote it. It is Locate where the format cannot tell.
func (r Record) LocateKey(path []string) (line, col int) {
	if r.locateKey != nil && len(path) > 0 {
		if l, c, ok := r.locateKey(path); ok {
			return l, c
		}
	}
	return r.Locate(path)
}

// Locate returns the line and column of the value at path inside the
// record, where path holds object keys and list indexes as decimal strings.
// A path that is absent, such as a missing field, locates its nearest
// present parent; the record itself is the last resort.
func (r Record) Locate(path []string) (line, col int) {
	return r.locateIn(path, nil)
}

// LocateAll is Locate of each path, in one read of the record: a record
// with thousands of errors was read again from its start for each.
func (r Record) LocateAll(paths [][]string) [][2]int {
	var c locateCache
	out := make([][2]int, len(paths))
	for i, p := range paths {
		out[i][0], out[i][1] = r.locateIn(p, &c)
	}
	return out
}

func (r Record) locateIn(path []string, c *locateCache) (line, col int) {
	for n := len(path); r.locate != nil && n > 0; n-- {
		if l, col, ok := r.locate(path[:n], c); ok {
			return l, col
		}
	}
	return r.Line, r.Col
}

// Error is a decoding error at a position in the input.
type Error struct {
	Line, Col int
	// Record is the index of the record being read, from 1, or 0 when the
	// error is not inside a record.
	Record int
	Msg    string
	// Recoverable is set when the decoder skipped the bad record and more
	// records may follow.
	Recoverable bool
	// Raw is the text of the bad record, when the format can tell where
	// it ends, so that a rejects file can keep it.
	Raw string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	if e.Col == 0 {
		return fmt.Sprintf("%d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

// Decoder yields the records of one input, in order.
type Decoder interface {
	// Next returns the next record, or io.EOF after the last one. After a
	// *Error that is Recoverable, Next may be called again.
	Next() (Record, error)
}

// LineDecoder is a Decoder of one record per line that can hand over a
// record's line before decoding it, for a caller that may write the line
// as it stands (see schema.Validator.Passes). Next is NextLine, then
// DecodeLine.
type LineDecoder interface {
	Decoder
	// NextLine reads the next record's line, or fails as Next would
	// before decoding: io.EOF, a line over the limit.
	NextLine() error
	// Line is the line NextLine read, valid until its next call.
	Line() []byte
	// DecodeLine decodes that line into its record, as Next does.
	DecodeLine() (Record, error)
	// LineDepth is how deep the decoder lets a line's value nest.
	LineDepth() int
}

// Limits bound what a decoder accepts, so hostile input fails fast.
type Limits struct {
	// MaxDepth is the deepest nesting of lists and objects.
	MaxDepth int
	// MaxLine is the longest line, in bytes, of a line-oriented format,
	// and the longest csv or tsv row.
	MaxLine int
	// MaxNodes bounds the values a YAML document may expand to through aliases.
	MaxNodes int
	// Whole, not a limit but how to read, makes a json file whose top
	// level is a list one record rather than a record per element. (A
	// yaml document is always one record.)
	Whole bool `json:",omitempty"`
}

// DefaultLimits are generous for real data and small enough to stop an
// alias bomb or a runaway line before memory does.
var DefaultLimits = Limits{MaxDepth: 1000, MaxLine: 64 << 20, MaxNodes: 1_000_000}

// NewDecoder returns a decoder of f reading r.
func NewDecoder(f Format, r io.Reader, lim Limits) (Decoder, error) {
	c, err := codecOf(f)
	if err != nil {
		return nil, err
	}
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	return c.NewDecoder(r, lim)
}

// NewChunkDecoder returns a decoder of chunk c of an input in f, as Split
// cut it; r holds the chunk's bytes alone. Positions count from the
// chunk's place in the whole input.
func NewChunkDecoder(f Format, r io.Reader, c Chunk, lim Limits) (Decoder, error) {
	codec, err := codecOf(f)
	if err != nil {
		return nil, err
	}
	if codec.NewChunkDecoder == nil {
		return nil, fmt.Errorf("%s cannot be read in chunks", f)
	}
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	return codec.NewChunkDecoder(r, c, lim)
}

// Split cuts an input in f into chunks of about size bytes, for
// NewChunkDecoder. Fewer than two chunks mean the input is best read
// whole.
func Split(f Format, r io.Reader, size int64) ([]Chunk, error) {
	codec, err := codecOf(f)
	if err != nil {
		return nil, err
	}
	switch {
	case codec.NewChunkDecoder == nil:
		return nil, nil
	case codec.Split != nil:
		return codec.Split(r, size)
	}
	return SplitLines(r, size)
}

// ReadAll decodes every record of r. It stops at the first error.
func ReadAll(f Format, r io.Reader) ([]Record, error) {
	d, err := NewDecoder(f, r, DefaultLimits)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}
