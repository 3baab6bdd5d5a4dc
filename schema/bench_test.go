package schema

import "github.com/zpipe/zpipe/internal/benchdata"

// benchSchema is the #User schema of the benchmarks, the one zpipe-bench
// uses too.
const benchSchema = benchdata.Schema

const benchRecord = `{"id":12,"name":"user 12","email":"user12@example.com","age":33,"tags":["ops","dev"],"address":{"city":"Oslo","zip":"01234"}}`
