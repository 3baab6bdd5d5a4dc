#!/usr/bin/env bash
# Whole-process measurement: zpipe run on 200,000 ndjson user records (1%
# invalid) into ndjson, timed with /usr/bin/time -v for peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/zpipe" ./cmd/zpipe
mkdir -p "$work/data"
go run ./internal/gendata -n "$N" > "$work/data/users.ndjson"
go run ./internal/gendata -schema > "$work/user.cue"
cat > "$work/pipeline.yaml" <<'YAML'
version: 1
stages:
  users:
    source: {paths: [data/users.ndjson]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
    rejects: out/rejects.ndjson
YAML
timefmt=$(command -v /usr/bin/time >/dev/null && echo yes || echo no)
start=$(date +%s.%N)
if [ "$timefmt" = yes ]; then
	/usr/bin/time -v "$work/zpipe" run --log-level error "$work/pipeline.yaml" > "$work/summary.txt" 2> "$work/time.txt" || true
else
	"$work/zpipe" run --log-level error "$work/pipeline.yaml" > "$work/summary.txt" || true
fi
end=$(date +%s.%N)
cat "$work/summary.txt"
secs=$(echo "$end - $start" | bc -l)
printf 'records: %d  wall: %.2fs  records/s: %.0f\n' "$N" "$secs" "$(echo "$N / $secs" | bc -l)"
if [ "$timefmt" = yes ]; then
	grep -E 'Maximum resident set size|Elapsed' "$work/time.txt"
else
	echo "install GNU time (apt-get install time) for peak RSS"
fi
