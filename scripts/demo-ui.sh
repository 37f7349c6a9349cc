#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The end of make demo (scripts/demo.sh): a collector on this host's loopback
# rebuilds its insight view from the files the demo's collector wrote
# (insight.rebuild, docs/insight.md) and serves the API and the web UI.  In a
# terminal it runs until Ctrl-C; with PODFLOW_DEMO_UI=0, or without a
# terminal, it prints the URL and the API's answers, then stops.
set -euo pipefail

BUILD=${BUILD:-build}
out_dir="$BUILD/demo"
data="$out_dir/collector-data"
log="$out_dir/ui-collector.log"
api=${PODFLOW_DEMO_API:-127.0.0.1:9095}
interactive=false
if [ -t 0 ] && [ -t 1 ] && [ "${PODFLOW_DEMO_UI:-1}" != 0 ]; then interactive=true; fi

collector=
trap '[ -n "$collector" ] && kill $collector 2>/dev/null; wait 2>/dev/null || true' EXIT
# start_ui ADDR: the collector with its API on ADDR; 0 once it says so
start_ui() {
	"$BUILD/podflow-collector" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$data" \
		--admin-api "$1" --no-attribution --stats-interval 0 2> "$log" &
	collector=$!
	for _ in $(seq 100); do
		grep -q 'API endpoint on' "$log" && return 0
		kill -0 "$collector" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# the port asked for, or any free one when it is taken
if ! start_ui "$api"; then
	grep -q 'in use' "$log" || { cat "$log" >&2; exit 1; }
	echo "== $api is taken: the UI's collector takes a free port"
	start_ui 127.0.0.1:0 || { cat "$log" >&2; exit 1; }
fi
port=$(sed -n 's/.*API endpoint on .* (port \([0-9]*\)).*/\1/p' "$log")
url="http://127.0.0.1:$port/"
# the view is rebuilt from the files in the background: wait for it
for _ in $(seq 100); do
	[ "$(curl -sf "${url}api/v1/status" | jq -r .rebuild)" = done ] && break
	sleep 0.1
done
echo
echo "== the insight view, rebuilt from the files ($(curl -sf "${url}api/v1/status" |
	jq -r '"\(.rebuilt) records, \(.edges) keys"'))"
curl -sf "${url}api/v1/edges" | jq -r '.edges[] |
	"  \(.from) -> \(.to):\(.port)  \(.flows) connections, \(.failed) failed\(
	if .failed > 0 then " (" + ([.failures | to_entries[] | select(.value > 0) | .key] | join(", ")) + ")" else "" end
	), \(.bytes_sent) B sent, \(.bytes_received) B received"'
echo
echo "== the web UI: $url   (API: ${url}api/v1/apps, docs/api.md)"
if $interactive; then
	echo "   open it in a browser (over ssh: ssh -L $port:127.0.0.1:$port this-host); Ctrl-C stops the collector"
	trap 'echo; echo "== stopped"; kill $collector 2>/dev/null || true; wait 2>/dev/null || true; exit 0' INT TERM
	wait $collector
else
	echo "   (not a terminal, or PODFLOW_DEMO_UI=0: stopping; in a terminal it runs until Ctrl-C)"
fi
