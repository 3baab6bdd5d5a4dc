#!/usr/bin/env bash
# zpipe convert against zpipe run on the same 200,000 ndjson records and
# #User schema (issue 13 asks for at least 90% of run's rate), medians of
# RUNS runs side by side; then a 10x larger stream piped through
# convert's standard input to yaml, to show its memory stays bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
RUNS=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/zpipe" ./cmd/zpipe
mkdir -p "$work/data"
go run ./internal/gendata -n "$N" > "$work/data/users.ndjson"
go run ./internal/gendata -schema > "$work/user.cue"
# The same schema as JSON Schema, checked through CUE's translation.
go run ./internal/gendata -jsonschema > "$work/user.schema.json"
cat > "$work/p.yaml" <<'YAML'
version: 1
stages:
  users:
    source: {paths: [data/users.ndjson]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
    rejects: out/rejects.ndjson
YAML
cd "$work"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$RUNS"); do
	rm -rf out .zpipe
	/usr/bin/time -f '%e %M' -o t.run ./zpipe run --progress none --log-level error p.yaml > /dev/null || true
	/usr/bin/time -f '%e %M' -o t.conv ./zpipe convert --log-level error -s user.cue#User --rejects rej.ndjson -o conv.ndjson data/users.ndjson || true
	/usr/bin/time -f '%e %M' -o t.js ./zpipe convert --log-level error -s user.schema.json --rejects rej-js.ndjson -o js.ndjson data/users.ndjson || true
	tail -1 t.run >> runs.txt
	tail -1 t.conv >> convs.txt
	tail -1 t.js >> js.txt
done
cmp conv.ndjson out/users.ndjson
cmp js.ndjson conv.ndjson
run=$(cut -d' ' -f1 runs.txt | median)
conv=$(cut -d' ' -f1 convs.txt | median)
printf '| %s records, ndjson -> ndjson, #User | wall (median of %d) | records/s | peak RSS |\n|---|---|---|---|\n' "$N" "$RUNS"
printf '| zpipe run | %.2f s | %.0f | %d MB |\n' "$run" "$(echo "$N / $run" | bc -l)" "$(( $(cut -d' ' -f2 runs.txt | median) / 1024 ))"
printf '| zpipe convert -s | %.2f s | %.0f | %d MB |\n' "$conv" "$(echo "$N / $conv" | bc -l)" "$(( $(cut -d' ' -f2 convs.txt | median) / 1024 ))"
js=$(cut -d' ' -f1 js.txt | median)
printf '| zpipe convert -s user.schema.json | %.2f s | %.0f | %d MB |\n' "$js" "$(echo "$N / $js" | bc -l)" "$(( $(cut -d' ' -f2 js.txt | median) / 1024 ))"
printf 'convert/run rate: %.2f; JSON Schema/CUE rate: %.2f\n' "$(echo "$run / $conv" | bc -l)" "$(echo "$conv / $js" | bc -l)"
# Streaming: ten copies through a pipe, never on disk as one file.
/usr/bin/time -f '%e %M' -o t.pipe sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do cat data/users.ndjson; done | ./zpipe convert --log-level error --from ndjson --to yaml - | wc -l' > lines.txt
read -r secs rss < <(tail -1 t.pipe)
printf 'pipe: %d records through convert --from ndjson --to yaml - in %.2f s, convert peak RSS %d MB (%s yaml lines)\n' $((10 * N)) "$secs" $((rss / 1024)) "$(cat lines.txt)"
