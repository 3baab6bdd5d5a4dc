package format_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/zpipe/zpipe/format"
)

// Decode ndjson, keeping key order and every digit, and write it as csv.
func Example() {
	in := `{"id": 12345678901234567890, "name": "Ada", "score": 0.10}
{"id": 2, "name": "Alan", "score": 1e3}
`
	dec, err := format.NewDecoder(format.NDJSON, strings.NewReader(in), format.DefaultLimits)
	if err != nil {
		panic(err)
	}
	enc, err := format.NewEncoder(format.CSV, os.Stdout, format.EncodeOptions{})
	if err != nil {
		panic(err)
	}
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		if err := enc.Encode(rec.Value); err != nil {
			panic(err)
		}
	}
	enc.Close()
	// Output:
	// id,name,score
	// 12345678901234567890,Ada,0.10
	// 2,Alan,1e3
}

// A decoding error carries its line and column.
func ExampleError() {
	_, err := format.ReadAll(format.JSON, strings.NewReader("[\n  {\"id\": 1},\n  {\"id\": }\n]"))
	fmt.Println(err)
	// Output:
	// 3:10: unexpected '}', expected a value
}
