#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-ipfix: the collector's records/s per core taking IPFIX over UDP
# (pf-send --ipfix: one UDP socket and exporter per sender, docs/ipfix.md)
# against HTTP/2 (pf-send --url, as bench-collector) in the same run, with
# the same senders, batches and records, writing the default output
# (Hive-partitioned gzip JSON lines) and with a null sink.  Every arm runs
# with --no-attribution, as bench-collector's.  UDP has no backpressure: the
# IPFIX senders are paced (RATE records/s each, 25000: 200k/s for the 8,
# about what the collector takes on 2 cores shared with pf-send; RATE=0: as
# fast as they can), the collector takes what it can and the kernel drops
# the rest (counted: podflow_collector_ipfix_receive_queue_drops_total), so
# the IPFIX figure is records taken per second of the collector's CPU, with
# the share that arrived beside it.
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
RATE=${RATE:-25000}
OUT=$BUILD/bench-ipfix
mkdir -p "$OUT"
BENCH=bench-ipfix
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# metric NAME: one sample of the running collector's /metrics (0 when absent)
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$aport/metrics" |
		awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

# run TRANSPORT SINK ROUND: one collector, one pf-send; prints one JSON line
run() {
	local tr=$1 sink=$2 round=$3 log="$OUT/r$3-$1-$2" data="$OUT/data-r$3-$1-$2" extra=()
	local pid c0 c1 t0 t1 res ip sent taken lost lines
	rm -rf "$data"
	if [ "$sink" = null ]; then extra+=(--null-sink); fi
	if [ "$tr" = ipfix ]; then extra+=(--ipfix-listen 127.0.0.1:0 --ipfix-workers "$WORKERS"); fi
	# pf-send's records carry its fixed 2023 times: no age bound, or none would be written
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api 127.0.0.1:0 --workers "$WORKERS" --no-attribution --max-record-age 0s \
		--stats-interval 0 "${extra[@]}" 2> "$log.err" &
	pid=$!
	pids+=("$pid")
	collector_ports "$log.err"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	if [ "$tr" = ipfix ]; then
		ip=$(sed -n 's/.*ipfix: listening on [^ ]*:\([0-9]*\) .*/\1/p' "$log.err")
		[ -n "$ip" ] || die "no IPFIX listener: $(cat "$log.err")"
		res=$("$BUILD/pf-send" --ipfix "127.0.0.1:$ip" --senders "$SENDERS" \
			--batches "$BATCHES" --records "$RECORDS" --rate "$RATE") ||
			die "pf-send --ipfix failed: $res"
		sent=$(jq -r .datagrams <<< "$res")
		# until every datagram is taken or counted dropped (the queue drains after the senders end)
		for _ in $(seq 200); do
			taken=$(( $(metric 'podflow_collector_ipfix_datagrams_total{result="decoded"}') +
				$(metric podflow_collector_ipfix_receive_queue_drops_total) ))
			[ "$taken" -ge "$sent" ] && break
			sleep 0.05
		done
		[ "$taken" = "$sent" ] || die "ipfix: $taken of $sent datagrams decoded or counted dropped"
		taken=$(metric 'podflow_collector_ipfix_records_total{result="accepted"}')
		lost=$(metric podflow_collector_ipfix_receive_queue_drops_total)
	else
		res=$("$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$SENDERS" \
			--parallel "$PARALLEL" --batches "$BATCHES" --records "$RECORDS" \
			--encoding "$ENCODING") || die "pf-send failed: $res"
		[ "$(jq -r .batches_ok <<< "$res")" = $((SENDERS * BATCHES)) ] ||
			die "not every batch was accepted: $res"
		sent=$(jq -r .batches_ok <<< "$res")
		taken=$(jq -r .records_ok <<< "$res")
		lost=0
	fi
	t1=$(date +%s%N)
	c1=$(cpu_ns "$pid")
	kill -TERM "$pid"
	wait "$pid" || die "collector exited non-zero: $(tail -3 "$log.err")"
	if [ "$sink" = files ]; then
		# published at SIGTERM; no hidden file may be left
		[ -z "$(find "$data/flows" -name '.part-*')" ] || die "hidden files left after exit"
		lines=$(find "$data/flows" -name 'part-*.json.gz' -exec zcat {} + | wc -l)
		[ "$lines" = "$taken" ] || die "$tr: $lines records written, $taken taken"
	fi
	jq -nc --arg tr "$tr" --arg sink "$sink" --argjson round "$round" \
		--argjson cpu "$(( c1 - c0 ))" --argjson wall "$(( t1 - t0 ))" \
		--argjson records "$taken" --argjson offered "$((SENDERS * BATCHES * RECORDS))" \
		--argjson units "$sent" --argjson dropped "$lost" '
		{ transport: $tr, sink: $sink, round: $round, records: $records,
		  offered: $offered, taken_share: ($records / $offered),
		  sent: $units, kernel_drops: $dropped,
		  wall_s: ($wall / 1e9), collector_cpu_s: ($cpu / 1e9),
		  rec_per_core_s: ($records / ($cpu / 1e9)) }' | tee -a "$OUT/results.jsonl"
	rm -rf "$data"
}

: > "$OUT/results.jsonl"
echo "bench-ipfix: $(nproc) cores, $WORKERS workers (HTTP/2, or IPFIX), kernel $(uname -r);" \
	"$SENDERS senders, $BATCHES batches of $RECORDS records each; HTTP/2: $PARALLEL streams," \
	"$ENCODING; IPFIX: $( [ "$RATE" = 0 ] && echo "unpaced" || echo "$RATE records/s per sender")," \
	"1400-byte datagrams; $ROUNDS rounds"
echo "  pf-send runs on the same cores: the figure per core is records taken / the collector's CPU time"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		run http2 files "$r"; run ipfix files "$r"; run http2 null "$r"; run ipfix null "$r"
	else
		run ipfix null "$r"; run http2 null "$r"; run ipfix files "$r"; run http2 files "$r"
	fi
done > /dev/null

jq -rs '
  def f(n): (. * pow(10; n) | round) / pow(10; n);
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def m(t; s; k): map(select(.transport == t and .sink == s)) | map(.[k]) | med;
  "round transport sink   records    taken   collector CPU s   records/s per collector core",
  (.[] | "\(.round)     \(.transport + "    " | .[0:9]) \(.sink + "   " | .[0:6]) \(.records)  \(.taken_share * 100 | f(1))%      \(.collector_cpu_s | f(2))            \(.rec_per_core_s | round)"),
  "",
  "median records/s per collector core, gzip files: HTTP/2 \(m("http2"; "files"; "rec_per_core_s") | round), IPFIX \(m("ipfix"; "files"; "rec_per_core_s") | round)",
  "median records/s per collector core, null sink:  HTTP/2 \(m("http2"; "null"; "rec_per_core_s") | round), IPFIX \(m("ipfix"; "null"; "rec_per_core_s") | round)",
  "IPFIX / HTTP/2 per core: gzip files \(m("ipfix"; "files"; "rec_per_core_s") / m("http2"; "files"; "rec_per_core_s") | f(3)), null sink \(m("ipfix"; "null"; "rec_per_core_s") / m("http2"; "null"; "rec_per_core_s") | f(3))",
  "IPFIX share of the records offered that the collector took (median): gzip files \(m("ipfix"; "files"; "taken_share") * 100 | f(1))%, null sink \(m("ipfix"; "null"; "taken_share") * 100 | f(1))% (the rest: kernel receive-queue drops, counted)"' "$OUT/results.jsonl"
