// Command gendata writes a deterministic set of user records as ndjson, for
// benchmarks: every hundredth record is invalid against the #User schema
// of scripts/bench-run.sh.
//
//	go run ./internal/gendata -n 200000 > users.ndjson
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

func main() {
	n := flag.Int("n", 200000, "records to write")
	seed := flag.Uint64("seed", 1, "random seed")
	pad := flag.Int("pad", 0, "bytes of filler text per record, to make big files from few records")
	flag.Parse()
	r := rand.New(rand.NewPCG(*seed, 0))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	cities := []string{"Amsterdam", "Berlin", "Lisbon", "Oslo", "Turin"}
	tags := []string{"admin", "beta", "ops", "dev", "qa"}
	filler := ""
	if *pad > 0 {
		filler = `,"note":"` + strings.Repeat("x", *pad) + `"`
	}
	for i := 1; i <= *n; i++ {
		zip := fmt.Sprintf("%05d", r.IntN(100000))
		age := r.IntN(90) + 10
		if i%100 == 0 { // 1% invalid: a zip code of four digits
			zip = zip[:4]
		}
		fmt.Fprintf(w, `{"id":%d,"name":"user %d","email":"user%d@example.com","age":%d,"tags":["%s","%s"],"address":{"city":"%s","zip":"%s"}%s}`+"\n",
			i, i, i, age, tags[r.IntN(len(tags))], tags[r.IntN(len(tags))], cities[r.IntN(len(cities))], zip, filler)
	}
}
