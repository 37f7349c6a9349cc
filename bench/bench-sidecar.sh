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

LOAD=$BUILD/pf-load
SIDECAR=$BUILD/podflow-sidecar
TCPLIFE=${TCPLIFE:-$(command -v tcplife || echo /usr/sbin/tcplife)}
LOGS=$BUILD/bench-sidecar
RESULTS=$LOGS/results.jsonl
CLK_TCK=$(getconf CLK_TCK)
BPF_STATS=/proc/sys/kernel/bpf_stats_enabled

die() {
	echo "bench-sidecar: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (cgroups, BPF, tracefs)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer, not '$RATE'"
for f in "$LOAD" "$SIDECAR" "$TCPLIFE"; do
	[ -x "$f" ] || die "$f is missing (make all; apt-get install libbpf-tools)"
done
for c in bpftool jq ss; do
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
cpu_sched_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ n += $1 } END { printf "%d\n", n }'; }
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
jq -rs --arg rate "$RATE" -f /dev/stdin "$RESULTS" <<'EOF'
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
