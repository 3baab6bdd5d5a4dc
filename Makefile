# make test is what CI runs: vet, a gofmt check, staticcheck (pinned), a
# build for macOS and Windows (so that no Linux-only call slips in
# untagged) and the race-enabled tests.
GO       ?= go
FUZZTIME ?= 30s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: test vet fmtcheck staticcheck crossbuild build quickstart fuzz bench crash

# A race-enabled process sleeps a second before it exits, so that other
# goroutines' reports get out; the tests start hundreds of zpipe and
# evaluator processes, and those sleeps were half of make test's time.
# Options given in GORACE come after, so they win.
test: vet fmtcheck staticcheck crossbuild
	GORACE="atexit_sleep_ms=10 $$GORACE" $(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmtcheck:
	@out="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) run $(STATICCHECK) ./...

crossbuild:
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...

build:
	$(GO) build -o bin/zpipe ./cmd/zpipe

# Runs the quickstart example; exit status 1 is expected: its data holds
# invalid records on purpose, and they land in out/rejects.ndjson.
quickstart:
	$(GO) run ./cmd/zpipe run examples/pipelines/quickstart/pipeline.yaml || test $$? -eq 1

# Fuzz each decoder and the manifest loader for FUZZTIME each.
fuzz:
	$(GO) test ./format -run '^$$' -fuzz '^FuzzJSONDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzNDJSONDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzCSVDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzYAMLDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzTOMLDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzTOMLSections$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzDecompress$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzJSONWindows$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzJSONLines$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzJSONSplit$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./format -run '^$$' -fuzz '^FuzzYAMLFastAgrees$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzPasses$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzFastPathAgreesWithCUE$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzGeneratedSchemaAgreesWithCUE$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pipeline -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzDecodeEntry$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzJournalRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzItemProvenanceJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

# Long measurements, kept out of make test: benchmarks, and the 200,000
# record whole-process run.
bench:
	$(GO) test ./... -run '^$$' -bench . -benchmem -count 5
	bash scripts/bench-run.sh
	bash scripts/bench-memory.sh
	bash scripts/bench-nats.sh
	bash scripts/bench-convert.sh
	$(GO) run ./cmd/zpipe-bench

# SIGKILLs zpipe run 20 times at random moments and checks that resuming
# loses nothing, redoes nothing finished and leaves no half-written file.
crash:
	$(GO) test -tags crash -run '^TestCrash' -count=1 -v -timeout 30m ./cmd/zpipe
