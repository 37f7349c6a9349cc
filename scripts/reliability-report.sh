#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# docs/reliability.md from the fault and bad-input tests' own output (tests/report.h).
#
#   reliability-report.sh render RESULTS.jsonl FUZZ_LOG_DIR OUT.md
#       the report: every line the tests appended to RESULTS.jsonl (one per
#       fault a test injected, with what was delivered, counted and lost),
#       and each fuzz target's run from FUZZ_LOG_DIR/<target>.log
#   reliability-report.sh check RESULTS.jsonl DOC.md
#       make check: every result passed and lost nothing, and DOC.md lists
#       exactly the faults the tests report today (suite, test, fault), so
#       a test added, renamed or dropped without `make reliability-report`
#       fails; the figures may differ from run to run and are not compared
set -euo pipefail

die() {
	echo "reliability-report: $*" >&2
	exit 1
}

# every result passed, lost nothing, and has the fields the report shows
validate() {
	local results=$1 bad
	[ -s "$results" ] || die "$results: no results (did the tests run with PODFLOW_RELIABILITY_OUT?)"
	jq -e . "$results" >/dev/null || die "$results: a line is not JSON"
	bad=$(jq -r 'select(.passed != true or .lost != 0 or (.fault|length) == 0 or (.unit|length) == 0)
		| "\(.suite) \(.test): \(.fault) (passed \(.passed), lost \(.lost))"' "$results")
	[ -z "$bad" ] || die "results that failed or lost something:"$'\n'"$bad"
}

# the faults table rows, one per result, in suite then test order (stable: sort_by keeps
# a test's own order)
rows() {
	jq -rs 'sort_by(.suite) | .[] |
		def cell: tostring | gsub("\\|"; "\\|") | gsub("\n"; " ");
		"| \(.suite|cell) | `\(.test|cell)` | \(.fault|cell) | \(.unit|cell) | \(.injected) | \(.delivered) | \(.counted) | \(.lost) | \(.counted_as|cell) | \(.note|cell) |"' "$1"
}

# suite, test and fault of each row: what check compares
keys() {
	awk -F' [|] ' '/^\| [^-]/ && NF >= 10 && $2 ~ /^`/ { sub(/^\| /, "", $1); print $1 " | " $2 " | " $3 }' "$1" | sort
}

render() {
	local results=$1 fuzzlogs=$2 out=$3 tmp rev kernel
	validate "$results"
	tmp=$(mktemp)
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || rev="$rev (with uncommitted changes)"
	kernel=$(uname -r)
	{
		cat <<EOF
# Reliability

Every fault and bad-input test, with what it did and what became of it,
as the tests themselves measured it. **Generated** by \`make
reliability-report\` from the tests' own output (\`tests/report.h\`,
\`scripts/reliability-report.sh\`): do not edit by hand. \`make check\`
fails when a test reports a fault this page does not list, or this page
lists one no test reports any more.

Generated at commit $rev on $(nproc) CPUs, Linux $kernel, $(date -u +%Y-%m-%d).

What the columns count, in the unit each test names:

- **injected**: units the fault or the bad input touched;
- **delivered**: of those, units that came out where they were meant to
  (written, attributed, answered); 0 where nothing should be;
- **counted**: units not delivered that podflow counted, in the metric,
  stat or answer named under *counted as*;
- **lost**: units neither delivered nor counted. Every test asserts its
  figures before reporting them, and the report refuses any line whose
  *lost* is not 0.

A row's figures come from one run on a shared machine: counts that
depend on timing (how many retries, how many batches a buffer dropped)
vary from run to run; the relation between them does not.

## Faults and bad input

| suite | test | fault | unit | injected | delivered | counted | lost | counted as | note |
|-------|------|-------|------|---------:|----------:|--------:|-----:|------------|------|
EOF
		rows "$results"
		echo
		echo "$(jq -s 'length' "$results") results from $(jq -rs 'map(.suite + "/" + .test) | unique | length' "$results") tests in $(jq -rs 'map(.suite) | unique | length' "$results") suites."
		cat <<EOF

## Fuzzing

Each libFuzzer target (\`tests/fuzz/\`, ASan and UBSan) ran from its
committed corpus (\`tests/fuzz/corpus/<target>\`) for the time shown;
\`make fuzz FUZZ_SECONDS=N\` runs them longer. A crash fails the run, and
every crash found so far is a regression test.

| target | input | seconds | executions | crashes |
|--------|-------|--------:|-----------:|--------:|
EOF
		local log t what secs execs
		for log in "$fuzzlogs"/fuzz_*.log; do
			[ -e "$log" ] || die "no fuzz logs in $fuzzlogs (make fuzz first)"
			t=$(basename "$log" .log)
			[ -f "tests/fuzz/$t.c" ] || continue
			# the target's one-sentence purpose: the comment after its SPDX line
			what=$(sed -n '2{s,^/\* *,,;s, *\*/$,,;p}' "tests/fuzz/$t.c")
			secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' |
				grep -oE '[0-9]+' || echo "?")
			execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' ||
				die "$log: no final stats (a crash?)")
			grep -q 'ERROR: libFuzzer\|==ERROR' "$log" && die "$log: the target crashed"
			echo "| \`$t\` | $what | $secs | $execs | 0 |"
		done
	} >"$tmp"
	mv "$tmp" "$out"
	echo "  REPORT   $out: $(jq -s 'length' "$results") results"
}

check() {
	local results=$1 doc=$2 tmp
	validate "$results"
	[ -f "$doc" ] || die "$doc is missing: make reliability-report"
	tmp=$(mktemp)
	rows "$results" >"$tmp"
	if ! diff -u <(keys "$doc") <(keys "$tmp") >"$tmp.diff"; then
		cat "$tmp.diff" >&2
		rm -f "$tmp" "$tmp.diff"
		die "$doc does not list the faults the tests report (- the page, + the tests): make reliability-report"
	fi
	echo "  CHECK    $doc lists the $(keys "$tmp" | wc -l) faults the tests reported, none lost"
	rm -f "$tmp" "$tmp.diff"
}

case "${1:-}" in
render) [ $# -eq 4 ] || die "usage: $0 render RESULTS.jsonl FUZZ_LOG_DIR OUT.md"; render "$2" "$3" "$4" ;;
check) [ $# -eq 3 ] || die "usage: $0 check RESULTS.jsonl DOC.md"; check "$2" "$3" ;;
*) die "usage: $0 render RESULTS.jsonl FUZZ_LOG_DIR OUT.md | check RESULTS.jsonl DOC.md" ;;
esac
