#!/usr/bin/env bash
# Memory limit: a 1 GB ndjson input with limits.max_memory: 256MiB must keep
# peak RSS under 400 MB. Records carry 900 bytes of filler, so 1 GB is about
# a million records and the run takes a minute, not an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1050000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/zpipe" ./cmd/zpipe
mkdir -p "$work/data"
go run ./internal/gendata -n "$N" -pad 900 > "$work/data/users.ndjson"
ls -l "$work/data/users.ndjson" | awk '{printf "input: %.2f GB\n", $5/1e9}'
cat > "$work/user.cue" <<'CUE'
#User: {
	id:    int & >=1
	name:  string & !=""
	email: string & =~#"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$"#
	age:   int & >=0 & <=150
	tags: [...string]
	address: {city: string & !="", zip: string & =~"^[0-9]{5}$"}
	note?: string
}
CUE
cat > "$work/pipeline.yaml" <<'YAML'
version: 1
limits: {max_memory: 256MiB}
stages:
  users:
    source: {paths: [data/users.ndjson]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}, {format: yaml, path: out/users.yaml}]
    rejects: out/rejects.ndjson
YAML
/usr/bin/time -v "$work/zpipe" run --log-level error --progress none "$work/pipeline.yaml" > "$work/summary.txt" 2> "$work/time.txt" || true
cat "$work/summary.txt"
grep -E 'Maximum resident set size|Elapsed' "$work/time.txt"
