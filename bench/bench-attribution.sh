#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make bench-attribution: what attribution costs.  (1) pf-ownbench: one
# ownership lookup with 1M addresses x 4 ranges, next to a plain hash of the
# same keys.  (2) collector records/s per core end to end (ingest, attribute,
# write JSON) with attribution vs the same collector with --no-attribution,
# from concurrent HTTP/2 senders (pf-send) whose records' remote IPs are the
# other senders' pod IPs, stated in their heartbeats: attribution decides
# (heartbeat source) rather than holding everything.  The same two arms with
# --null-sink (decode, attribute, count, write nothing) isolate attribution's
# own CPU from the JSON writing and the kernel's page-cache copies.  The
# collectors write plain JSON lines (--no-files --jsonl), which this script
# reads while they run; make bench-collector measures the gzip files.
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
# every heartbeat covers [T0, T0 + SPAN_MS), T0 = AGO_MS before the start: settled (older than
# the collector's 20 s heartbeat grace) and no longer than the grace, as a sidecar's are
SPAN_MS=${SPAN_MS:-10000}
AGO_MS=${AGO_MS:-60000}
DRAIN_S=${DRAIN_S:-5}       # longest wait, after the senders, for held records to be written
OWN_IPS=${OWN_IPS:-1000000}
OWN_RANGES=${OWN_RANGES:-4}
OWN_SECONDS=${OWN_SECONDS:-3}
OUT=$BUILD/bench-attribution
mkdir -p "$OUT"
BENCH=bench-attribution
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# metric FILE NAME: an unlabelled sample's value (0 when absent)
metric() { sed -n "s/^$2 \([0-9]*\)\$/\1/p" "$1" | grep . || echo 0; }

# records_json FILE: {"heartbeat":N,...,"unattributed_none":N,...}
records_json() {
	echo "{$(sed -n 's/^podflow_collector_attribution_records_total{result="\([a-z_]*\)"} \([0-9]*\)$/"\1":\2/p' "$1" |
		paste -sd, -)}"
}

lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# run ARM ROUND: one collector, one pf-send; prints one JSON line.  ARM: attr,
# noattr (--no-attribution), attr-null and noattr-null (the same, --null-sink).
run() {
	local arm=$1 round=$2 log="$OUT/r$2-$1" data="$OUT/data-r$2-$1" extra=() null=false
	local port aport pid c0 c1 t0 t1 res now_held held late written sources decided
	local total=$((SENDERS * BATCHES * RECORDS)) drained=false
	rm -rf "$data"
	case $arm in *-null) null=true; extra+=(--null-sink) ;; esac
	case $arm in noattr*) extra+=(--no-attribution) ;; esac
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api 127.0.0.1:0 --workers "$WORKERS" --stats-interval 0 --no-files --jsonl "${extra[@]}" 2> "$log.err" &
	pid=$!
	pids+=("$pid")
	collector_ports "$log.err"
	c0=$(cpu_ns "$pid")
	t0=$(date +%s%N)
	res=$("$BUILD/pf-send" --url "http://127.0.0.1:$port/v1/flows" --senders "$SENDERS" \
		--parallel "$PARALLEL" --batches "$BATCHES" --records "$RECORDS" \
		--encoding "$ENCODING" --remote peers --span-ms "$SPAN_MS" --ago "$AGO_MS") ||
		die "pf-send failed: $res"
	t1=$(date +%s%N)
	[ "$(jq -r .batches_ok <<< "$res")" = $((SENDERS * BATCHES)) ] ||
		die "not every batch was accepted: $res"
	# what attribution still held when the senders were done ...
	curl -sf "http://127.0.0.1:$aport/metrics" > "$log.metrics0" || die "no /metrics"
	cp "$log.metrics0" "$log.metrics"
	# ... and, in the collector's CPU time, its writing them out (the attributor's
	# 250 ms tick): until none waits and flows-late.jsonl holds every held record
	# (null sink: until every record is counted as decided)
	if [[ $arm == attr* ]]; then
		for _ in $(seq $((DRAIN_S * 10))); do
			now_held=$(metric "$log.metrics" podflow_collector_attribution_delayed_records)
			held=$(metric "$log.metrics" podflow_collector_attribution_delayed_total)
			late=$(lines "$data/flows-late.jsonl")
			$null && late=$(records_json "$log.metrics" | jq "add - $total + $held")
			if [ "$now_held" = 0 ] && [ "$late" = "$held" ]; then drained=true; break; fi
			sleep 0.1
			curl -sf "http://127.0.0.1:$aport/metrics" > "$log.metrics" || die "no /metrics"
		done
	fi
	c1=$(cpu_ns "$pid")
	kill -TERM "$pid"
	wait "$pid" || die "collector exited non-zero: $(tail -3 "$log.err")"

	decided=$(records_json "$log.metrics")
	if $null; then
		# nothing written: the attributor's counts are all there is
		written=0
		late=0
		[ "$arm" = noattr-null ] || [ "$(jq add <<< "$decided")" = "$total" ] ||
			die "$(jq add <<< "$decided") records decided, expected $total"
		sources=$decided
	else
		# every record written once: at once by a worker, or late (held) by the attributor
		written=$(cat "$data"/flows-w*.jsonl | wc -l)
		late=$(lines "$data/flows-late.jsonl")
		[ $((written + late)) = "$total" ] ||
			die "$written + $late (late) records written, expected $total"
		if [ "$arm" = attr ]; then
			# every line parsed (about 30 s of jq for 1.2M lines): one jq per core
			# shellcheck disable=SC2016 # $s is jq's, in the command split runs
			sources=$(cat "$data"/flows-*.jsonl | split -n "r/$(nproc)" --filter \
				'jq -c -n "reduce (inputs.remote_source) as \$s ({}; .[\$s] += 1)"' |
				jq -c -s 'reduce (.[] | to_entries[]) as $e ({}; .[$e.key] += $e.value)')
		else
			sources="{\"unattributed\":$(cat "$data"/flows-w*.jsonl |
				grep -c -F '"remote_source":"unattributed"' || true)}"
		fi
	fi
	jq -c --arg arm "$arm" --argjson round "$round" --argjson cpu "$(( c1 - c0 ))" \
		--argjson wall "$(( t1 - t0 ))" --argjson written "$written" --argjson late "$late" \
		--argjson held_end "$(metric "$log.metrics0" podflow_collector_attribution_delayed_records)" \
		--argjson held "$(metric "$log.metrics" podflow_collector_attribution_delayed_total)" \
		--argjson decided "$decided" --argjson drained "$drained" \
		--argjson files "$sources" '
		(($files.heartbeat // 0) + ($files.kube // 0) + ($files.sonar // 0)) as $attributed |
		{ arm: $arm, round: $round, records: .records_ok, wall_s: ($wall / 1e9),
		  collector_cpu_s: ($cpu / 1e9), rec_per_s: (.records_ok / ($wall / 1e9)),
		  rec_per_core_s: (.records_ok / ($cpu / 1e9)), cpu_ns_per_rec: ($cpu / .records_ok),
		  attributed: $attributed, attributed_per_core_s: ($attributed / ($cpu / 1e9)),
		  written_at_once: $written, written_late: $late, held_total: $held,
		  held_when_senders_done: $held_end, drained: $drained,
		  metrics: $decided, files: $files }' <<< "$res" | tee -a "$OUT/results.jsonl"
	rm -rf "$data"
}

: > "$OUT/results.jsonl"
echo "bench-attribution: $(nproc) cores, kernel $(uname -r)"
echo
echo "1. ownership lookups: $BUILD/pf-ownbench --ips $OWN_IPS --ranges $OWN_RANGES --seconds $OWN_SECONDS"
"$BUILD/pf-ownbench" --ips "$OWN_IPS" --ranges "$OWN_RANGES" --seconds "$OWN_SECONDS" |
	tee "$OUT/ownbench.txt" | sed 's/^/   /'
# "    own_lookup   4.14 M   241.7", "    plain hash, 16-byte keys   21.35 M   46.8",
# "    own_lookup / plain   5.16x"
own=$(awk '$1 == "own_lookup" && $2 == "/" { x = $NF; sub("x$", "", x) }
	$1 == "own_lookup" && $2 != "/" { o = "\"mps\":" $2 ",\"ns\":" $4 }
	END { if (o != "" && x != "") print "{" o ",\"ratio\":" x "}" }' "$OUT/ownbench.txt")
plain=$(awk '$1 == "plain" { print "{\"mps\":" $(NF-2) ",\"ns\":" $NF "}" }' "$OUT/ownbench.txt")
if [ -z "$own" ] || [ -z "$plain" ]; then die "cannot read pf-ownbench's figures"; fi

echo
echo "2. collector end to end: $WORKERS workers; $SENDERS senders x $PARALLEL streams, $BATCHES" \
	"batches of $RECORDS records each ($ENCODING), remote IPs = the other senders' pod IPs" \
	"(pf-send --remote peers --span-ms $SPAN_MS --ago $AGO_MS), $ROUNDS rounds"
echo "   arms: attr (attribution on, defaults) and noattr (--no-attribution), each also with"
echo "   --null-sink (-null); pf-send runs on the same cores: the figure per core is records /"
echo "   the collector's own CPU time"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		run attr "$r"; run noattr "$r"; run attr-null "$r"; run noattr-null "$r"
	else
		run noattr "$r"; run attr "$r"; run noattr-null "$r"; run attr-null "$r"
	fi
done > /dev/null

jq -rs --argjson own "$own" --argjson plain "$plain" --arg ips "$OWN_IPS" --arg ranges "$OWN_RANGES" '
  def f(n): (. * pow(10; n) | round) / pow(10; n);
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def pad(n): tostring | . + "                " | .[0:n];
  def arm(x): map(select(.arm == x));
  def sum_by(f): reduce (.[] | f | to_entries[]) as $e ({}; .[$e.key] += $e.value) | to_entries;
  # per round: f(arm a) op f(arm b), then the median over rounds
  def per_round(a; b; f; op): [group_by(.round)[] | (arm(a)[0] | f) as $x | (arm(b)[0] | f) as $y |
                               select($x != null and $y != null) | [$x, $y] | op] | med;
  . as $all |
  arm("attr") as $a |
  ($a | map(.records) | add) as $recs |
  ($a | map(.attributed) | add) as $attributed |
  ($a | map(.held_total) | add) as $held |
  def core(x): $all | arm(x) | map(.rec_per_core_s) | med;
  def ns(x): $all | arm(x) | map(.cpu_ns_per_rec) | med;
  def wall(x): $all | arm(x) | map(.rec_per_s) | med;
  "   round arm          records  wall s  CPU s  records/s  per core  CPU ns/rec  attributed  written late",
  (.[] | "   \(.round | pad(5)) \(.arm | pad(12)) \(.records | pad(8)) \(.wall_s | f(2) | pad(7)) \(.collector_cpu_s | f(2) | pad(6)) \(.rec_per_s | round | pad(10)) \(.rec_per_core_s | round | pad(9)) \(.cpu_ns_per_rec | round | pad(11)) \(.attributed | pad(11)) \(.written_late)"),
  "",
  "   how the attr arm'"'"'s records were decided (all rounds):",
  "     metrics (before SIGTERM):  \($a | sum_by(.metrics) | map(select(.value > 0) | "\(.key) \(.value)") | join(", "))",
  "     files (remote_source, jq): \($a | sum_by(.files) | map("\(.key) \(.value)") | join(", "))",
  "     held back, written late: \($held) of \($recs) (\(100 * $held / $recs | f(2)) %); all written before SIGTERM: \($a | all(.drained)); unattributed none (a peer not heard from yet, its time past the grace): \($a | sum_by(.metrics) | map(select(.key == "unattributed_none") | .value) | add // 0)",
  "",
  "summary",
  "  ownership lookups (\($ips) IPs x \($ranges) ranges, one thread): own_lookup \($own.ns) ns (\($own.mps) M/s per core), plain hash \($plain.ns) ns (\($plain.mps) M/s)",
  "  own_lookup / plain hash: \($own.ratio)x    target: under 300 ns/lookup",
  "  median records/s per collector core, end to end (JSON files): attribution \(core("attr") | round), --no-attribution \(core("noattr") | round)",
  "  attribution / --no-attribution per core: \(core("attr") / core("noattr") | f(3)) (median of per-round ratios \(per_round("attr"; "noattr"; .rec_per_core_s; .[0] / .[1]) | f(3)))",
  "  median attributed records/s per collector core: \($a | map(.attributed_per_core_s) | med | round)    target: at least 100000",
  "  attributed share: \(100 * $attributed / $recs | f(2)) % of \($recs) records",
  "  collector CPU per record, end to end: attribution \(ns("attr") | round) ns, --no-attribution \(ns("noattr") | round) ns (per-round difference \(per_round("attr"; "noattr"; .cpu_ns_per_rec; .[0] - .[1]) | round) ns)",
  "  collector CPU per record, null sink: attribution \(ns("attr-null") | round) ns, --no-attribution \(ns("noattr-null") | round) ns (per-round difference \(per_round("attr-null"; "noattr-null"; .cpu_ns_per_rec; .[0] - .[1]) | round) ns: attribution'"'"'s own cost)",
  "  median records/s (wall, senders on the same cores): attribution \(wall("attr") | round), --no-attribution \(wall("noattr") | round)"' \
	"$OUT/results.jsonl"
