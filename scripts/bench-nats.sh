#!/usr/bin/env bash
# Distributed runs (issue 10): the same two data sets run with the local
# executor and on 1, 2 and 4 zpipe worker processes against the
# coordinator's embedded NATS server, side by side in one run:
#   - 200,000 ndjson records (27 MB: four 8 MiB chunks, put in the bucket);
#   - 20,000 small json files (one record each, sent inside the messages).
# Each row gives the wall time, records/s, items/s, the coordinator's peak
# RSS, and the NATS path's cost per item over the local run. The outputs
# of every run are compared with the local run's, byte for byte. A run of
# one record gives the fixed cost of starting the server and the workers,
# which the cost per item leaves out. The coordinator's CPU time per item
# says where it saturates: one core of it serves 1000/that items a second.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
FILES=${FILES:-20000}
PORT=${PORT:-14333}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/zpipe" ./cmd/zpipe
zpipe="$work/zpipe"
go run ./internal/gendata -schema > "$work/user.cue"
mkdir -p "$work/big/data" "$work/small/data" "$work/one/data"
go run ./internal/gendata -n "$N" > "$work/big/data/users.ndjson"
go run ./internal/gendata -n "$FILES" -seed 2 | (cd "$work/small/data" && split -l 1 -a 5 --additional-suffix=.json - u)
go run ./internal/gendata -n 1 -seed 3 > "$work/one/data/u.json"
for set in one big small; do
	cp "$work/user.cue" "$work/$set/"
	cat > "$work/$set/pipeline.yaml" <<YAML
version: 1
stages:
  users:
    source: {paths: ["data/*"], format: $([ $set = big ] && echo ndjson || echo json)}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
    rejects: out/rejects.ndjson
YAML
done

# measure SET LABEL WORKERS: one run, its row and its outputs checked.
measure() {
	local set=$1 label=$2 workers=$3 dir="$work/$1" records items args=()
	rm -rf "$dir/out" "$dir/.zpipe"
	if [ "$workers" -ge 0 ]; then
		for i in $(seq "$workers"); do
			"$zpipe" worker --log-level error --name "w$i" "nats://127.0.0.1:$PORT" & pids+=($!)
		done
		args=(--executor nats --listen "127.0.0.1:$PORT" --local-workers 0)
	fi
	local start end
	start=$(date +%s.%N)
	/usr/bin/time -f '%M %U %S' -o "$work/rss" "$zpipe" run --log-level error --progress none "${args[@]}" "$dir/pipeline.yaml" > /dev/null 2> "$work/log" || [ $? -eq 1 ] || { cat "$work/log" >&2; exit 1; }
	end=$(date +%s.%N)
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
	case $set in
	big) records=$N items=$(( ($(stat -c %s "$dir/data/users.ndjson") + 8388607) / 8388608 )) ;;
	small) records=$FILES items=$FILES ;;
	one) records=1 items=1 ;;
	esac
	local secs rss
	secs=$(echo "$end - $start" | bc -l)
	read -r rss user sys < <(tail -1 "$work/rss")
	rss=$(( rss / 1024 ))
	cpu=$(printf '%.2f ms' "$(echo "($user + $sys) * 1000 / $items" | bc -l)")
	if [ "$workers" -lt 0 ]; then
		cp -r "$dir/out" "$dir/local-out"
		echo "$secs" > "$dir/local-secs"
		over="-"
	else
		diff -r "$dir/local-out" "$dir/out" > /dev/null || { echo "$set $label: outputs differ from the local run" >&2; exit 1; }
		if [ "$set" = one ]; then
			# A run of one item: what starting the server and the
			# workers costs, taken off the other rows' cost per item.
			echo "$secs - $(cat "$dir/local-secs")" | bc -l > "$work/fixed-$workers"
			over=$(printf '%.0f ms to start' "$(echo "$(cat "$work/fixed-$workers") * 1000" | bc -l)")
		else
			over=$(printf '%.2f ms' "$(echo "($secs - $(cat "$dir/local-secs") - $(cat "$work/fixed-$workers")) * 1000 / $items" | bc -l)")
		fi
	fi
	printf '| %-22s | %-9s | %6.2f s | %9.0f | %8.0f | %5d MB | %s | %s |\n' "$set ($records rec, $items items)" "$label" "$secs" \
		"$(echo "$records / $secs" | bc -l)" "$(echo "$items / $secs" | bc -l)" "$rss" "$over" "$cpu"
}

echo "| data | executor | wall | records/s | items/s | coordinator peak RSS | NATS cost per item | coordinator CPU per item |"
echo "|---|---|---|---|---|---|---|---|"
for set in one big small; do
	measure "$set" local -1
	for w in 1 2 4; do measure "$set" "$w worker$([ "$w" -gt 1 ] && echo s)" "$w"; done
done
