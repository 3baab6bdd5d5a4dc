package engine

import (
	"io"

	"github.com/zpipe/zpipe/format"
)

// emptyDocument makes a yaml or toml input that holds no document (empty,
// or only comments) one empty record, as cue vet checks such a file: a
// schema's required fields are then reported missing rather than the
// file passing with no records. Other formats are left as they are: an
// empty ndjson or csv file holds no records, and an empty json file is
// malformed.
func emptyDocument(f format.Format, dec format.Decoder) format.Decoder {
	if f != format.YAML && f != format.TOML {
		return dec
	}
	return &emptyDoc{dec: dec}
}

type emptyDoc struct {
	dec  format.Decoder
	seen bool // a record or an error came
	done bool
}

func (e *emptyDoc) Next() (format.Record, error) {
	rec, err := e.dec.Next()
	if err != io.EOF {
		e.seen = true
		return rec, err
	}
	if e.seen || e.done {
		return rec, err
	}
	e.done = true
	return format.Record{Value: &format.Object{}, Index: 1, Line: 1, Col: 1}, nil
}
