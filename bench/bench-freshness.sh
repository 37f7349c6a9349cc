#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-freshness: how long after a connection closes its record can be
# read, in Kafka and in a published file.  Each arm is a production layout on
# one machine: two pods (a cgroup and a network namespace each, joined by a
# veth pair), each with a real podflow-sidecar (default interval) exporting
# over HTTP/2 to a real podflow-collector, whose Kafka sink produces to
# librdkafka's mock cluster (pf-fresh kafka, which also consumes the topic
# and stamps each message with when it became readable) and whose file sink
# publishes Hive-partitioned files (this script polls for their names every
# 0.2 s).  A paced client (pf-fresh client) in pod a connects to a pf-load
# server in pod b and writes each connection's close time; both pods'
# records (a's "out", b's "in") are attributed by heartbeat, as in
# production.  A close at c is in the record of its pod and key whose
# [start_ms, end_ms) holds c: its latency is when that record became
# readable, minus c.  The arms run at the same time (their timers, not CPU,
# set the figures), each with its own pods, collector and Kafka.
# Then the collector's CPU per record with and without holds (the hold
# journal's cost), same run: pf-send records whose heartbeats are settled
# (decided at once) vs recent (every record held for heartbeat_grace).
# Reports figures; exits non-zero only when something failed to run.
set -euo pipefail

BUILD=${BUILD:-build}
LOAD_S=${LOAD_S:-60}
# NAME:RATE:KUBE:BINS:FLAGS[:SFLAGS] (empty: part 2 alone): connections/s asked; KUBE 1: the collector also runs the pod watch
# (tests/tools/kube-api serving both pods, verify_heartbeats off); BINS: the directory of the
# podflow-sidecar and podflow-collector to run (empty: $BUILD; before/after arms); FLAGS: the collector's extra flags,
# SFLAGS the sidecars', comma-separated
ARMS=${ARMS-"default:100:0:: 5k:5000:0:: kube:100:1:: kube-5k:5000:1::"}
# longest wait after the load for the last close to be readable (files: max_age + max_delay + slack)
WAIT_KAFKA_S=${WAIT_KAFKA_S:-90}
WAIT_FILES_S=${WAIT_FILES_S:-400}
CPU_BATCHES=${CPU_BATCHES:-60} # senders x batches x records under max_delayed (262144): none evicted
CPU_RECORDS=${CPU_RECORDS:-1000}
CPU_SENDERS=${CPU_SENDERS:-4}
CPU=${CPU:-1} # 0: no part 2
CPU_WALL_S=${CPU_WALL_S:-35} # each part-2 arm's measured wall time (held: grace + drain)
OUT=$BUILD/bench-freshness
mkdir -p "$OUT"
BENCH=bench-freshness # lib.sh's die
export BENCH
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# every arm's children, network namespaces and cgroups go at exit, however it ends
all_cleanup() {
	cleanup
	cat "$OUT"/*/pids 2>/dev/null | xargs -r kill 2>/dev/null || true
	for n in $(ip netns list | awk '/^pffr-/ { print $1 }'); do ip netns del "$n"; done
	for c in "$CG2"/pffr-*; do
		[ -d "$c" ] || continue
		xargs -r kill -9 < "$c/cgroup.procs" 2>/dev/null || true
		for _ in $(seq 20); do rmdir "$c" 2>/dev/null && break; sleep 0.1; done
	done
	rm -f "$OUT"/*/pids
}
trap all_cleanup EXIT

CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || die "no cgroup2 mount"
[ "$(id -u)" = 0 ] || die "needs root (cgroups, network namespaces, eBPF)"

# wait_for SECONDS CMD...: polls CMD every 0.1 s; false when it never succeeded
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# records FILE: "side start_ms end_ms readable_ns source" of the load's records
# in FILE ("readable_ns<TAB>json" lines); side is out (pod a's) or in (pod b's)
records() {
	jq -r --raw-input 'split("\t") as [$t, $j] | ($j | fromjson) |
		select(.remote_port == 7000 or .local_port == 7000) |
		"\(.direction) \(.start_ms) \(.end_ms) \($t) \(.remote_source)"' "$1"
}

# covered FILE LAST_MS: both pods' records in FILE reach past LAST_MS
covered() {
	[ -s "$1" ] && [ "$(records "$1" | awk -v l="$2" '$3 >= l { s[$1] = 1 } END { print length(s) }')" = 2 ]
}

# files_tsv DIR SEEN: the published files' records, "readable_ns<TAB>json", readable = first seen
files_tsv() {
	local t f
	while read -r t f; do zcat "$f" | sed "s/^/$t\t/"; done < "$2"
}

# arm I NAME RATE KUBE BINS FLAGS SFLAGS: one layout, run to the end; writes $OUT/NAME/{kafka,files}.lat
arm() {
	local i=$1 name=$2 rate=$3 kube=$4 sidecar=${5:-$BUILD} flags=$6 sflags=$7 dir=$OUT/$2 extra=() sextra=()
	local port aport boot last
	local ns_a=pffr-$i-a ns_b=pffr-$i-b cg_a=$CG2/pffr-$i-a cg_b=$CG2/pffr-$i-b ip_a=10.77.$i.1 ip_b=10.77.$i.2
	if [ -n "$flags" ]; then IFS=, read -r -a extra <<< "$flags"; fi
	if [ -n "$sflags" ]; then IFS=, read -r -a sextra <<< "$sflags"; fi
	rm -rf "$dir"
	mkdir -p "$dir"
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	ip netns add "$ns_a"
	ip netns add "$ns_b"
	ip link add "pffr$i-a" type veth peer name "pffr$i-b"
	ip link set "pffr$i-a" netns "$ns_a"
	ip link set "pffr$i-b" netns "$ns_b"
	ip -n "$ns_a" addr add "$ip_a/24" dev "pffr$i-a"
	ip -n "$ns_b" addr add "$ip_b/24" dev "pffr$i-b"
	for n in "$ns_a" "$ns_b"; do
		ip -n "$n" link set lo up
		ip -n "$n" link set "pffr$i-${n##*-}" up
	done
	mkdir -p "$cg_a" "$cg_b"

	"$BUILD/pf-fresh" kafka --out "$dir/kafka.tsv" podflow.flows podflow.ip-events \
		podflow.ip-ranges > "$dir/kafka.boot" 2> "$dir/kafka.err" &
	echo $! >> "$dir/pids"
	wait_for 10 test -s "$dir/kafka.boot" || die "$name: no mock cluster: $(cat "$dir/kafka.err")"
	boot=$(head -1 "$dir/kafka.boot")
	if [ "$kube" = 1 ]; then
		# the pod watch names both pods from a minute ago (their network ready then)
		local ready kport
		ready=$(date -u -d '-60 sec' +%Y-%m-%dT%H:%M:%SZ)
		coproc KAPI { "$BUILD/tests/kube-api" --fixtures tests/fixtures/k8s 2> "$dir/kube-api.err"; }
		echo "$KAPI_PID" >> "$dir/pids"
		read -r -t 10 kport <&"${KAPI[0]}" || die "$name: kube-api did not start"
		for side in a b; do
			local pip=$ip_a app=client
			[ $side = b ] && { pip=$ip_b; app=server; }
			echo "{\"cmd\":\"add\",\"ns\":\"bench\",\"name\":\"$app-$name\",\"uid\":\"00000000-0000-0000-0000-00000000000$i$([ $side = a ] && echo 1 || echo 2)\",\"ips\":[\"$pip\"],\"labels\":{\"app.kubernetes.io/name\":\"$app\"},\"node\":\"node-1\",\"ready\":\"$ready\"}" >&"${KAPI[1]}"
			read -r -t 5 line <&"${KAPI[0]}" || die "$name: kube-api did not answer"
			[[ $line == ok* ]] || die "$name: kube-api: $line"
		done
		extra+=(--kube-api "http://127.0.0.1:${kport##* }" --verify-heartbeats off)
	fi
	"$sidecar/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --admin-api "" \
		--data-dir "$dir/data" --kafka-brokers "$boot" --stats-interval 0 "${extra[@]}" \
		2> "$dir/collector.err" &
	echo $! >> "$dir/pids"
	collector_ports "$dir/collector.err"
	wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:$aport/readyz" ||
		die "$name: collector not ready: $(tail -3 "$dir/collector.err")"
	for side in a b; do
		local ip=$ip_a cg=$cg_a app=client
		[ $side = b ] && { ip=$ip_b; cg=$cg_b; app=server; }
		POD_IP=$ip POD_NAME=$app-$name POD_NAMESPACE=bench POD_APP=$app POD_WORKLOAD=$app \
			NODE_NAME=node-1 "$sidecar/podflow-sidecar" --cgroup "$cg" --admin "" \
			--stats-interval 0 --output "http://127.0.0.1:$port" "${sextra[@]}" \
			2> "$dir/sidecar-$side.err" &
		echo $! >> "$dir/pids"
		wait_for 20 grep -q 'ready: capturing' "$dir/sidecar-$side.err" ||
			die "$name: sidecar $side not ready: $(cat "$dir/sidecar-$side.err")"
	done
	# into the pod's cgroup first: `ip netns exec` mounts a /sys of its own
	# shellcheck disable=SC2016 # $$ is the inner shell's
	sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg_b" ip netns exec "$ns_b" \
		"$BUILD/pf-load" serve --addr "$ip_b" --port 7000 > "$dir/server.out" 2>&1 &
	echo $! >> "$dir/pids"
	wait_for 5 ip netns exec "$ns_b" sh -c 'ss -Htln | grep -q ":7000 "' || die "$name: no server"

	# the files' names, with when they were first seen: a published file never changes
	(
		declare -A seen
		while :; do
			t=$(date +%s%N)
			while read -r f; do
				[ -n "$f" ] && [ -z "${seen[$f]:-}" ] && { seen[$f]=1; echo "$t $f"; }
			done < <(find "$dir/data/flows" -name 'part-*.json.gz' 2>/dev/null)
			sleep 0.2
		done
	) > "$dir/files.seen" &
	echo $! >> "$dir/pids"

	# shellcheck disable=SC2016
	sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg_a" ip netns exec "$ns_a" \
		"$BUILD/pf-fresh" client --addr "$ip_b" --port 7000 --rate "$rate" --seconds "$LOAD_S" \
		--threads 4 --out "$dir/closes.txt" > "$dir/client.json" || die "$name: client failed"
	last=$(sort -n "$dir/closes.txt" | tail -1)
	last=$((last / 1000000))
	wait_for "$WAIT_KAFKA_S" covered "$dir/kafka.tsv" "$last" || echo "$name: Kafka never covered the last close" >&2
	for _ in $(seq "$WAIT_FILES_S"); do
		files_tsv "$dir/data" "$dir/files.seen" > "$dir/files.tsv"
		covered "$dir/files.tsv" "$last" && break
		sleep 1
	done
	covered "$dir/files.tsv" "$last" || echo "$name: the files never covered the last close" >&2
	files_tsv "$dir/data" "$dir/files.seen" > "$dir/files.tsv"
	curl -sf "http://127.0.0.1:$aport/metrics" > "$dir/metrics" || true
	xargs -r kill < "$dir/pids" 2>/dev/null || true
	rm -f "$dir/pids"
	ip netns del "$ns_a"
	ip netns del "$ns_b"
	for c in "$cg_a" "$cg_b"; do
		xargs -r kill -9 < "$c/cgroup.procs" 2>/dev/null || true
		for _ in $(seq 20); do rmdir "$c" 2>/dev/null && break; sleep 0.1; done
	done
	for sink in kafka files; do
		records "$dir/$sink.tsv" > "$dir/$sink.records"
		# per close and side: the record of that side whose span holds it (5 ms of slack
		# for the clock read after close()), else missing; latency in ms
		awk -v recs="$dir/$sink.records" '
			BEGIN { while ((getline l < recs) > 0) { split(l, f, " "); n++; side[n] = f[1];
				s[n] = f[2]; e[n] = f[3]; r[n] = f[4] } }
			{ c = $1 / 1e6
			  for (d = 0; d < 2; d++) { want = d ? "in" : "out"; best = -1
				for (k = 1; k <= n; k++)
					if (side[k] == want && s[k] - 5 <= c && c < e[k] + 5 &&
					    (best < 0 || r[k] > r[best])) best = k
				if (best < 0) miss++; else printf "%.1f\n", (r[best] - $1) / 1e6 } }
			END { print miss + 0 > "/dev/stderr" }' "$dir/closes.txt" 2> "$dir/$sink.missing" |
			sort -n > "$dir/$sink.lat"
	done
	jq -c --arg name "$name" --argjson rate "$rate" --arg flags "$flags" \
		--argjson kmiss "$(cat "$dir/kafka.missing")" --argjson fmiss "$(cat "$dir/files.missing")" \
		--argjson sources "$(awk '{ n[$5]++ } END { printf "{"; for (k in n) printf "%s\"%s\":%d", (i++ ? "," : ""), k, n[k]; print "}" }' "$dir/kafka.records")" \
		--arg sidecar "$sidecar" --argjson kube "$kube" \
		'. + { arm: $name, rate: $rate, flags: $flags, sidecar: $sidecar, kube: $kube, kafka_missing: $kmiss, files_missing: $fmiss, kafka_sources: $sources }' \
		"$dir/client.json" > "$dir/result.json"
}

# pct FILE P: the P-th percentile of a sorted column (nearest rank)
pct() {
	awk -v p="$2" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }' "$1"
}

echo "bench-freshness: $(nproc) cores, kernel $(uname -r); load ${LOAD_S} s per arm, arms (at once): $ARMS"
echo "1. close -> readable, two pods with real sidecars (default interval), collector with the"
echo "   Kafka sink (librdkafka mock cluster) and the file sink; each close's record in each pod"
i=0
apids=()
for a in $ARMS; do
	i=$((i + 1))
	IFS=: read -r name rate kube sidecar flags sflags <<< "$a"
	(arm "$i" "$name" "$rate" "$kube" "$sidecar" "${flags:-}" "${sflags:-}") &
	apids+=($!)
	sleep 1
done
fail=0
for p in "${apids[@]}"; do wait "$p" || fail=1; done
[ $fail = 0 ] || die "an arm failed"
printf '   %-10s %6s %8s %8s  %-30s %-30s\n' arm conn/s closes missing "Kafka p50/p99/max s" "files p50/p99/max s"
for a in $ARMS; do
	IFS=: read -r name rate kube sidecar flags sflags <<< "$a"
	d=$OUT/$name
	k="$(pct "$d/kafka.lat" 50)/$(pct "$d/kafka.lat" 99)/$(tail -1 "$d/kafka.lat")"
	f="$(pct "$d/files.lat" 50)/$(pct "$d/files.lat" 99)/$(tail -1 "$d/files.lat")"
	k=$(awk -F/ '{ for (i = 1; i <= 3; i++) $i = sprintf("%.2f", $i / 1000); print $1 "/" $2 "/" $3 }' <<< "$k")
	f=$(awk -F/ '{ for (i = 1; i <= 3; i++) $i = sprintf("%.1f", $i / 1000); print $1 "/" $2 "/" $3 }' <<< "$f")
	printf '   %-10s %6s %8s %8s  %-30s %-30s\n' "$name" "$rate" "$(jq .connections "$d/result.json")" \
		"$(jq '"\(.kafka_missing)/\(.files_missing)"' -r "$d/result.json")" "$k" "$f"
	# where the Kafka time goes: a record's end_ms (its last close) to readable
	awk '{ printf "%.3f\n", ($4 / 1e6 - $3) / 1000 }' "$d/kafka.records" | sort -n > "$d/kafka.hold"
	echo "      a record's end_ms -> readable in Kafka, s: min $(head -1 "$d/kafka.hold"), median $(pct "$d/kafka.hold" 50), max $(tail -1 "$d/kafka.hold") ($(wc -l < "$d/kafka.hold") records)"
	echo "      reached $(sort -n "$d/closes.txt" | awk 'NR == 1 { f = $1 } END { if (NR > 1) printf "%.0f", NR / (($1 - f) / 1e9) }') connections/s"
	echo "      pod watch: $([ "$kube" = 1 ] && echo yes || echo no); binaries: ${sidecar:-$BUILD}; collector flags: ${flags:-(defaults)}; Kafka records by remote_source: $(jq -c .kafka_sources "$d/result.json")"
done

# 2. collector CPU per record, held vs decided at once (same run, interleaved)
cpu_run() {
	local arm=$1 round=$2 dir=$OUT/cpu-$1-$2 ago port aport pid c0 c1 t0 total held
	rm -rf "$dir"
	mkdir -p "$dir"
	# settled: heartbeats a minute old (past the grace): decided at once; held: spans
	# ending now, so every record waits heartbeat_grace and goes through the journal
	ago=60000
	[ "$arm" = held ] && ago=8000
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --admin-api "" \
		--data-dir "$dir/data" --stats-interval 0 --no-files --jsonl 2> "$dir/err" &
	pid=$!
	pids+=("$pid")
	collector_ports "$dir/err"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	"$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$CPU_SENDERS" --parallel 4 \
		--batches "$CPU_BATCHES" --records "$CPU_RECORDS" --remote peers --span-ms 10000 \
		--ago "$ago" > "$dir/send.json" || die "pf-send failed"
	total=$((CPU_SENDERS * CPU_BATCHES * CPU_RECORDS))
	# until every record is written (held ones after the grace), and both arms
	# over the same wall time (CPU_WALL_S from the start): the idle collector's
	# own ticks cost the same in both
	# shellcheck disable=SC2016 # expanded by eval
	wait_for 60 eval '[ "$(cat "$dir"/data/flows-*.jsonl 2>/dev/null | wc -l)" = "$total" ]' ||
		die "cpu $arm: not every record written"
	while [ $(($(date +%s%N) - t0)) -lt $((CPU_WALL_S * 1000000000)) ]; do sleep 0.1; done
	c1=$(cpu_ns "$pid")
	curl -sf "http://127.0.0.1:$aport/metrics" > "$dir/metrics" || die "no /metrics"
	held=$(sed -n 's/^podflow_collector_attribution_delayed_total \([0-9]*\)$/\1/p' "$dir/metrics")
	# a record pushed out of a full delay queue is written early: not what this measures
	! grep -q '^podflow_collector_attribution_records_total{result="unattributed_evicted"} [1-9]' \
		"$dir/metrics" || die "cpu $arm: records evicted from the delay queue (lower CPU_BATCHES)"
	kill -TERM "$pid"
	wait "$pid" || true
	echo "{\"arm\":\"$arm\",\"round\":$round,\"records\":$total,\"held\":${held:-0},\"cpu_ns\":$((c1 - c0))}"
	rm -rf "$dir/data"
}

[ "$CPU" = 1 ] || exit 0
echo
echo "2. collector CPU per record, held (journaled, written late) vs decided at once: pf-send"
echo "   $CPU_SENDERS senders x $CPU_BATCHES batches x $CPU_RECORDS records, --remote peers, 3 rounds interleaved;"
echo "   the collector's CPU over ${CPU_WALL_S} s from the first batch in both arms (the held one drains in it)"
: > "$OUT/cpu.jsonl"
for r in 1 2 3; do
	if [ $((r % 2)) = 1 ]; then cpu_run settled "$r"; cpu_run held "$r"; else cpu_run held "$r"; cpu_run settled "$r"; fi
done >> "$OUT/cpu.jsonl"
jq -rs '
  def med: sort | .[length / 2 | floor];
  def ns(a): map(select(.arm == a) | .cpu_ns / .records) | med;
  (map(select(.arm == "held")) | map(.held / .records) | min) as $share |
  "   collector CPU per record: decided at once \(ns("settled") | round) ns, held \(ns("held") | round) ns (median of 3)",
  "   held arm: at least \($share * 100 | round) % of records held; per held record: \((ns("held") - ns("settled")) | round) ns more (\(ns("held") / ns("settled") * 100 - 100 | round) %)"' \
	"$OUT/cpu.jsonl"
