// Command zpipe runs declarative data pipelines: it reads records from
// files, checks them against CUE schemas and writes them in other formats.
package main

import (
	"os"

	_ "github.com/zpipe/zpipe/internal/gogc" // GOGC=200, from the start
)

func main() {
	os.Exit(Main())
}
