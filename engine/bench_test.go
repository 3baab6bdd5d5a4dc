package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/pipeline"
)

// BenchmarkStageParallel runs one stage over 20,000 ndjson records split
// into chunks, with 1 and 2 workers, to show how a stage scales with
// parallel. Compare the records/s of the two with benchstat.
func BenchmarkStageParallel(b *testing.B) {
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			dir := b.TempDir()
			var data strings.Builder
			for i := 1; i <= 20000; i++ {
				fmt.Fprintf(&data, `{"id":%d,"name":"user %d","email":"u%d@example.com","age":%d,"address":{"city":"Oslo","zip":"%05d"}}`+"\n", i, i, i, i%90, i)
			}
			files := map[string]string{
				"data.ndjson": data.String(),
				"user.cue": `#User: {
	id: int & >=1
	name: string & !=""
	email: string & =~#"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$"#
	age: int & >=0 & <=150
	address: {city: string & !="", zip: string & =~"^[0-9]{5}$"}
}`,
				"pipeline.yaml": fmt.Sprintf("version: 1\nstages:\n  users:\n    parallel: %d\n    source: {paths: [data.ndjson]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/users.ndjson}]\n", par),
			}
			for name, body := range files {
				os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
			}
			m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
			if err != nil {
				b.Fatal(err)
			}
			plan, _ := pipeline.Compile(m)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sum, err := Run(context.Background(), plan, Options{ChunkSize: 256 << 10, Force: true})
				if err != nil || sum.OK != 20000 {
					b.Fatal(err, sum)
				}
			}
			b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
