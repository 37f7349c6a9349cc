#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# make demo: a pod-like cgroup with an HTTP server and its clients, captured by
# podflow-sidecar for about 10 s and sent to podflow-collector, which names
# each flow's remote side and writes Hive-partitioned gzip JSON lines; prints
# where the files are, the records read back from them and a summary.  Then
# a collector on this host's loopback reads the files back into its insight
# view and serves the web UI (docs/ui.md) with the demo's flows in it: in a
# terminal it runs until Ctrl-C; PODFLOW_DEMO_UI=0 (or no terminal) stops it
# after printing the URL and what the API says.
set -euo pipefail

BUILD=${BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "make demo needs root (eBPF, cgroups)" >&2; exit 1; }
# The capture runs in a private network namespace: loopback only, no port clashes.
if [ -z "${PODFLOW_DEMO_NETNS:-}" ]; then
	env PODFLOW_DEMO_NETNS=1 unshare --net --fork "$0" "$@"
	exec "$(dirname "$0")/demo-ui.sh"
fi
ip link set lo up

mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$mnt" ] || { echo "no cgroup v2 mount in /proc/mounts" >&2; exit 1; }
pod="$mnt/podflow-demo-$$"
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
web="$pod/cri-containerd-$(hex).scope"
client="$pod/cri-containerd-$(hex).scope"
out_dir="$BUILD/demo"
mkdir -p "$out_dir" "$pod" "$web" "$client"
data="$out_dir/collector-data"
flows="$out_dir/flows.jsonl" # what was read back from the collector's files
rm -rf "$data"
: > "$flows"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for cg in "$web" "$client" "$pod"; do
		[ -d "$cg" ] && { echo 1 > "$cg/cgroup.kill" 2>/dev/null || true; }
	done
	for cg in "$web" "$client" "$pod"; do
		for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
	done
}
trap cleanup EXIT

# run_in CGROUP CMD...: start CMD inside CGROUP, in the background
run_in() {
	local cg=$1; shift
	bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@" &
	pids+=($!)
}

echo "== podflow demo: pod cgroup $pod"
"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
	--admin-api 127.0.0.1:0 --stats-interval 0 2> "$out_dir/collector.log" &
collector=$!
pids+=($collector)
for _ in $(seq 100); do grep -q 'ready: listening' "$out_dir/collector.log" && break; sleep 0.1; done
port=$(sed -n 's/.*ready: listening on [^ ]*:\([0-9]*\) .*/\1/p' "$out_dir/collector.log")
[ -n "$port" ] || { cat "$out_dir/collector.log" >&2; exit 1; }
grep 'ready: listening' "$out_dir/collector.log"
# the pod's identity, as the Downward API gives it: env vars and a labels file
labels="$out_dir/labels"
printf 'app.kubernetes.io/name="demo-web"\npod-template-hash="7d9f8b6c5"\n' > "$labels"
POD_NAME=demo-web-7d9f8b6c5-x2x4z POD_NAMESPACE=demo NODE_NAME=$(hostname) \
	"$BUILD/podflow-sidecar" --cgroup "$pod" --interval 2s \
	--output "http://127.0.0.1:$port/v1/flows" \
	--labels-file "$labels" \
	--stats-interval 5s 2> "$out_dir/sidecar.log" &
sidecar=$!
pids+=($sidecar)
for _ in $(seq 100); do grep -q "info: ready" "$out_dir/sidecar.log" && break; sleep 0.1; done
grep -q "info: ready" "$out_dir/sidecar.log" || { cat "$out_dir/sidecar.log" >&2; exit 1; }
grep "info: ready" "$out_dir/sidecar.log"

run_in "$web" "$BUILD/pf-http" serve --port 8080 --body 2048
run_in "$web" "$BUILD/pf-http" serve --port 8443 --addr ::1 --body 512
sleep 0.3 # the servers bind in a few ms; a failed bind shows below as refused calls
echo "== workload: 40 HTTP GETs over IPv4, 10 over IPv6, 3 calls to a closed port"
run_in "$client" "$BUILD/pf-http" get http://127.0.0.1:8080/ --count 40 --interval-ms 200
c1=$!
run_in "$client" "$BUILD/pf-http" get 'http://[::1]:8443/' --count 10 --interval-ms 500
c2=$!
run_in "$client" "$BUILD/pf-http" get http://127.0.0.1:9/ --count 3 --interval-ms 1000
c3=$!
wait "$c1" "$c2" "$c3"
sleep 1
kill -TERM "$sidecar"
wait "$sidecar" || true
grep 'stats at exit' "$out_dir/sidecar.log"
# SIGTERM publishes the files the collector is writing
kill -TERM "$collector"
wait "$collector" || { tail -5 "$out_dir/collector.log" >&2; exit 1; }
grep 'attribution at exit' "$out_dir/collector.log"
mapfile -t files < <(find "$data/flows" -name 'part-*.json.gz' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "the collector wrote no file" >&2; exit 1; }
zcat "${files[@]}" > "$flows"

echo
echo "== records ($flows)"
jq -c '{direction, local: "\(.local_ip):\(.local_port)", remote: "\(.remote_ip):\(.remote_port)",
	flows, closed, failed, error, bytes_sent, bytes_received, srtt_us, comm,
	container_id: .container_id[0:12], local_app, local_workload, remote_app, remote_pod,
	remote_source}' "$flows"

echo
echo "== summary: connections by remote endpoint (bytes include HTTP headers)"
jq -rs '
  group_by([.direction, .remote_ip, .remote_port, .local_port])[]
  | { dir: .[0].direction,
      endpoint: (if .[0].direction == "in" then "\(.[0].remote_ip) -> :\(.[0].local_port)"
                 else "\(.[0].remote_ip):\(.[0].remote_port)" end),
      flows: (map(.closed) | add), failed: (map(.failed) | add),
      errors: (map(select(.error != "") | .error) | unique | join(",")),
      sent: (map(.bytes_sent) | add), received: (map(.bytes_received) | add),
      srtt: (map(.srtt_us) | max), minrtt: (map(select(.min_rtt_us > 0) | .min_rtt_us) | min // 0) }
  | [.dir, .endpoint, .flows, .failed, .errors, .sent, .received, .srtt, .minrtt] | @tsv' "$flows" |
	awk -F'\t' 'BEGIN { printf "%-4s %-26s %7s %6s %-13s %10s %10s %8s %8s\n", "dir", "endpoint",
			"conns", "failed", "error", "sent_B", "recv_B", "srtt_us", "minrtt"; }
		{ printf "%-4s %-26s %7s %6s %-13s %10s %10s %8s %8s\n", $1, $2, $3, $4,
			($5 == "" ? "-" : $5), $6, $7, $8, $9 }'
echo
echo "== the collector's files (Hive-partitioned: flows/dt=YYYY-MM-DD/hr=HH/, gzip JSON lines)"
for f in "${files[@]}"; do echo "  $f ($(zcat "$f" | wc -l) records, $(stat -c %s "$f") bytes)"; done
echo "remote sides named: $(jq -r .remote_source "$flows" | sort | uniq -c | awk '{ printf "%s %s  ", $2, $1 }')"
echo "records: $(wc -l < "$flows"), read back into $flows; logs: $out_dir/sidecar.log," \
	"$out_dir/collector.log"
