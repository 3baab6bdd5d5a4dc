package format

import (
	"io"
	"testing"
)

func TestParseRefusesAnUnknownName(t *testing.T) {
	_, err := Parse("xml")
	want := `unknown format "xml": must be one of ` + Names()
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestChunked(t *testing.T) {
	tests := []struct {
		f    Format
		want bool
	}{
		{JSON, true}, {NDJSON, true}, {YAML, false}, {TOML, false}, {CSV, false}, {TSV, false}, {"xml", false},
	}
	for _, tt := range tests {
		if got := tt.f.Chunked(); got != tt.want {
			t.Errorf("%s.Chunked() = %v, want %v", tt.f, got, tt.want)
		}
	}
	if _, err := NewChunkDecoder(YAML, nil, Chunk{Line: 1, Record: 1}, Limits{}); err == nil || err.Error() != "yaml cannot be read in chunks" {
		t.Errorf("NewChunkDecoder(yaml) err = %v", err)
	}
}

func TestHeaderLine(t *testing.T) {
	tests := []struct {
		f    Format
		want string
	}{
		{CSV, "id,full name\n"},
		{TSV, "id\tfull name\n"},
		{JSON, ""},
		{"xml", ""},
	}
	for _, tt := range tests {
		if got := HeaderLine(tt.f, []string{"id", "full name"}); string(got) != tt.want {
			t.Errorf("HeaderLine(%s) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestUnknownFormatsAreErrors(t *testing.T) {
	if _, err := NewDecoder("xml", nil, Limits{}); err == nil || err.Error() != `unknown format "xml"` {
		t.Errorf("NewDecoder err = %v", err)
	}
	if _, err := NewEncoder("xml", io.Discard, EncodeOptions{}); err == nil || err.Error() != `unknown format "xml"` {
		t.Errorf("NewEncoder err = %v", err)
	}
	if err := Join("xml", io.Discard); err == nil || err.Error() != `unknown format "xml"` {
		t.Errorf("Join err = %v", err)
	}
}

func TestRegisterRefusesAClash(t *testing.T) {
	dec := func(io.Reader, Limits) (Decoder, error) { return nil, nil }
	tests := []struct {
		name  string
		codec Codec
		want  string
	}{
		{"a name taken", Codec{Name: JSON, NewDecoder: dec, NewUnit: fixedUnit(appendYAML)}, `format: "json" is registered twice`},
		{"an extension taken", Codec{Name: "other", Extensions: []string{".other", ".YML"}, NewDecoder: dec, NewUnit: fixedUnit(appendYAML)}, `format: "yaml" and "other" both claim .YML`},
		{"no decoder", Codec{Name: "other", NewUnit: fixedUnit(appendYAML)}, `format: codec "other" needs a name, NewDecoder and NewUnit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if got := recover(); got != tt.want {
					t.Errorf("panic = %v, want %q", got, tt.want)
				}
			}()
			Register(tt.codec)
		})
	}
	if _, ok := codecs["other"]; ok {
		t.Error("a refused codec was registered")
	}
	if _, ok := byExtension[".other"]; ok {
		t.Error("a refused codec's extension was registered")
	}
}
