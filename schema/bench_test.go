package schema

import (
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

const benchSchema = `#User: {
	id:    int & >=1
	name:  string & !=""
	email: string & =~#"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$"#
	age:   int & >=0 & <=150
	tags: [...string]
	address: {
		city: string & !=""
		zip:  string & =~"^[0-9]{5}$"
	}
}`

const benchRecord = `{"id":12,"name":"user 12","email":"user12@example.com","age":33,"tags":["ops","dev"],"address":{"city":"Oslo","zip":"01234"}}`

// BenchmarkCheck measures one valid record through the CUE evaluator, the
// cost that dominates a run.
func BenchmarkCheck(b *testing.B) {
	sch, err := Compile("user.cue", []byte(benchSchema), "User")
	if err != nil {
		b.Fatal(err)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
	if err != nil {
		b.Fatal(err)
	}
	v := sch.Validator()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, vs := v.Check(recs[0].Value, false); vs != nil {
			b.Fatal(vs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
