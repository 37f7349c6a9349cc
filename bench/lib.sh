# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# What the collector benches share, sourced: their children's cleanup, die,
# a process's CPU time, the ports a collector logged.  The sourcing script
# sets BENCH (its name, for messages) first and adds its children's pids to
# `pids`.

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
die() { echo "$BENCH: $*" >&2; exit 1; }

# cpu_ns PID: CPU ns a process and its threads used, from schedstat, summed over threads
cpu_ns() {
	local sum=0 t v
	for t in /proc/"$1"/task/*/schedstat; do
		read -r v _ < "$t" || continue
		sum=$((sum + v))
	done
	echo "$sum"
}

# collector_ports LOG: waits (5 s at most) for the admin endpoint line on a
# collector's stderr (LOG), then sets port (its listener) and aport (its
# admin endpoint); dies when either is missing.
collector_ports() {
	for _ in $(seq 100); do grep -q 'admin endpoint on' "$1" && break; sleep 0.05; done
	port=$(sed -n 's/.*ready: listening on [^ ]*:\([0-9]*\) .*/\1/p' "$1")
	aport=$(sed -n 's/.*admin endpoint on .* (port \([0-9]*\)).*/\1/p' "$1")
	if [ -z "$port" ] || [ -z "$aport" ]; then die "collector did not start: $(cat "$1")"; fi
}
