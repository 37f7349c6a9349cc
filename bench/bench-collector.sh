#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-collector: records/s per collector core, writing the default
# output (Hive-partitioned gzip JSON lines, docs/files.md) vs plain JSON lines
# vs a null sink (decode and discard), from concurrent HTTP/2 senders
# (pf-send).  Every arm runs with --no-attribution: this measures ingest and
# write alone (make bench-attribution measures attribution), and attribution
# would hold back records to IPs no heartbeat has named (pf-send's default
# 198.18.b.r) until heartbeat_grace has passed.
# Reports figures; exits non-zero only when something failed to run.
set -euo pipefail

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
SENDERS=${SENDERS:-8}
PARALLEL=${PARALLEL:-4}
BATCHES=${BATCHES:-150}
RECORDS=${RECORDS:-1000}
ENCODING=${ENCODING:-zstd}
WORKERS=${WORKERS:-$(nproc)}
OUT=$BUILD/bench-collector
mkdir -p "$OUT"
TICK=$(getconf CLK_TCK)
BENCH=bench-collector
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# run ARM ROUND: one collector, one pf-send; prints one JSON line
run() {
	local arm=$1 round=$2 log="$OUT/r$2-$1" data="$OUT/data-r$2-$1" extra=() port pid c0 c1 t0 t1 res
	rm -rf "$data"
	case $arm in
	null) extra=(--null-sink) ;;
	jsonl) extra=(--no-files --jsonl) ;;
	esac
	# pf-send's records carry its fixed 2023 times: no age bound, or none would be written
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api 127.0.0.1:0 --workers "$WORKERS" --no-attribution --max-record-age 0s \
		--stats-interval 0 "${extra[@]}" 2> "$log.err" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do grep -q 'ready: listening on' "$log.err" && break; sleep 0.05; done
	port=$(sed -n 's/.*ready: listening on [^ ]*:\([0-9]*\) .*/\1/p' "$log.err")
	[ -n "$port" ] || die "collector did not start: $(cat "$log.err")"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	res=$("$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$SENDERS" \
		--parallel "$PARALLEL" --batches "$BATCHES" --records "$RECORDS" \
		--encoding "$ENCODING") || die "pf-send failed: $res"
	t1=$(date +%s%N)
	c1=$(cpu_ns "$pid")
	kill -TERM "$pid"
	wait "$pid" || die "collector exited non-zero: $(tail -3 "$log.err")"
	jq -c --arg arm "$arm" --argjson round "$round" --argjson cpu "$(( c1 - c0 ))" \
		--argjson wall "$(( t1 - t0 ))" '
		{ arm: $arm, round: $round, records: .records_ok, batches_ok: .batches_ok,
		  wall_s: ($wall / 1e9), collector_cpu_s: ($cpu / 1e9),
		  rec_per_s: (.records_ok / ($wall / 1e9)),
		  rec_per_core_s: (.records_ok / ($cpu / 1e9)) }' <<< "$res" | tee -a "$OUT/results.jsonl"
	[ "$(jq -r .batches_ok <<< "$res")" = $((SENDERS * BATCHES)) ] ||
		die "not every batch was accepted: $res"
	if [ "$arm" != null ]; then
		local lines
		if [ "$arm" = files ]; then
			# published at SIGTERM; no hidden file may be left
			[ -z "$(find "$data/flows" -name '.part-*')" ] || die "hidden files left after exit"
			lines=$(find "$data/flows" -name 'part-*.json.gz' -exec zcat {} + | wc -l)
		else
			lines=$(cat "$data"/flows-w*.jsonl | wc -l)
		fi
		[ "$lines" = $((SENDERS * BATCHES * RECORDS)) ] ||
			die "$arm: $lines records written, expected $((SENDERS * BATCHES * RECORDS))"
	fi
	rm -rf "$data"
}

: > "$OUT/results.jsonl"
echo "bench-collector: $(nproc) cores, $WORKERS workers, kernel $(uname -r); $SENDERS senders x" \
	"$PARALLEL streams, $BATCHES batches of $RECORDS records each ($ENCODING), $ROUNDS rounds"
echo "  pf-send runs on the same cores: the collector's figure per core is records / its own CPU time"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run files "$r"; run jsonl "$r"; run null "$r"
	else run null "$r"; run jsonl "$r"; run files "$r"; fi
done > /dev/null

jq -rs '
  def f(n): (. * pow(10; n) | round) / pow(10; n);
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  (map(select(.arm == "files")) | map(.rec_per_core_s) | med) as $fc |
  (map(select(.arm == "null"))  | map(.rec_per_core_s) | med) as $nc |
  (map(select(.arm == "jsonl")) | map(.rec_per_core_s) | med) as $jc |
  (map(select(.arm == "files")) | map(.rec_per_s) | med) as $fw |
  (map(select(.arm == "null"))  | map(.rec_per_s) | med) as $nw |
  "round arm    records   wall s   collector CPU s   records/s   records/s per collector core",
  (.[] | "\(.round)     \(.arm | . + "      " | .[0:6]) \(.records)  \(.wall_s | f(2))     \(.collector_cpu_s | f(2))            \(.rec_per_s | round)      \(.rec_per_core_s | round)"),
  "",
  "median records/s per collector core: gzip files \($fc | round), JSON lines \($jc | round), null sink \($nc | round)",
  "median records/s (wall, sender on the same cores): files \($fw | round), null sink \($nw | round)",
  "gzip files / null sink per core: \($fc / $nc | f(3)); JSON lines / null sink: \($jc / $nc | f(3))",
  "target: at least 250000 records/s per core ingested and decoded"' "$OUT/results.jsonl"
