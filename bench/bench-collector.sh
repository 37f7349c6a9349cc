#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-collector: records/s per collector core, writing the default
# output (Hive-partitioned gzip JSON lines, docs/files.md) vs the same files
# by ISA-L (arm isal, sinks.files.compressor: isa-l) vs plain JSON lines
# vs a null sink (decode and discard) vs the Kafka producer (to librdkafka's
# mock cluster, run by pf-kmock in a process of its own: the producer's cost,
# not a real cluster's), from concurrent HTTP/2 senders (pf-send).  The Kafka
# arm's senders are apps of their own (--apps: the key, local_app, spreads
# them over the topic's partitions); its time and CPU run until the brokers
# acknowledged every record, and the topic is read back and counted (the
# mock keeps a bounded log per partition: records past its start are
# counted by their offsets, the rest read back).
# Every arm runs with --no-attribution: this measures ingest and
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
# the arms, in the odd rounds' order (even rounds run them reversed)
ARMS=${ARMS:-files isal jsonl kafka null}
# extra collector flags for the Kafka arm, e.g. "--kafka-compression lz4"
KAFKA_OPTS=${KAFKA_OPTS:-}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
OUT=$BUILD/bench-collector
mkdir -p "$OUT"
TICK=$(getconf CLK_TCK)
BENCH=bench-collector
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# delivered AP: records the Kafka sink has had acknowledged, from /metrics
delivered() {
	curl -fsS "http://127.0.0.1:$1/metrics" |
		sed -n 's/^podflow_collector_kafka_sink_records_total{result="delivered"} \([0-9]*\)$/\1/p'
}

# run ARM ROUND: one collector, one pf-send; prints one JSON line
run() {
	local arm=$1 round=$2 log="$OUT/r$2-$1" data="$OUT/data-r$2-$1" extra=() send=() port aport pid
	local c0 c1 t0 t1 res kpid boot want=$((SENDERS * BATCHES * RECORDS)) tx=null
	rm -rf "$data"
	case $arm in
	null) extra=(--null-sink) ;;
	isal) extra=(--files-compressor isa-l) ;;
	jsonl) extra=(--no-files --jsonl) ;;
	kafka)
		"$BUILD/pf-kmock" serve --partitions "$KAFKA_PARTITIONS" > "$log.kafka" 2> "$log.kafka.err" &
		kpid=$!
		pids+=("$kpid")
		for _ in $(seq 100); do [ -s "$log.kafka" ] && break; sleep 0.05; done
		boot=$(head -1 "$log.kafka")
		[ -n "$boot" ] || die "pf-kmock did not start: $(cat "$log.kafka.err")"
		# shellcheck disable=SC2206 # KAFKA_OPTS is words on purpose
		# room for every record: a mock cluster slowed by a loaded machine makes
		# the sink refuse (429) rather than queue more, and pf-send does not retry
		extra=(--no-files --kafka-brokers "$boot" --kafka-max-queued "$want" $KAFKA_OPTS)
		send=(--apps)
		;;
	esac
	# pf-send's records carry its fixed 2023 times: no age bound, or none would be written
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api 127.0.0.1:0 --workers "$WORKERS" --no-attribution --max-record-age 0s \
		--stats-interval 0 "${extra[@]}" 2> "$log.err" &
	pid=$!
	pids+=("$pid")
	collector_ports "$log.err"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	res=$("$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$SENDERS" \
		--parallel "$PARALLEL" --batches "$BATCHES" --records "$RECORDS" \
		--encoding "$ENCODING" "${send[@]}") || die "pf-send failed: $res"
	if [ "$arm" = kafka ]; then
		# the producer's work ends with the brokers' acknowledgements (60 s at most)
		for _ in $(seq 6000); do
			[ "$(delivered "$aport")" = "$want" ] && break
			sleep 0.01
		done
		[ "$(delivered "$aport")" = "$want" ] ||
			die "kafka: $(delivered "$aport") of $want records delivered within 60 s"
	fi
	t1=$(date +%s%N)
	c1=$(cpu_ns "$pid")
	kill -TERM "$pid"
	wait "$pid" || die "collector exited non-zero: $(tail -3 "$log.err")"
	if [ "$arm" = kafka ]; then
		local got
		got=$("$BUILD/pf-kmock" count --bootstrap "$boot" --timeout-ms 120000) ||
			die "kafka: cannot read the topic back: $got"
		kill -TERM "$kpid"
		wait "$kpid" || true
		# every record got an offset; the mock cluster keeps a bounded log per
		# partition, so the oldest may be gone before the read: every other
		# one is read back, a JSON object each
		[ "$(jq -r '"\(.watermarks) \(.records + .before_start) \(.not_json)"' <<< "$got")" = \
			"$want $want 0" ] || die "kafka: the topic holds $got, expected $want JSON records"
		tx=$(jq .bytes <<< "$got")
	fi
	[ "$(jq -r .batches_ok <<< "$res")" = $((SENDERS * BATCHES)) ] ||
		die "not every batch was accepted: $res"
	if [ "$arm" = files ] || [ "$arm" = isal ] || [ "$arm" = jsonl ]; then
		local lines
		if [ "$arm" != jsonl ]; then
			# published at SIGTERM; no hidden file may be left
			[ -z "$(find "$data/flows" -name '.part-*')" ] || die "hidden files left after exit"
			lines=$(find "$data/flows" -name 'part-*.json.gz' -exec zcat {} + | wc -l)
			tx=$(find "$data/flows" -name 'part-*.json.gz' -printf '%s\n' |
				awk '{ s += $1 } END { print s }')
		else
			lines=$(cat "$data"/flows-w*.jsonl | wc -l)
		fi
		[ "$lines" = "$want" ] || die "$arm: $lines records written, expected $want"
	fi
	# out_bytes: the gzip files' size, or the Kafka topic's message values
	jq -c --arg arm "$arm" --argjson round "$round" --argjson cpu "$(( c1 - c0 ))" \
		--argjson wall "$(( t1 - t0 ))" --argjson out "$tx" '
		{ arm: $arm, round: $round, records: .records_ok, batches_ok: .batches_ok,
		  wall_s: ($wall / 1e9), collector_cpu_s: ($cpu / 1e9),
		  rec_per_s: (.records_ok / ($wall / 1e9)),
		  rec_per_core_s: (.records_ok / ($cpu / 1e9)), out_bytes: $out }' <<< "$res" |
		tee -a "$OUT/results.jsonl"
	rm -rf "$data"
}

: > "$OUT/results.jsonl"
echo "bench-collector: $(nproc) cores, $WORKERS workers, kernel $(uname -r); $SENDERS senders x" \
	"$PARALLEL streams, $BATCHES batches of $RECORDS records each ($ENCODING), $ROUNDS rounds"
echo "  pf-send runs on the same cores: the collector's figure per core is records / its own CPU time"
read -ra arms <<< "$ARMS"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order=("${arms[@]}"); else
		order=(); for ((i = ${#arms[@]} - 1; i >= 0; i--)); do order+=("${arms[i]}"); done
	fi
	for a in "${order[@]}"; do run "$a" "$r"; done
done > /dev/null

jq -rs '
  def f(n): (. * pow(10; n) | round) / pow(10; n);
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def arm(a; k): map(select(.arm == a)) | map(k) | med;
  def show: if . == null then "-" else round end;
  def ratio(a; b): if a == null or b == null then "-" else (a / b | f(3)) end;
  arm("files"; .rec_per_core_s) as $fc | arm("null"; .rec_per_core_s) as $nc |
  arm("jsonl"; .rec_per_core_s) as $jc | arm("kafka"; .rec_per_core_s) as $kc |
  arm("files"; .rec_per_s) as $fw | arm("null"; .rec_per_s) as $nw |
  arm("kafka"; .rec_per_s) as $kw |
  arm("files"; .out_bytes / .records) as $fb | arm("kafka"; .out_bytes / .records) as $kb |
  arm("isal"; .rec_per_core_s) as $ic | arm("isal"; .out_bytes / .records) as $ib |
  "round arm    records   wall s   collector CPU s   records/s   records/s per collector core",
  (.[] | "\(.round)     \(.arm | . + "      " | .[0:6]) \(.records)  \(.wall_s | f(2))     \(.collector_cpu_s | f(2))            \(.rec_per_s | round)      \(.rec_per_core_s | round)"),
  "",
  "median records/s per collector core: gzip files \($fc | show), JSON lines \($jc | show), Kafka (mock cluster) \($kc | show), null sink \($nc | show)",
  "median records/s (wall, sender on the same cores): files \($fw | show), Kafka \($kw | show), null sink \($nw | show)",
  "gzip files / null sink per core: \(ratio($fc; $nc)); JSON lines / null sink: \(ratio($jc; $nc)); Kafka / null sink: \(ratio($kc; $nc))",
  "gzip bytes per record: \(if $fb == null then "-" else ($fb | f(1)) end); Kafka message bytes per record (read back): \(if $kb == null then "-" else ($kb | f(1)) end)",
  "gzip files by ISA-L (sinks.files.compressor: isa-l): \($ic | show) records/s per core, \(if $ib == null then "-" else ($ib | f(1)) end) bytes per record; per core against libdeflate: \(ratio($ic; $fc)), bytes: \(ratio($ib; $fb))",
  "target: at least 250000 records/s per core ingested and decoded"' "$OUT/results.jsonl"
