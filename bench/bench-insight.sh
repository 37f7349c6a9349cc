#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-insight: what the insight view (docs/insight.md) costs per
# record.  The same collector, end to end as deployed by default (ingest,
# attribution, Hive-partitioned gzip files), with the view (the default) and
# with --no-insight, in the same run, rounds interleaved; then the same two
# arms with --null-sink (decode, attribute, tap the view, write nothing),
# where the view's own CPU is a larger share.  The senders (pf-send) are pods
# whose records' remote IPs are the other senders' pod IPs, stated in their
# heartbeats, with times in the settled recent past (--ago): every record is
# attributed and lands inside the view's window (checked: the view's
# records_total{outcome="added"} must equal the records sent).
# Reports records/s per collector core, the ratio, and the view's cost in ns
# per record; exits non-zero only when something failed to run.
set -euo pipefail

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
SENDERS=${SENDERS:-8}
PARALLEL=${PARALLEL:-4}
BATCHES=${BATCHES:-150}
RECORDS=${RECORDS:-1000}
ENCODING=${ENCODING:-zstd}
WORKERS=${WORKERS:-$(nproc)}
SPAN_MS=${SPAN_MS:-10000}
AGO_MS=${AGO_MS:-60000}
OUT=$BUILD/bench-insight
mkdir -p "$OUT"
BENCH=bench-insight
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# sample FILE SAMPLE: a sample's value (0 when absent)
sample() { grep -F "$2 " "$1" | sed -n 's/.* \([0-9]*\)$/\1/p' | head -1 | grep . || echo 0; }

# run ARM ROUND: one collector, one pf-send; prints one JSON line.  ARM: insight,
# noinsight (--no-insight), insight-null and noinsight-null (the same with --null-sink).
run() {
	local arm=$1 round=$2 log="$OUT/r$2-$1" data="$OUT/data-r$2-$1" extra=() port aport pid
	local c0 c1 t0 t1 res added=0 written total=$((SENDERS * BATCHES * RECORDS))
	rm -rf "$data"
	case $arm in *-null) extra+=(--null-sink) ;; esac
	case $arm in noinsight*) extra+=(--no-insight) ;; esac
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api 127.0.0.1:0 --workers "$WORKERS" --stats-interval 0 "${extra[@]}" \
		2> "$log.err" &
	pid=$!
	pids+=("$pid")
	collector_ports "$log.err"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	res=$("$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$SENDERS" \
		--parallel "$PARALLEL" --batches "$BATCHES" --records "$RECORDS" \
		--encoding "$ENCODING" --remote peers --apps --span-ms "$SPAN_MS" --ago "$AGO_MS") ||
		die "pf-send failed: $res"
	t1=$(date +%s%N)
	c1=$(cpu_ns "$pid")
	curl -sf "http://127.0.0.1:$aport/metrics" > "$log.metrics" || die "no /metrics"
	written=$(sample "$log.metrics" podflow_collector_records_total)
	if [ "${arm%-null}" = insight ]; then
		added=$(sample "$log.metrics" 'podflow_collector_insight_records_total{outcome="added"}')
		[ "$added" = "$written" ] || die "$arm: the view added $added of $written records"
	fi
	kill -TERM "$pid"
	wait "$pid" || die "collector exited non-zero: $(tail -3 "$log.err")"
	[ "$(jq -r .batches_ok <<< "$res")" = $((SENDERS * BATCHES)) ] ||
		die "not every batch was accepted: $res"
	[ "$written" = "$total" ] || die "$arm: $written records written at once, expected $total"
	jq -nc --arg arm "$arm" --argjson round "$round" --argjson cpu "$((c1 - c0))" \
		--argjson wall "$((t1 - t0))" --argjson n "$written" --argjson added "$added" '
		{ arm: $arm, round: $round, records: $n, insight_added: $added,
		  wall_s: ($wall / 1e9), collector_cpu_s: ($cpu / 1e9),
		  rec_per_core_s: ($n / ($cpu / 1e9)), cpu_ns_per_rec: ($cpu / $n) }' |
		tee -a "$OUT/results.jsonl"
	rm -rf "$data"
}

: > "$OUT/results.jsonl"
echo "bench-insight: $(nproc) cores, $WORKERS workers, kernel $(uname -r); $SENDERS senders x" \
	"$PARALLEL streams, $BATCHES batches of $RECORDS records each ($ENCODING), $ROUNDS rounds"
echo "  attributed records (heartbeats name every remote IP), times ${AGO_MS} ms ago: all in the view's window"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		run insight "$r"; run noinsight "$r"; run insight-null "$r"; run noinsight-null "$r"
	else
		run noinsight-null "$r"; run insight-null "$r"; run noinsight "$r"; run insight "$r"
	fi
done > /dev/null

jq -rs '
  def f(n): (. * pow(10; n) | round) / pow(10; n);
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def rate(a): map(select(.arm == a)) | map(.rec_per_core_s) | med;
  def ns(a): map(select(.arm == a)) | map(.cpu_ns_per_rec) | med;
  rate("insight") as $i | rate("noinsight") as $n |
  rate("insight-null") as $in | rate("noinsight-null") as $nn |
  "round arm             records   wall s   collector CPU s   records/s per core   CPU ns/record",
  (.[] | "\(.round)     \(.arm | . + "                " | .[0:15]) \(.records)  \(.wall_s | f(2))     \(.collector_cpu_s | f(2))            \(.rec_per_core_s | round)               \(.cpu_ns_per_rec | round)"),
  "",
  (ns("insight-null") - ns("noinsight-null")) as $cost | ns("noinsight") as $e2e |
  "median records/s per collector core, end to end (attribution, gzip files): with the view \($i | round), without \($n | round); ratio \($i / $n | f(3))",
  "median with --null-sink (decode, attribute, tap the view; no JSON, no gzip): with the view \($in | round), without \($nn | round); ratio \($in / $nn | f(3))",
  "the view'"'"'s CPU per record, median with minus without: null sink \($cost | round) ns (steady: the arms differ by the view alone), end to end \(ns("insight") - ns("noinsight") | round) ns (noisier: gzip and the page cache dominate)",
  "the view'"'"'s cost against the end-to-end cost of a record without it (\($e2e | round) ns): \($cost / $e2e * 100 | f(1)) % (the target is under 10 %)"
' "$OUT/results.jsonl"
