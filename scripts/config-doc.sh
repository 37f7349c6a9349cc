#!/bin/sh
# docs/config.md carries both binaries' key tables, generated from the same
# tables the parsers use (--help-config).  `check` fails when they differ;
# `update` rewrites them in place.
#   scripts/config-doc.sh check|update BUILD_DIR DOC
set -eu
mode=$1 build=$2 doc=$3
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.new"' EXIT

# Replaces what lies between <!-- keys:NAME --> and <!-- /keys:NAME --> with
# the output of `BINARY --help-config`.
splice() {
	name=$1 bin=$2 in=$3 out=$4
	table=$("$bin" --help-config) || { echo "$bin --help-config failed" >&2; exit 1; }
	grep -q "^<!-- keys:$name -->\$" "$in" || { echo "$doc: no <!-- keys:$name --> marker" >&2; exit 1; }
	TABLE=$table awk -v name="$name" '
		$0 == "<!-- keys:" name " -->" { print; print ENVIRON["TABLE"]; skip = 1; next }
		$0 == "<!-- /keys:" name " -->" { skip = 0 }
		!skip { print }
	' "$in" >"$out"
}

splice sidecar "$build/podflow-sidecar" "$doc" "$tmp"
splice collector "$build/podflow-collector" "$tmp" "$tmp.new"
case $mode in
check)
	if ! diff -u "$doc" "$tmp.new"; then
		echo "$doc: the key tables differ from --help-config; run: make docs" >&2
		exit 1
	fi
	echo "$doc: key tables match both binaries"
	;;
update)
	cp "$tmp.new" "$doc"
	;;
*)
	echo "usage: $0 check|update BUILD_DIR DOC" >&2
	exit 2
	;;
esac
