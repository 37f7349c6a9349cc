#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench-sidecar: connection rate and tracer CPU per flow with no tracer, tcplife and podflow.
#
# Arms: none (no tracer), tcplife (libbpf-tools), podflow (the sidecar).
# Each arm has two phases, each with a fresh tracer and a fresh server:
#   sat   pf-load --saturate: connections/s the 2 cores sustain
#   rate  pf-load --rate $RATE: the tracer's CPU per flow (user+sys of the
#         process plus run_time_ns of its BPF programs), its peak RSS and,
#         for podflow, the kernel-side drops from its exit stats line
# A round runs the sat phase of every arm, then the rate phase of every arm,
# in an order rotated by one each round, so the phases compared with each
# other run seconds apart and drift in the machine's speed lands on every
# arm alike.
# The workload runs in a cgroup of its own, which this script joins once at
# the start: every write to cgroup.procs waits for an RCU grace period
# (rcu_sync_enter() in cgroup_procs_write_start()), which here at times took
# over 10 s, while children inherit the cgroup at no cost.  So the tracers run
# in it too, like a sidecar container in its pod; podflow never reports its
# own sockets, and tcplife traces the whole host wherever it runs.
# Then a scale phase (SCALE=0 skips it; ROUNDS=0 runs it alone): the
# sidecar's walk CPU, RSS and map memory with 1k to 100k long-lived
# connections held, and the application's request latency with and without
# it (see "scale phase" below).
# Reported figures, not pass/fail: exit 0 unless something failed to run.
# Logs of the last run are kept in $BUILD/bench-sidecar/.
set -euo pipefail

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-5000}
PORT=${PORT:-17401}
SERVER_THREADS=${SERVER_THREADS:-2}
CLIENT_THREADS=${CLIENT_THREADS:-2}
# enough in flight that both cores stay busy (idle < 1% here with 2+2 threads)
SAT_CONCURRENCY=${SAT_CONCURRENCY:-128}
# PIN=1: pf-load thread i on CPU i (client and server alike); where the
# scheduler puts 4 busy threads on 2 CPUs otherwise varies from run to run
PIN=${PIN:-1}
PIN_OPT=()
[ "$PIN" = 1 ] && PIN_OPT=(--pin)
ARMS=(none tcplife podflow)
# the scale phase (below)
SCALE=${SCALE:-1}
SCALE_SIZES=${SCALE_SIZES:-1000 10000 100000}
SCALE_DURATION=${SCALE_DURATION:-10s}
SCALE_INTERVAL=${SCALE_INTERVAL:-2s}
SCALE_RATE=${SCALE_RATE:-2000}
SCALE_PROBE_RATE=${SCALE_PROBE_RATE:-100}
SCALE_MAX_CONNECTIONS=${SCALE_MAX_CONNECTIONS:-262144}
SCALE_PER_PROC=${SCALE_PER_PROC:-16000}
SCALE_PORT=${SCALE_PORT:-17500}
SCALE_SETTLE=${SCALE_SETTLE:-3}
# the sidecar's nice value in the scale phase (0: as deployed; a test of yielding)
SCALE_NICE=${SCALE_NICE:-0}
SCALE_PIDS=()
SCALE_NETNS=

LOAD=$BUILD/pf-load
SIDECAR=$BUILD/podflow-sidecar
TCPLIFE=${TCPLIFE:-$(command -v tcplife || echo /usr/sbin/tcplife)}
LOGS=$BUILD/bench-sidecar
RESULTS=$LOGS/results.jsonl
SCALE_RESULTS=$LOGS/scale.jsonl
CLK_TCK=$(getconf CLK_TCK)
BPF_STATS=/proc/sys/kernel/bpf_stats_enabled

die() {
	echo "bench-sidecar: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (cgroups, BPF, tracefs)"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] || die "ROUNDS must be a non-negative integer, not '$ROUNDS'"
[[ "$SCALE" =~ ^[01]$ ]] || die "SCALE must be 0 or 1, not '$SCALE'"
[[ "$SCALE_NICE" =~ ^-?[0-9]+$ ]] || die "SCALE_NICE must be an integer, not '$SCALE_NICE'"
for v in SCALE_RATE SCALE_PROBE_RATE SCALE_MAX_CONNECTIONS SCALE_PER_PROC SCALE_PORT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
for n in $SCALE_SIZES; do
	[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "SCALE_SIZES must be positive integers, not '$n'"
done
[[ "$SCALE_DURATION$SCALE_INTERVAL" =~ ^([0-9]+(ns|us|ms|s|m|h))+$ ]] ||
	die "SCALE_DURATION and SCALE_INTERVAL must be durations such as 10s"
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer, not '$RATE'"
for f in "$LOAD" "$SIDECAR" "$TCPLIFE"; do
	[ -x "$f" ] || die "$f is missing (make all; apt-get install libbpf-tools)"
done
for c in bpftool jq ss curl ip nsenter; do
	command -v "$c" >/dev/null || die "$c is missing (make deps)"
done
[[ "$DURATION" =~ ^([0-9]+(ns|us|ms|s|m|h))+$ ]] ||
	die "DURATION must be a duration such as 5s or 1m, not '$DURATION'"
# pf-load listens with SO_REUSEPORT: a stray listener would silently take a
# share of the connections
[ -z "$(ss -Hltn "sport = :$PORT")" ] || die "port $PORT is in use (PORT= picks another)"

CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG_ROOT" ] || die "no cgroup v2 mount in /proc/mounts"
CG=$CG_ROOT/podflow-bench.$$
ORIG_CG=$CG_ROOT$(awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup)

TRACER_PID=
SERVER_PID=
MOUNTED_TRACEFS=0
OLD_BPF_STATS=$(cat "$BPF_STATS")

# Kills what the bench started and undoes what it changed, whatever the exit.
cleanup() {
	local pid deadline
	set +e
	[ -n "$TRACER_PID" ] && kill -KILL "$TRACER_PID" 2>/dev/null && wait "$TRACER_PID"
	[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
	for pid in "${SCALE_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	[ -n "$SCALE_NETNS" ] && ip netns del "$SCALE_NETNS" 2>/dev/null
	if [ -d "$CG" ]; then
		# leave first: what is left inside is then only what the bench started
		echo $$ >"$ORIG_CG/cgroup.procs" 2>/dev/null || echo $$ >"$CG_ROOT/cgroup.procs"
		# rmdir fails (EBUSY) while a process is inside, also one that joined late
		deadline=$((SECONDS + 10))
		until rmdir "$CG" 2>/dev/null; do
			if [ $SECONDS -ge $deadline ]; then
				echo "bench-sidecar: could not remove $CG" >&2
				break
			fi
			while read -r pid; do
				kill -KILL "$pid" 2>/dev/null
			done <"$CG/cgroup.procs"
			sleep 0.1
		done
	fi
	echo "$OLD_BPF_STATS" >"$BPF_STATS"
	if [ "$MOUNTED_TRACEFS" = 1 ]; then
		umount /sys/kernel/tracing || echo "bench-sidecar: could not unmount tracefs" >&2
	fi
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$LOGS"
mkdir -p "$LOGS"
mkdir "$CG"
echo $$ >"$CG/cgroup.procs"

# tcplife uses classic tracepoints: libbpf reads their ids from tracefs,
# which a fresh machine does not mount (DESIGN.md, "Kernel side").
if ! awk '$2 == "/sys/kernel/tracing" && $3 == "tracefs" { found = 1 } END { exit !found }' \
	/proc/mounts; then
	mount -t tracefs nodev /sys/kernel/tracing
	MOUNTED_TRACEFS=1
fi

# Polls until `cmd...` succeeds; fails after `secs` seconds.
wait_until() {
	local secs=$1 deadline
	shift
	deadline=$((SECONDS + secs))
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

alive() { kill -0 "$1" 2>/dev/null; }
ready_in() { grep -qs 'ready' "$1"; }
tracer_gone() { ! alive "$TRACER_PID"; }
# stops waiting when the server is ready, or has died
server_up() { ready_in "$1" || ! alive "$SERVER_PID"; }
# "ready" is printed once the sidecar is attached; also stop waiting if it died
sidecar_ready() { ready_in "$1" || ! alive "$TRACER_PID"; }
# tcplife prints nothing on stderr when ready: wait for its tracepoint attach
tcplife_attached() {
	! alive "$TRACER_PID" ||
		bpftool perf show --json 2>/dev/null |
		jq -e --argjson pid "$TRACER_PID" 'any(.[]; .pid == $pid)' >/dev/null
}

# The BPF program ids a process holds: from bpftool's "pids" where bpftool
# was built with them (Debian's is not), else from the prog_id lines in the
# process's /proc/PID/fdinfo (program and link fds both have one).
prog_ids() {
	local pid=$1
	{
		grep -h '^prog_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }'
		bpftool prog show --json |
			jq --argjson pid "$pid" '.[] | select(any(.pids[]?; .pid == $pid)) | .id'
	} | sort -un | jq -sc .
}

# Sum of run_time_ns over the given program ids (needs bpf_stats_enabled=1).
bpf_run_ns() {
	bpftool prog show --json |
		jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'
}

cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
# ns on CPU of all the process's threads (first schedstat field): a
# cross-check of the 10 ms tick figure, exact to the nanosecond
# (%.0f: mawk's %d stops at 2^31-1, 2.1 s)
cpu_sched_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ n += $1 } END { printf "%.0f\n", n }'; }
# "steal total" jiffies of all CPUs: time the hypervisor ran someone else
cpu_steal_total() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
vm_hwm_kb() { awk '/^VmHWM:/ { print $2 }' /proc/"$1"/status; }

# start_tracer ARM LOGPREFIX: sets TRACER_PID (empty for "none").
start_tracer() {
	local arm=$1 log=$2
	TRACER_PID=
	case $arm in
	none) return 0 ;;
	tcplife)
		"$TCPLIFE" >/dev/null 2>"$log.err" &
		TRACER_PID=$!
		wait_until 15 tcplife_attached || die "tcplife did not attach in 15s"
		;;
	podflow)
		"$SIDECAR" --cgroup "$CG" --interval 10s --output /dev/null --admin 127.0.0.1:0 \
			2>"$log.err" &
		TRACER_PID=$!
		wait_until 15 sidecar_ready "$log.err" || die "podflow-sidecar not ready in 15s"
		;;
	esac
	alive "$TRACER_PID" || die "$arm exited at start: $(tail -3 "$log.err")"
}

# Stops the tracer as an operator would (tcplife: Ctrl-C; sidecar: SIGTERM).
stop_tracer() {
	local arm=$1 rc=0
	[ -n "$TRACER_PID" ] || return 0
	if [ "$arm" = tcplife ]; then
		kill -INT "$TRACER_PID"
	else
		kill -TERM "$TRACER_PID"
	fi
	if ! wait_until 10 tracer_gone; then
		kill -KILL "$TRACER_PID"
		die "$arm did not exit within 10s of its signal"
	fi
	wait "$TRACER_PID" || rc=$?
	TRACER_PID=
	[ "$rc" = 0 ] || [ "$rc" = 130 ] || die "$arm exited with status $rc"
}

start_server() {
	local log=$1
	"$LOAD" serve --port "$PORT" --threads "$SERVER_THREADS" "${PIN_OPT[@]}" \
		>"$log.server.json" 2>"$log.server.err" &
	SERVER_PID=$!
	wait_until 10 server_up "$log.server.err" || true
	ready_in "$log.server.err" || die "pf-load serve not ready in 10s (pid $SERVER_PID" \
		"$(alive "$SERVER_PID" && echo running || echo exited)): $(cat "$log.server.err")" \
		"$(cat /proc/"$SERVER_PID"/{comm,wchan,stack} 2>/dev/null)"
}

stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || die "pf-load serve failed"
	SERVER_PID=
}

# One key=value of the sidecar's exit stats line.
sidecar_stat() {
	grep 'stats at exit' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# Every loss the sidecar counts: the sum of its drops_* counters at exit.
podflow_drops() {
	local line
	line=$(grep 'stats at exit' "$1") || die "no stats at exit in $1"
	tr ' ' '\n' <<< "$line" | awk -F= '$1 ~ /^drops_/ { n++; s += $2 } END {
		if (!n) exit 1; print s }' || die "no drop counters in the stats at exit in $1"
}

# run_sat ROUND ARM: the saturation phase; writes $LOGS/rROUND-ARM-sat.json.
run_sat() {
	local round=$1 arm=$2 log sat s0 s1 j0 j1 hwm=0 drops=null

	log=$LOGS/r$round-$arm-sat
	start_tracer "$arm" "$log"
	start_server "$log"
	read -r s0 j0 < <(cpu_steal_total)
	sat=$("$LOAD" client --port "$PORT" --saturate --duration "$DURATION" \
		--threads "$CLIENT_THREADS" --concurrency "$SAT_CONCURRENCY" "${PIN_OPT[@]}" \
		2>"$log.client.err") ||
		die "pf-load client failed: $(cat "$log.client.err")"
	read -r s1 j1 < <(cpu_steal_total)
	[ -n "$TRACER_PID" ] && hwm=$(vm_hwm_kb "$TRACER_PID")
	stop_server
	stop_tracer "$arm"
	if [ "$arm" = podflow ]; then
		drops=$(podflow_drops "$log.err")
	fi
	jq -nc --argjson sat "$sat" --argjson hwm_kb "$hwm" --argjson drops "$drops" \
		--argjson steal_pct "$(((s1 - s0) * 100 / (j1 > j0 ? j1 - j0 : 1)))" \
		'{sat_cps: $sat.conn_per_s, sat_errors: $sat.errors, sat_steal_pct: $steal_pct,
		  hwm_kb_sat: $hwm_kb, drops_sat: $drops}' >"$log.json"
}

# run_rate ROUND ARM: the fixed-rate phase; writes $LOGS/rROUND-ARM-rate.json.
run_rate() {
	local round=$1 arm=$2 log rate ids='[]' t0=0 t1=0 r0=0 r1=0 c0=0 c1=0 hwm=0
	local drops=null flows=null lost=null

	log=$LOGS/r$round-$arm-rate
	start_tracer "$arm" "$log"
	start_server "$log"
	if [ -n "$TRACER_PID" ]; then
		ids=$(prog_ids "$TRACER_PID")
		[ "$ids" != '[]' ] || die "no BPF programs found for $arm (pid $TRACER_PID)"
		# stats on for this phase only: their clock reads would tax saturation
		echo 1 >"$BPF_STATS"
		r0=$(bpf_run_ns "$ids")
		t0=$(cpu_ticks "$TRACER_PID")
		c0=$(cpu_sched_ns "$TRACER_PID")
	fi
	# a high in-flight cap keeps the rate open-loop through a stall
	rate=$("$LOAD" client --port "$PORT" --rate "$RATE" --duration "$DURATION" \
		--concurrency 1000 2>"$log.client.err") ||
		die "pf-load client failed: $(cat "$log.client.err")"
	if [ -n "$TRACER_PID" ]; then
		t1=$(cpu_ticks "$TRACER_PID")
		c1=$(cpu_sched_ns "$TRACER_PID")
		r1=$(bpf_run_ns "$ids")
		echo "$OLD_BPF_STATS" >"$BPF_STATS"
		hwm=$(vm_hwm_kb "$TRACER_PID")
	fi
	stop_server
	stop_tracer "$arm"
	if [ "$arm" = podflow ]; then
		drops=$(podflow_drops "$log.err")
		flows=$(sidecar_stat "$log.err" flows_closed)
	elif [ "$arm" = tcplife ]; then
		# libbpf-tools report perf buffer loss as "lost N events on CPU #M"
		lost=$(awk '/lost [0-9]+ events/ { n += $2 } END { print n + 0 }' "$log.err")
	fi
	jq -nc --arg arm "$arm" --argjson rate "$rate" --argjson ids "$ids" \
		--argjson user_sys_ns "$(((t1 - t0) * 1000000000 / CLK_TCK))" \
		--argjson bpf_ns "$((r1 - r0))" --argjson sched_ns "$((c1 - c0))" \
		--argjson hwm_kb "$hwm" \
		--argjson drops "$drops" --argjson flows_closed "$flows" --argjson lost "$lost" \
		'($rate.connections) as $n
		| def per_flow(x): if $arm == "none" or $n == 0 then null else x / $n end;
		{rate_conns: $n, rate_cps: $rate.conn_per_s, rate_errors: $rate.errors,
		  prog_ids: $ids, user_sys_ns: $user_sys_ns, bpf_ns: $bpf_ns, sched_ns: $sched_ns,
		  user_ns_per_flow: per_flow($user_sys_ns), bpf_ns_per_flow: per_flow($bpf_ns),
		  sched_ns_per_flow: per_flow($sched_ns),
		  cpu_ns_per_flow: per_flow($user_sys_ns + $bpf_ns),
		  hwm_kb_rate: $hwm_kb, drops_rate: $drops, flows_closed: $flows_closed,
		  tcplife_lost: $lost}' >"$log.json"
}

echo "bench-sidecar: $(nproc) cores, kernel $(uname -r), $ROUNDS rounds, $DURATION per phase"
echo "  workload: pf-load in cgroup $CG (tracers too); saturation: $CLIENT_THREADS client +" \
	"$SERVER_THREADS server threads${PIN_OPT:+ (pinned)}, $SAT_CONCURRENCY in flight; rate phase: $RATE conn/s"
echo "  note: tcplife traces every TCP socket on the host, podflow only sockets created in" \
	"the bench cgroup (the same connections where the bench is the host's only TCP traffic)"
for ((round = 1; round <= ROUNDS; round++)); do
	order=()
	for ((i = 0; i < ${#ARMS[@]}; i++)); do
		order+=("${ARMS[$(((i + round - 1) % ${#ARMS[@]}))]}")
	done
	echo "  round $round: ${order[*]}"
	for arm in "${order[@]}"; do
		run_sat "$round" "$arm"
	done
	for arm in "${order[@]}"; do
		run_rate "$round" "$arm"
	done
	for arm in "${order[@]}"; do
		jq -sc --argjson round "$round" --arg arm "$arm" \
			'add + {round: $round, arm: $arm}
			| .rss_mb = (if $arm == "none" then null
				else ([.hwm_kb_sat, .hwm_kb_rate] | max) / 1024 end)' \
			"$LOGS/r$round-$arm-sat.json" "$LOGS/r$round-$arm-rate.json" >>"$RESULTS"
	done
done

# The report: per-round rows, medians per arm, and the ratios to the targets.
[ "$ROUNDS" = 0 ] || jq -rs --arg rate "$RATE" -f /dev/stdin "$RESULTS" <<'EOF'
def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def f(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
def pad(n): tostring | (" " * ([n - length, 0] | max)) + .;
def padr(n): tostring | . + (" " * ([n - length, 0] | max));
def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
["none", "tcplife", "podflow"] as $arms
| sort_by(.round, (.arm as $a | $arms | index($a))) as $all
| def med(a; k): [$all[] | select(.arm == a) | .[k] | select(. != null)] | median;
  # median over rounds of (a's k / b's k in the same round)
  def per_round(a; b; k): [$all[] | select(.arm == a) | . as $x
	| ratio($x[k]; $all[] | select(.arm == b and .round == $x.round) | .[k])
	| select(. != null)] | median;
  def both(a; b; k): "\(ratio(med(a; k); med(b; k)) | f(3) | pad(6))"
	+ " (per round \(per_round(a; b; k) | f(3)))";
  "",
  "round arm      sat conn/s  vs none  steal%  rate conn/s  errors  cpu ns/flow = user+sys + bpf    rss MB  drops@rate  drops@sat",
  ($all[] | "\(.round | pad(5)) \(.arm | padr(8)) \(.sat_cps | f(0) | pad(10))"
	+ "  \(ratio(.sat_cps; . as $x | $all[] | select(.arm == "none" and .round == $x.round)
		| .sat_cps) | f(3) | pad(7))"
	+ "  \(.sat_steal_pct | pad(6))  \(.rate_cps | f(0) | pad(11))"
	+ "  \(.sat_errors + .rate_errors | pad(6))  \(.cpu_ns_per_flow | f(0) | pad(11))"
	+ (if .cpu_ns_per_flow == null then " " * 18 else
		" = \(.user_ns_per_flow | f(0) | pad(7)) + \(.bpf_ns_per_flow | f(0) | pad(6))" end)
	+ "  \(.rss_mb | f(1) | pad(6))  \(.drops_rate | f(0) | pad(10))  \(.drops_sat | f(0) | pad(9))"),
  "",
  "median   sat conn/s  cpu ns/flow  user+sys ns/flow  (schedstat)  bpf ns/flow  rss MB",
  ($arms[] as $a
   | "\($a | padr(8)) \(med($a; "sat_cps") | f(0) | pad(10))"
	+ "  \(med($a; "cpu_ns_per_flow") | f(0) | pad(11))"
	+ "  \(med($a; "user_ns_per_flow") | f(0) | pad(16))"
	+ "  \(med($a; "sched_ns_per_flow") | f(0) | pad(11))"
	+ "  \(med($a; "bpf_ns_per_flow") | f(0) | pad(11))  \(med($a; "rss_mb") | f(1) | pad(6))"),
  "",
  "ratios of the medians (reported figures, not pass/fail):",
  "  podflow saturation / none       \(both("podflow"; "none"; "sat_cps"))   target >= 0.95",
  "  tcplife saturation / none       \(both("tcplife"; "none"; "sat_cps"))   reference",
  "  podflow cpu per flow / tcplife  \(both("podflow"; "tcplife"; "cpu_ns_per_flow"))   target <= 0.5",
  "  podflow peak RSS MB (max)       \([$all[] | select(.arm == "podflow") | .rss_mb] | max | f(1) | pad(6))   target <= 32",
  "  podflow kernel drops at \($rate)/s \([$all[] | select(.arm == "podflow") | .drops_rate] | add | f(0) | pad(6))   target 0 (all rounds; at saturation: \([$all[] | select(.arm == "podflow") | .drops_sat] | add | f(0)))",
  ([$all[] | select(.arm == "podflow" and .rate_conns > 0) | .flows_closed / .rate_conns] | median) as $fpc
  | "  podflow flows closed per conn   \($fpc | f(2) | pad(6))   check: 2, both ends are in the cgroup"
	+ (if $fpc != null and ($fpc < 1.99 or $fpc > 2.01) then "  <- NOT 2: the figures are suspect" else "" end),
  "  tcplife lost events             \([$all[] | select(.arm == "tcplife") | .tcplife_lost] | add | f(0) | pad(6))"
EOF
echo "  logs and per-phase JSON: $LOGS"

# --- scale phase --------------------------------------------------------------
# How the sidecar's cost grows with the connections it holds (issue 15): at
# each size in SCALE_SIZES, pf-load opens that many long-lived loopback
# connections in the bench cgroup and keeps them; for --duration
# SCALE_DURATION it sends requests over them round robin, at SCALE_RATE per
# second ("traffic") or at SCALE_PROBE_RATE ("idle": a latency probe only),
# and times each from its scheduled send to its whole response.  Each (size,
# load) runs once with no sidecar and once with it, interleaved, with the
# same held connections: the latency with the sidecar walking its sockets
# every SCALE_INTERVAL is compared with the latency without it.
# RLIMIT_NOFILE's hard limit here is 20000 and CAP_SYS_RESOURCE is not ours,
# so the connections are spread over pairs of pf-load processes (serve
# --keepalive on port SCALE_PORT+k, hold on it) of at most SCALE_PER_PROC each.
# Every connection has both ends in the cgroup: the sidecar tracks 2 sockets
# per connection, hence --max-connections SCALE_MAX_CONNECTIONS.
# Each run has a network namespace of its own, made fresh, the sidecar in it
# too, like a pod's: the iter/tcp walk visits every socket of its namespace,
# and the host's holds the other helpers' sockets and the TIME_WAIT sockets
# of earlier runs (tens of thousands at times), which would blur the growth.
run_scale() {
	local n=$1 load=$2 arm=$3 log k procs share rate admin_port='' ids='[]'
	local c0=0 c1=0 r0=0 r1=0 w0='{}' w1='{}' rss=0 hwm=0 maps='[]' drops=null
	local holds=() servers=() lat established i ns

	log=$LOGS/scale-$n-$load-$arm
	procs=$(((n + SCALE_PER_PROC - 1) / SCALE_PER_PROC))
	SCALE_NETNS=podflow-bench-$$-$n-$load-$arm
	ip netns add "$SCALE_NETNS"
	ip -n "$SCALE_NETNS" link set lo up
	# nsenter execs the command: $! is the process itself
	ns=(nsenter "--net=/run/netns/$SCALE_NETNS")
	if [ "$arm" = podflow ]; then
		"${ns[@]}" nice -n "$SCALE_NICE" "$SIDECAR" --cgroup "$CG" --interval "$SCALE_INTERVAL" --output /dev/null \
			--admin 127.0.0.1:0 --max-connections "$SCALE_MAX_CONNECTIONS" \
			--stats-interval 0s 2>"$log.err" &
		TRACER_PID=$!
		wait_until 15 sidecar_ready "$log.err" || die "podflow-sidecar not ready in 15s"
		alive "$TRACER_PID" || die "podflow-sidecar exited at start: $(tail -3 "$log.err")"
		admin_port=$(sed -n 's/.*admin endpoint on .* (port \([0-9]*\)).*/\1/p' "$log.err")
		[ -n "$admin_port" ] || die "no admin port in $log.err"
		ids=$(prog_ids "$TRACER_PID")
	fi
	for ((k = 0; k < procs; k++)); do
		"${ns[@]}" "$LOAD" serve --port $((SCALE_PORT + k)) --threads 1 --keepalive \
			>"$log.s$k.json" 2>"$log.s$k.err" &
		servers+=($!)
		SCALE_PIDS+=($!)
	done
	for ((k = 0; k < procs; k++)); do
		wait_until 10 ready_in "$log.s$k.err" || die "pf-load serve $k not ready: $(cat "$log.s$k.err")"
	done
	if [ "$load" = idle ]; then
		rate=$SCALE_PROBE_RATE
	else
		rate=$SCALE_RATE
	fi
	for ((k = 0; k < procs; k++)); do
		share=$((n / procs + (k < n % procs)))
		"${ns[@]}" "$LOAD" hold --port $((SCALE_PORT + k)) --connections "$share" \
			--rate $((rate / procs + (k < rate % procs))) --duration "$SCALE_DURATION" \
			--threads 1 --go-signal --lat-out "$log.lat$k" \
			>"$log.h$k.json" 2>"$log.h$k.err" &
		holds+=($!)
		SCALE_PIDS+=($!)
	done
	for ((k = 0; k < procs; k++)); do
		wait_until 300 grep -qs 'held:' "$log.h$k.err" ||
			die "pf-load hold $k did not connect in 300s: $(cat "$log.h$k.err")"
	done
	# let the sidecar's walk see every socket before the window
	sleep "$SCALE_SETTLE"
	if [ -n "$TRACER_PID" ]; then
		echo 1 >"$BPF_STATS"
		c0=$(cpu_sched_ns "$TRACER_PID")
		r0=$(bpf_walk_ns "$ids")
		w0=$(walk_metrics "$admin_port")
	fi
	kill -USR1 "${holds[@]}"
	for ((k = 0; k < procs; k++)); do
		wait_until 120 test -s "$log.h$k.json" ||
			die "pf-load hold $k reported nothing: $(cat "$log.h$k.err")"
	done
	if [ -n "$TRACER_PID" ]; then
		c1=$(cpu_sched_ns "$TRACER_PID")
		r1=$(bpf_walk_ns "$ids")
		w1=$(walk_metrics "$admin_port")
		echo "$OLD_BPF_STATS" >"$BPF_STATS"
		rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$TRACER_PID"/status)
		hwm=$(vm_hwm_kb "$TRACER_PID")
		maps=$(map_memlock "$TRACER_PID")
	fi
	established=$("${ns[@]}" ss -Htn state established "( sport >= :$SCALE_PORT and sport < :$((SCALE_PORT + procs)) )" | wc -l)
	kill -TERM "${holds[@]}"
	for i in "${holds[@]}"; do wait "$i" || die "pf-load hold failed: $(cat "$log".h*.err)"; done
	kill -TERM "${servers[@]}"
	for i in "${servers[@]}"; do wait "$i" || die "pf-load serve failed"; done
	SCALE_PIDS=()
	if [ -n "$TRACER_PID" ]; then
		stop_tracer podflow
		drops=$(podflow_drops "$log.err")
	fi
	ip netns del "$SCALE_NETNS"
	SCALE_NETNS=
	# the latencies of every hold process, merged (each file is sorted)
	lat=$(sort -nm "$log".lat* | awk '{ v[NR] = $1 } END {
		if (!NR) { print "{}"; exit }
		q[1] = 0.5; q[2] = 0.99; q[3] = 0.999
		for (i = 1; i <= 3; i++) { r = int(q[i] * NR + 0.999999); p[i] = v[r < 1 ? 1 : r] / 1000 }
		printf "{\"n\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
			NR, p[1], p[2], p[3], v[NR] / 1000 }')
	rm -f "$log".lat*
	jq -s --argjson n "$n" --arg load "$load" --arg arm "$arm" --argjson lat "$lat" \
		--argjson procs "$procs" --argjson established "$established" \
		--argjson sched_ns "$((c1 - c0))" --argjson bpf_walk_ns "$((r1 - r0))" \
		--argjson w0 "$w0" --argjson w1 "$w1" --argjson rss_kb "${rss:-0}" \
		--argjson hwm_kb "${hwm:-0}" --argjson maps "$maps" --argjson drops "$drops" \
		'{size: $n, load: $load, arm: $arm, procs: $procs,
		  held: (map(.established) | add), connect_errors: (map(.connect_errors) | add),
		  connect_s: (map(.connect_s) | max), established_ss: $established,
		  requests: (map(.requests) | add), responses: (map(.responses) | add),
		  errors: (map(.errors) | add), skipped: (map(.skipped) | add), lat: $lat}
		+ if $arm == "none" then {} else
		  (($w1.walks // 0) - ($w0.walks // 0)) as $walks
		  | {walks: $walks,
		     walk_wall_ms: (if $walks > 0 then (($w1.wall_s - $w0.wall_s) * 1000 / $walks) else null end),
		     walk_cpu_ms: (if $walks > 0 then (($w1.cpu_s - $w0.cpu_s) * 1000 / $walks) else null end),
		     walk_bpf_ms: (if $walks > 0 then ($bpf_walk_ns / 1e6 / $walks) else null end),
		     walk_max_ms: ($w1.max_s * 1000),
		     sidecar_cpu_ms_per_interval: (if $walks > 0 then ($sched_ns / 1e6 / $walks) else null end),
		     rss_kb: $rss_kb, hwm_kb: $hwm_kb, maps: $maps,
		     map_memlock_kb: (($maps | map(.bytes_memlock) | add // 0) / 1024),
		     drops: $drops, drops_window: ($w1.drops - $w0.drops)} end' "$log".h*.json >"$log.json"
	jq -c . "$log.json" >>"$SCALE_RESULTS"
}

# run_time_ns of the iter/tcp program alone (the walk's in-kernel part).
bpf_walk_ns() {
	bpftool prog show --json |
		jq --argjson ids "$1" '[.[] | select((.id as $i | $ids | index($i)) and .name == "walk_tcp")
			| .run_time_ns // 0] | add // 0'
}

# The sidecar's walk counters and losses from /metrics, as {walks, wall_s,
# cpu_s, max_s, drops};
# its admin port is in the run's namespace ("ns", run_scale's).
walk_metrics() {
	"${ns[@]}" curl -fsS "http://127.0.0.1:$1/metrics" | awk '
		$1 == "podflow_sidecar_walk_duration_seconds_count" { w = $2 }
		$1 == "podflow_sidecar_walk_duration_seconds_sum" { s = $2 }
		$1 == "podflow_sidecar_walk_cpu_seconds_total" { c = $2 }
		$1 == "podflow_sidecar_walk_max_seconds" { m = $2 }
		$1 ~ /^podflow_sidecar_drops_total[{]/ { d += $2 }
		END { printf "{\"walks\":%d,\"wall_s\":%s,\"cpu_s\":%s,\"max_s\":%s,\"drops\":%d}\n",
			w, s + 0, c + 0, m + 0, d }'
}

# The kernel memory (memlock) of each BPF map the process holds.
map_memlock() {
	local mids
	mids=$(grep -h '^map_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un | jq -sc .)
	bpftool map show --json |
		jq -c --argjson ids "$mids" '[.[] | select(.id as $i | $ids | index($i))
			| {name, type, max_entries, bytes_memlock}]'
}

if [ "$SCALE" = 1 ]; then
	echo
	echo "scale: sizes $SCALE_SIZES; per (size, load) no sidecar vs podflow (interval" \
		"$SCALE_INTERVAL, --max-connections $SCALE_MAX_CONNECTIONS, nice $SCALE_NICE), $SCALE_DURATION window;" \
		"traffic $SCALE_RATE req/s, idle: a $SCALE_PROBE_RATE req/s latency probe"
	turn=0
	for n in $SCALE_SIZES; do
		for load in idle traffic; do
			# alternate which arm goes first
			if ((turn++ % 2)); then order=(podflow none); else order=(none podflow); fi
			for arm in "${order[@]}"; do
				echo "  scale $n $load $arm"
				run_scale "$n" "$load" "$arm"
			done
		done
	done
	jq -rs -f /dev/stdin "$SCALE_RESULTS" <<'EOF'
def f(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
def pad(n): tostring | (" " * ([n - length, 0] | max)) + .;
def padr(n): tostring | . + (" " * ([n - length, 0] | max));
. as $all
| "",
  "size     load     held     walk: wall ms  cpu ms  (bpf ms)  max ms   RSS MB (HWM)   maps MB (flows)   p50 us none/podflow   p99 us none/podflow  max ms none/podflow  drops",
  ($all | group_by([.size, .load]) | sort_by(.[0].size, .[0].load)[]
   | (map(select(.arm == "none"))[0]) as $a | (map(select(.arm == "podflow"))[0]) as $p
   | "\($p.size | padr(8)) \($p.load | padr(8)) \([$a.held, $p.held] | min | pad(6))"
	+ "  \($p.walk_wall_ms | f(1) | pad(13))  \($p.walk_cpu_ms | f(1) | pad(6))  (\($p.walk_bpf_ms | f(1) | pad(6)))"
	+ "  \($p.walk_max_ms | f(1) | pad(6))  \($p.rss_kb / 1024 | f(1) | pad(6)) (\($p.hwm_kb / 1024 | f(1) | pad(5)))"
	+ "  \($p.map_memlock_kb / 1024 | f(1) | pad(7)) (\(($p.maps | map(select(.name == "flows")) | .[0].bytes_memlock // null) | if . then . / 1048576 else null end | f(1) | pad(5)))"
	+ "  \($a.lat.p50_us | f(0) | pad(9)) / \($p.lat.p50_us | f(0) | pad(6))"
	+ "  \($a.lat.p99_us | f(0) | pad(9)) / \($p.lat.p99_us | f(0) | pad(6))"
	+ "  \($a.lat.max_us / 1000 | f(1) | pad(9)) / \($p.lat.max_us / 1000 | f(1) | pad(5))"
	+ "  \($p.drops | f(0) | pad(5))"),
  "",
  "  walk: per interval walk over the tracked sockets (/metrics podflow_sidecar_walk_*: wall and the",
  "  sidecar thread's CPU, the iter program included; bpf = walk_tcp run_time_ns with bpf_stats on);",
  "  max = longest walk since start (connect burst included); maps = bytes_memlock of all its maps;",
  "  drops = the sidecar's losses over the whole run (connect burst included), in the window: \([$all[] | select(.arm == "podflow") | .drops_window] | add | f(0)).",
  "  growth 1k -> largest (traffic): walk cpu x\(
	[$all[] | select(.arm == "podflow" and .load == "traffic")] | sort_by(.size)
	| if length > 1 and .[0].walk_cpu_ms > 0 then (.[-1].walk_cpu_ms / .[0].walk_cpu_ms | f(1))
	  + " for x\(.[-1].size / .[0].size | f(0)) connections; RSS max \(map(.hwm_kb) | max / 1024 | f(1)) MB (target <= 32)"
	  else "-" end)"
EOF
	echo "  scale logs and JSON: $LOGS/scale-*.json, $SCALE_RESULTS"
fi
