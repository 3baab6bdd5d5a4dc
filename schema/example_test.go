package schema_test

import (
	"fmt"
	"strings"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Check records against a CUE definition: a valid record comes back with
// the schema's defaults filled in, an invalid one with its violations.
func ExampleValidator_Check() {
	sch, err := schema.Compile("user.cue", []byte(`
#User: {
	id:   int & >=1
	role: *"member" | "admin"
}`), "User")
	if err != nil {
		panic(err)
	}
	v := sch.Validator()
	defer sch.Put(v)

	recs, _ := format.ReadAll(format.NDJSON, strings.NewReader("{\"id\": 7}\n{\"id\": 0, \"role\": \"root\"}\n"))
	for _, rec := range recs {
		out, violations := v.Check(rec.Value, rec.Untyped)
		if violations != nil {
			for _, vi := range violations {
				line, col := rec.Locate(vi.Elems)
				fmt.Printf("record %d, %d:%d: %s\n", rec.Index, line, col, vi)
			}
			continue
		}
		b, _ := format.AppendJSON(nil, out)
		fmt.Printf("record %d: %s\n", rec.Index, b)
	}
	// Output:
	// record 1: {"id":7,"role":"member"}
	// record 2, 2:8: id: invalid value 0 (out of bound >=1) (user.cue:3:14)
	// record 2, 2:19: role: "root" is not one of member, admin (user.cue:4:2)
}
