#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# docs/schema.md's field table is the one schema of the flow record: this
# checks that the record the collector writes, the Hive DDL (deploy/hive/*.sql)
# and the Druid supervisor spec (deploy/druid/*.json) all agree with it.
#   scripts/schema-check.sh check BUILD_DIR [ROOT]
#   scripts/schema-check.sh self-test BUILD_DIR
# `check` reads ROOT/docs/schema.md, ROOT/deploy/{hive,druid} (ROOT: this
# repository) and runs BUILD_DIR/tests/record-fields (tests/tools/record-fields.c)
# for the collector's record; it prints what it checked, or every mismatch
# with the field it concerns, and exits 1.  `self-test` breaks copies of
# those files in the ways the check must catch and fails unless it does.
# jq and sed programs are single-quoted on purpose: $ and ` are theirs.
# shellcheck disable=SC2016
set -euo pipefail

usage() {
	echo "usage: $0 check BUILD_DIR [ROOT] | self-test BUILD_DIR" >&2
	exit 2
}

TOPIC=podflow.flows
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

errors=0
fail() {
	echo "schema-check: $*" >&2
	errors=$((errors + 1))
}
say() { echo "  $*"; }
# Runs a command (a jq program) that prints one mismatch per line; each is a
# failure, prefixed with $1 when not empty.  A command that fails is one too:
# a broken check must never pass quietly.
report() {
	local prefix=$1 out line
	shift
	if ! out=$("$@"); then
		fail "${prefix}the check itself failed ($1 exited with an error)"
		return 0
	fi
	while IFS= read -r line; do
		[ -n "$line" ] && fail "$prefix$line"
	done <<<"$out"
	return 0
}

# --- docs/schema.md ------------------------------------------------------------
# Prints the table as JSON: [{field, json, hive, role}] in table order.
read_table() {
	local doc=$1
	if ! grep -q '^<!-- schema:fields -->$' "$doc" || ! grep -q '^<!-- /schema:fields -->$' "$doc"; then
		echo "schema-check: $doc: no <!-- schema:fields --> ... <!-- /schema:fields --> table" >&2
		return 1
	fi
	awk -F'|' '
		$0 == "<!-- schema:fields -->" { on = 1; next }
		$0 == "<!-- /schema:fields -->" { on = 0 }
		!on || $0 !~ /^\|/ { next }
		{
			for (i = 2; i <= 5; i++) { gsub(/^[ \t]+|[ \t]+$/, "", $i) }
			if ($2 == "field" || $2 ~ /^-+$/)
				next
			printf "%s\t%s\t%s\t%s\n", $2, $3, $4, $5
		}' "$doc" |
		jq -R -s 'split("\n") | map(select(length > 0) | split("\t")
			| {field: (.[0] | ltrimstr("`") | rtrimstr("`")), raw: .[0], json: .[1], hive: .[2], role: .[3]})'
}

check_table() {
	local doc=$1 t=$2
	report "$doc: " jq -r '
		(.[] | select(.raw | test("^`[a-z_][a-z0-9_]*`$") | not)
			| "row \(.raw): the field must be one name in backquotes"),
		(group_by(.field)[] | select(length > 1) | "field \(.[0].field) has \(length) rows"),
		(.[] | select(.json != "int" and .json != "string")
			| "field \(.field): JSON type \(.json) is neither int nor string"),
		(.[] | select((.json == "int" and .hive != "BIGINT") or (.json == "string" and .hive != "STRING"))
			| "field \(.field): Hive type \(.hive) does not fit JSON type \(.json) (int: BIGINT, string: STRING)"),
		(.[] | select(.role | IN("timestamp", "dimension", "metric:longSum", "metric:longMin",
					"metric:longMax", "excluded") | not)
			| "field \(.field): unknown Druid role \(.role)"),
		(map(select(.role == "timestamp")) | select(length != 1)
			| "\(length) fields have the Druid role timestamp, not 1"),
		(.[] | select(.role == "timestamp" and .json != "int")
			| "field \(.field): the timestamp must be an int (Unix ms)")
		' <<<"$t"
}

# --- the collector's record -------------------------------------------------------
check_record() {
	local doc=$1 t=$2 tool=$3 rec
	if [ ! -x "$tool" ]; then
		fail "$tool: not built (make check builds it first)"
		return
	fi
	if ! rec=$("$tool"); then
		fail "$tool failed"
		return
	fi
	# --stream sees every key as written, so a key written twice is seen twice
	if ! rec=$(jq -c -s --stream '
			if length == 0 then error("no record") else . end
			| map(select(length == 2 and (.[0] | length) == 1))
			| map({key: .[0][0], type: (.[1] | if type == "number" then
				(if . == floor then "int" else "number" end) else type end)})' <<<"$rec"); then
		fail "$tool: its output is not one JSON object"
		return
	fi
	report "" jq -r --arg doc "$doc" --arg tool "$tool" --argjson rec "$rec" '
		(map(.field)) as $fields
		| ($rec | map(.key)) as $keys
		| ($rec | group_by(.key)[] | select(length > 1)
			| "\($tool): field \(.[0].key) is written \(length) times"),
		  ($keys - $fields | .[] | "field \(.): the collector writes it, \($doc) has no row for it"),
		  ($fields - $keys | .[] | "field \(.): \($doc) has it, the collector does not write it"),
		  (.[] as $row | $rec[] | select(.key == $row.field and .type != $row.json)
			| "field \(.key): \($doc) says JSON type \($row.json), the collector writes \(.type)")
		' <<<"$t"
	[ "$errors" -eq 0 ] && say "$tool: the collector writes the $NFIELDS fields with the same JSON types"
	return 0
}

# --- Hive ----------------------------------------------------------------------
# One line per fact, tab-separated: col|part|serde|table|bad FILE TABLE NAME TYPE.
# The DDL has one column per line (`name` TYPE [COMMENT '...'],) and the
# partition columns on the PARTITIONED BY line; -- comments are ignored.
hive_facts() {
	awk '
		FNR == 1 { state = "" }
		{ sub(/^[ \t]*--.*/, ""); u = toupper($0) }
		state == "" && match(u, /^[ \t]*CREATE[ \t]+(EXTERNAL[ \t]+)?TABLE[ \t]+(IF[ \t]+NOT[ \t]+EXISTS[ \t]+)?/) {
			s = substr($0, RLENGTH + 1)
			sub(/[ \t]*\(.*/, "", s); gsub(/`/, "", s)
			table = s; state = "cols"
			printf "table\t%s\t%s\t\t\n", FILENAME, table
			next
		}
		state == "cols" && u ~ /^[ \t]*\)/ { state = "after"; next }
		state == "cols" && u ~ /^[ \t]*$/ { next }
		state == "cols" {
			if (match($0, /^[ \t]*`?[A-Za-z_][A-Za-z0-9_]*`?[ \t]+[A-Za-z]+/)) {
				split(substr($0, RSTART, RLENGTH), w, /[ \t]+/)
				n = (w[1] == "" ? 2 : 1)
				name = w[n]; gsub(/`/, "", name)
				printf "col\t%s\t%s\t%s\t%s\n", FILENAME, table, name, toupper(w[n + 1])
			} else {
				printf "bad\t%s\t%s\t%s\t\n", FILENAME, table, $0
			}
			next
		}
		state == "after" && match(u, /PARTITIONED[ \t]+BY[ \t]*\(/) {
			s = substr($0, RSTART + RLENGTH)
			sub(/\).*/, "", s); gsub(/`/, "", s)
			n = split(s, parts, /,/)
			for (i = 1; i <= n; i++) {
				gsub(/^[ \t]+|[ \t]+$/, "", parts[i]); split(parts[i], w, /[ \t]+/)
				printf "part\t%s\t%s\t%s\t%s\n", FILENAME, table, w[1], toupper(w[2])
			}
		}
		state == "after" && match(u, /ROW[ \t]+FORMAT[ \t]+SERDE[ \t]+\047[^\047]*\047/) {
			s = substr($0, RSTART, RLENGTH); sub(/^[^\047]*\047/, "", s); sub(/\047$/, "", s)
			printf "serde\t%s\t%s\t%s\t\n", FILENAME, table, s
		}
		state == "after" && u ~ /STORED[ \t]+AS[ \t]+JSONFILE/ {
			printf "serde\t%s\t%s\tJSONFILE\t\n", FILENAME, table
		}
		state == "after" && u ~ /;/ { state = "" }
	' "$@"
}

check_hive() {
	local doc=$1 t=$2 dir=$3 facts files line tables
	files=("$dir"/*.sql)
	if [ ! -e "${files[0]}" ]; then
		fail "$dir: no .sql files"
		return
	fi
	facts=$(hive_facts "${files[@]}" | jq -R -s 'split("\n") | map(select(length > 0) | split("\t")
		| {kind: .[0], file: .[1], table: .[2], name: .[3], type: .[4]})')
	tables=$(jq -r '[.[] | select(.kind == "table") | .table] | join(" ")' <<<"$facts")
	if [ -z "$tables" ]; then
		fail "$dir: no CREATE TABLE"
		return
	fi
	report "" jq -r --arg doc "$doc" --argjson facts "$facts" '
		. as $t | (map(.field)) as $fields
		| $facts | map(select(.kind == "table")) | .[] as $tab
		| ($facts | map(select(.file == $tab.file and .table == $tab.table))) as $f
		| ($f | map(select(.kind == "col"))) as $cols
		| ($f | map(select(.kind == "part"))) as $parts
		| "\($tab.file): table \($tab.table)" as $where
		| ($f[] | select(.kind == "bad") | "\($where): cannot read the column line \"\(.name)\" (one `name` TYPE per line)"),
		  ($cols | group_by(.name)[] | select(length > 1) | "\($where): column \(.[0].name) appears \(length) times"),
		  (($cols | map(.name)) - $fields | .[] | "\($where): column \(.) is not a field in \($doc)"),
		  ($fields - ($cols | map(.name)) | .[] | "\($where): field \(.) has no column"),
		  ($cols[] as $c | $t[] | select(.field == $c.name and .hive != $c.type)
			| "\($where): column \($c.name) is \($c.type), \($doc) says \(.hive)"),
		  (select(($parts | map("\(.name) \(.type)")) != ["dt STRING", "hr STRING"])
			| "\($where): partition columns are (\($parts | map("\(.name) \(.type)") | join(", "))), not (dt STRING, hr STRING)"),
		  ($parts[] | select(.name as $n | $fields | index($n))
			| "\($where): partition column \(.name) is also a field"),
		  (select([$f[] | select(.kind == "serde" and (.name | test("JsonSerDe$|^JSONFILE$")))] | length == 0)
			| "\($where): no JSON SerDe (ROW FORMAT SERDE ...JsonSerDe or STORED AS JSONFILE)")
		' <<<"$t"

	# partition registration: MSCK REPAIR, and ADD PARTITION specs naming dt and hr only
	local body specs
	body=$(sed -e 's/--.*//' "${files[@]}")
	for tab in $tables; do
		grep -Eiq "MSCK[[:space:]]+REPAIR[[:space:]]+TABLE[[:space:]]+\`?$tab\`?" <<<"$body" ||
			fail "$dir: no MSCK REPAIR TABLE $tab (partition registration)"
	done
	specs=$(tr '\n' ' ' <<<"$body" | grep -Eio "PARTITION[[:space:]]*\([^)]*\)" || true)
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		keys=$(sed -E "s/^[^(]*\(//; s/\)$//; s/=[^,]*//g; s/[[:space:]\`]//g" <<<"$line")
		[ "$keys" = "dt,hr" ] || fail "$dir: partition spec \"$line\" names ($keys), not (dt, hr)"
	done <<<"$specs"
	[ "$errors" -eq 0 ] && say "$dir: table(s) $tables: the $NFIELDS fields as columns," \
		"Hive types as $doc, partitioned by (dt, hr), JSON SerDe; partitions registered"
	return 0
}

# --- Druid ---------------------------------------------------------------------
check_druid() {
	local doc=$1 t=$2 dir=$3 spec line n=0
	for spec in "$dir"/*.json; do
		[ -e "$spec" ] || break
		n=$((n + 1))
		if ! jq empty "$spec" 2>/dev/null; then
			fail "$spec: not valid JSON: $(jq empty "$spec" 2>&1 | head -1)"
			continue
		fi
		report "$spec: " jq -r --arg doc "$doc" --arg topic "$TOPIC" --slurpfile spec "$spec" '
			def upcase: if type == "string" then ascii_upcase else . end;
			. as $t | $spec[0] as $s | $s.spec.dataSchema as $ds
			| (map(select(.role == "timestamp") | .field)[0]) as $ts
			| (map(select(.role == "dimension"))) as $dimrows
			| (map(select(.role | startswith("metric:")))) as $metrows
			| (map(select(.role == "excluded") | .field)) as $excluded
			| (map(.field)) as $fields
			| ($ds.dimensionsSpec.dimensions // []
				| map(if type == "string" then {name: ., type: "string"} else {name, type: (.type // "string")} end)) as $dims
			| ($ds.metricsSpec // [] | map(if .type == "filtered" then .aggregator else . end)) as $aggs
			| ($aggs | map(select(.type == "count"))) as $counts
			| ($aggs | map(select(.type != "count"))) as $mets
			| (select($s.type != "kafka") | "type is \($s.type | tojson), not \"kafka\""),
			  (select($s.spec.ioConfig.topic != $topic) | "ioConfig.topic is \($s.spec.ioConfig.topic | tojson), not \"\($topic)\""),
			  (select($s.spec.ioConfig.inputFormat.type != "json")
				| "ioConfig.inputFormat.type is \($s.spec.ioConfig.inputFormat.type | tojson), not \"json\""),
			  (select($s.spec.ioConfig.consumerProperties["bootstrap.servers"] == null)
				| "ioConfig.consumerProperties has no bootstrap.servers"),
			  (select($s.spec.tuningConfig.type != "kafka") | "tuningConfig.type is not \"kafka\""),
			  (select(($ds.dataSource // "") == "") | "dataSchema.dataSource is missing"),
			  (select($ds.timestampSpec.column != $ts)
				| "timestampSpec.column is \($ds.timestampSpec.column | tojson), \($doc) says field \($ts)"),
			  (select($ds.timestampSpec.format != "millis")
				| "timestampSpec.format is \($ds.timestampSpec.format | tojson), not \"millis\" (field \($ts) is Unix ms)"),
			  (select(($ds.granularitySpec.segmentGranularity | upcase) != "HOUR")
				| "granularitySpec.segmentGranularity is \($ds.granularitySpec.segmentGranularity | tojson), not HOUR"),
			  (select(($ds.granularitySpec.queryGranularity | upcase) != "MINUTE")
				| "granularitySpec.queryGranularity is \($ds.granularitySpec.queryGranularity | tojson), not MINUTE"),
			  (select($ds.granularitySpec.rollup != true) | "granularitySpec.rollup is not true"),
			  (select($ds.dimensionsSpec.useSchemaDiscovery == true or $ds.dimensionsSpec.includeAllDimensions == true)
				| "dimensionsSpec discovers columns: every field would become a dimension, the excluded ones too"),
			  ($dims | group_by(.name)[] | select(length > 1) | "dimension \(.[0].name) is listed \(length) times"),
			  ($dims[] | select(.name as $n | $excluded | index($n))
				| "field \(.name) is a dimension, but \($doc) excludes it from the rolled-up datasource"),
			  ($dims[] | select(.name == $ts) | "field \(.name) is the timestamp and also a dimension"),
			  (($dims | map(.name)) - ($dimrows | map(.field)) - $excluded - [$ts] | .[]
				| if (. as $n | $fields | index($n)) then "field \(.) is a dimension, \($doc) says it is not"
				  else "dimension \(.) is not a field in \($doc)" end),
			  (($dimrows | map(.field)) - ($dims | map(.name)) | .[] | "field \(.) is not a dimension, \($doc) says it is one"),
			  ($dims[] as $d | $dimrows[] | select(.field == $d.name)
				| (if .json == "int" then "long" else "string" end) as $want
				| select($d.type != $want) | "dimension \(.field) has type \($d.type), its JSON type \(.json) asks for \($want)"),
			  (select(($counts | length) != 1) | "\($counts | length) count metrics, not 1"),
			  ($counts[] | select(.name as $n | $fields | index($n)) | "count metric \(.name) has the name of a field"),
			  ($mets[] | select(.name != .fieldName) | "metric \(.name) aggregates field \(.fieldName): the name must be the field name"),
			  ($mets | group_by(.fieldName)[] | select(length > 1) | "field \(.[0].fieldName) has \(length) metrics"),
			  ($mets[] | select(.fieldName as $n | $metrows | map(.field) | index($n) | not)
				| if (.fieldName as $n | $fields | index($n)) then
					"field \(.fieldName) is a metric (\(.type)), \($doc) says it is not one"
				  else "metric \(.name) aggregates \(.fieldName | tojson), which is not a field in \($doc)" end),
			  ($metrows[] | . as $r | ($mets | map(select(.fieldName == $r.field))) as $m
				| if ($m | length) == 0 then "field \($r.field) has no metric, \($doc) says \($r.role)"
				  elif $m[0].type != ($r.role | ltrimstr("metric:")) then
					"field \($r.field) is aggregated with \($m[0].type), \($doc) says \($r.role | ltrimstr("metric:"))"
				  else empty end),
			  ($ds.transformSpec.transforms // [] | .[] | select(.name as $n | $metrows | map(.field) | index($n) | not)
				| "transform \(.name) is not an in-place rewrite of a metric field")
			' <<<"$t"
	done
	if [ "$n" -eq 0 ]; then
		fail "$dir: no supervisor spec (.json)"
	elif [ "$errors" -eq 0 ]; then
		say "$dir: $n Kafka supervisor spec(s): topic $TOPIC, inputFormat json, timestamp $TS (millis)," \
			"the $NDIMS dimensions, the $NMETS metrics + count, HOUR segments, MINUTE rollup," \
			"none of the $NEXCL excluded fields"
	fi
	return 0
}

run_check() {
	local build=$1 root=$2 doc t
	doc=docs/schema.md
	cd "$root"
	[ -f "$doc" ] || { echo "schema-check: $root/$doc: missing" >&2; exit 1; }
	t=$(read_table "$doc") || exit 1
	IFS=$'\t' read -r NFIELDS NDIMS NMETS NEXCL TS ROLES < <(jq -r '[length,
		(map(select(.role == "dimension")) | length), (map(select(.role | startswith("metric:"))) | length),
		(map(select(.role == "excluded")) | length), (map(select(.role == "timestamp"))[0].field // "-"),
		(group_by(.role) | map("\(length) \(.[0].role)") | join(", "))] | @tsv' <<<"$t")
	if [ "$NFIELDS" -eq 0 ]; then
		echo "schema-check: $doc: the field table is empty" >&2
		exit 1
	fi
	check_table "$doc" "$t"
	[ "$errors" -eq 0 ] && say "$doc: $NFIELDS fields: $ROLES"
	check_record "$doc" "$t" "$build/tests/record-fields"
	check_hive "$doc" "$t" deploy/hive
	check_druid "$doc" "$t" deploy/druid
	if [ "$errors" -ne 0 ]; then
		echo "schema-check: $errors mismatch(es) with $doc" >&2
		exit 1
	fi
	echo "$doc: the collector's record, the Hive DDL and the Druid spec agree with it"
}

# --- self-test: every kind of drift must fail the check -----------------------------
self_test() {
	local build=$1 self=$here/scripts/schema-check.sh tmp out n=0 bad=0
	case $build in /*) ;; *) build=$PWD/$build ;; esac
	tmp=$(mktemp -d)
	# expanded now: $tmp is local, and gone by the time the shell exits
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT

	# copy ROOT's inputs and a record-fields that pipes the real one through FILTER
	fresh() {
		rm -rf "$tmp/root" "$tmp/build"
		mkdir -p "$tmp/root/docs" "$tmp/root/deploy" "$tmp/build/tests"
		cp "$here/docs/schema.md" "$tmp/root/docs/"
		cp -r "$here/deploy/hive" "$here/deploy/druid" "$tmp/root/deploy/"
		printf '#!/bin/sh\n"%s" | jq -c "$(cat "%s")"\n' "$build/tests/record-fields" \
			"$tmp/filter" >"$tmp/build/tests/record-fields"
		chmod +x "$tmp/build/tests/record-fields"
		echo . >"$tmp/filter"
	}
	druid() { # edit the copied spec with a jq program
		local f=$tmp/root/deploy/druid/podflow-flows-supervisor.json
		jq "$1" "$f" >"$f.new" && mv "$f.new" "$f"
	}
	# expect NAME PATTERN: the check on the copy fails and names PATTERN
	expect() {
		local out
		n=$((n + 1))
		if out=$("$self" check "$tmp/build" "$tmp/root" 2>&1); then
			echo "self-test: $1: the check passed; it must fail" >&2
			bad=$((bad + 1))
		elif ! grep -q -- "$2" <<<"$out"; then
			echo "self-test: $1: the check failed without naming \"$2\":" >&2
			echo "$out" >&2
			bad=$((bad + 1))
		else
			say "fails as it must: $1: $(grep -m1 -- "$2" <<<"$out")"
		fi
	}

	fresh
	if ! out=$("$self" check "$tmp/build" "$tmp/root" 2>&1); then
		echo "self-test: the check fails on unchanged copies:" >&2
		echo "$out" >&2
		exit 1
	fi

	fresh; sed -i '/^| `retransmits` |/d' "$tmp/root/docs/schema.md"
	expect "a field missing from docs/schema.md" "field retransmits: the collector writes it"
	fresh; echo 'del(.container)' >"$tmp/filter"
	expect "a field the collector no longer writes" "field container: docs/schema.md has it, the collector does not"
	fresh; echo '. + {collector_id: "c1"}' >"$tmp/filter"
	expect "a new field the collector writes" "field collector_id: the collector writes it"
	fresh; echo '.pid |= tostring' >"$tmp/filter"
	expect "a field whose JSON type changed" "field pid: docs/schema.md says JSON type int, the collector writes string"
	fresh; sed -i 's/^| `flows` | int | BIGINT |/| `flows` | int | STRING |/' "$tmp/root/docs/schema.md"
	expect "a Hive type that does not fit the JSON type" "field flows: Hive type STRING"
	fresh; sed -i '/^  `resets` /d' "$tmp/root/deploy/hive/podflow_flows.sql"
	expect "a field missing from the Hive table" "field resets has no column"
	fresh; sed -i 's/^  `bytes_sent` BIGINT/  `bytes_sent` INT/' "$tmp/root/deploy/hive/podflow_flows.sql"
	expect "a Hive column of the wrong type" "column bytes_sent is INT"
	fresh; sed -i 's/^  `comm` STRING/  `comm` STRING,\n  `extra` STRING/' "$tmp/root/deploy/hive/podflow_flows.sql"
	expect "a Hive column that is no field" "column extra is not a field"
	fresh; sed -i 's/PARTITIONED BY (`dt` STRING, `hr` STRING)/PARTITIONED BY (`dt` STRING)/' \
		"$tmp/root/deploy/hive/podflow_flows.sql"
	expect "partitioned by dt only" "not (dt STRING, hr STRING)"
	fresh; sed -i '/^MSCK/d' "$tmp/root/deploy/hive/podflow_flows_partitions.sql"
	expect "no partition registration" "no MSCK REPAIR TABLE podflow_flows"
	fresh; druid 'del(.spec.dataSchema.dimensionsSpec.dimensions[] | select(.name == "remote_app"))'
	expect "a dimension missing from the Druid spec" "field remote_app is not a dimension"
	fresh; druid '.spec.dataSchema.dimensionsSpec.dimensions += ["local_ip"]'
	expect "an excluded field as a Druid dimension" "field local_ip is a dimension, but docs/schema.md excludes it"
	fresh; druid '.spec.dataSchema.dimensionsSpec.dimensions |= map(if .name == "family" then .type = "string" else . end)'
	expect "a long field as a string dimension" "dimension family has type string"
	fresh; druid 'del(.spec.dataSchema.metricsSpec[] | select(.name == "segs_sent"))'
	expect "a metric missing from the Druid spec" "field segs_sent has no metric"
	fresh; druid '.spec.dataSchema.metricsSpec |= map(if .name == "srtt_us" then .type = "longMin" else . end)'
	expect "a metric with the wrong aggregator" "field srtt_us is aggregated with longMin"
	fresh; druid 'del(.spec.dataSchema.metricsSpec[] | select(.type == "count"))'
	expect "no count metric" "0 count metrics"
	fresh; druid '.spec.dataSchema.timestampSpec = {column: "start_ms", format: "auto"}'
	expect "the wrong timestamp" "timestampSpec.column is \"start_ms\""
	fresh; druid '.spec.dataSchema.granularitySpec |= (.queryGranularity = "NONE" | .rollup = false)'
	expect "no rollup" "granularitySpec.rollup is not true"
	fresh; druid '.spec.ioConfig.topic = "flows"'
	expect "the wrong topic" "ioConfig.topic is \"flows\""
	fresh; druid '.spec.dataSchema.dimensionsSpec.useSchemaDiscovery = true'
	expect "schema discovery" "dimensionsSpec discovers columns"
	fresh; echo '{' >>"$tmp/root/deploy/druid/podflow-flows-supervisor.json"
	expect "a spec that is not JSON" "not valid JSON"

	if [ "$bad" -ne 0 ]; then
		echo "schema-check self-test: $bad of $n broken copies were not caught" >&2
		exit 1
	fi
	echo "schema-check self-test: all $n broken copies fail the check, naming what is wrong"
}

[ $# -ge 2 ] || usage
case $1 in
check)
	[ $# -le 3 ] || usage
	build=$2
	case $build in /*) ;; *) build=$PWD/$build ;; esac
	run_check "$build" "${3:-$here}"
	;;
self-test)
	[ $# -eq 2 ] || usage
	self_test "$2"
	;;
*)
	usage
	;;
esac
