// Command zpipe runs declarative data pipelines: it reads records from
// files, checks them against CUE schemas and writes them in other formats.
package main

import "os"

func main() { os.Exit(Main()) }
