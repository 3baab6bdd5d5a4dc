package batch_test

import (
	"context"
	"fmt"

	"github.com/zpipe/zpipe/batch"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Convert files between formats on two goroutines, filling the schema's
// defaults; an invalid record fails its item with its position.
func ExampleNewConverter() {
	sch, err := schema.Compile("user.cue", []byte("#User: {\n\tid:   int & >=1\n\trole: *\"member\" | \"admin\"\n}\n"), "User")
	if err != nil {
		panic(err)
	}
	conv, err := batch.NewConverter(batch.WithSchema(sch), batch.Parallel(2))
	if err != nil {
		panic(err)
	}
	conv.AddConversion("users.yaml", []byte("id: 1\n---\nid: 2\nrole: admin\n"), format.YAML, format.CSV)
	conv.AddConversion("more.ndjson", []byte("{\"id\": 3}\n{\"id\": 0}\n"), format.NDJSON, format.JSON)
	sum, err := conv.Execute(context.Background())
	if err != nil {
		panic(err)
	}
	for _, it := range sum.Items {
		if it.OK() {
			fmt.Printf("%s as %s:\n%s", it.ID, it.To, it.Output)
		} else {
			fmt.Println(it.Error)
		}
	}
	fmt.Printf("%d ok, %d failed\n", sum.Successful, sum.Failed)
	// Output:
	// users.yaml as csv:
	// id,role
	// 1,member
	// 2,admin
	// more.ndjson:2:8: record 2: id: invalid value 0 (out of bound >=1) (user.cue:2:14)
	// 1 ok, 1 failed
}

// Parse csv into records typed by the schema.
func ExampleNewParser() {
	sch, err := schema.Compile("point.cue", []byte("#Point: {x: number, y: number, label: string | *\"\"}\n"), "Point")
	if err != nil {
		panic(err)
	}
	p, err := batch.NewParser(batch.WithSchema(sch))
	if err != nil {
		panic(err)
	}
	p.Add("points.csv", []byte("x,y,label\n1,2.5,a\n-3,4,\n"), format.CSV)
	sum, err := p.Execute(context.Background())
	if err != nil {
		panic(err)
	}
	for _, rec := range sum.Items[0].Records {
		b, _ := format.AppendJSON(nil, rec)
		fmt.Println(string(b))
	}
	// Output:
	// {"x":1,"y":2.5,"label":"a"}
	// {"x":-3,"y":4,"label":""}
}

// Per item output shape: one compact json, one with wide indentation.
func ExampleEncodeWith() {
	f, err := batch.NewFormatter(batch.EncodeWith(format.EncodeOptions{Compact: true}))
	if err != nil {
		panic(err)
	}
	rec := &format.Object{Fields: []format.Field{{Key: "id", Value: format.Number("7")}}}
	f.AddValues("compact", []any{rec}, format.JSON)
	f.AddValues("wide", []any{rec}, format.JSON, batch.EncodeWith(format.EncodeOptions{Indent: 4}))
	sum, err := f.Execute(context.Background())
	if err != nil {
		panic(err)
	}
	for _, it := range sum.Items {
		fmt.Printf("%s:\n%s", it.ID, it.Output)
	}
	// Output:
	// compact:
	// [
	// {"id":7}
	// ]
	// wide:
	// [
	//     {
	//         "id": 7
	//     }
	// ]
}
