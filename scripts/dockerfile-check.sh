#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# No container engine runs where `make check` runs, so the images are never
# built there: this checks what can be checked without one, that
# Dockerfile.sidecar and Dockerfile.collector build what CI proves and run it
# on the libraries it links.
#   scripts/dockerfile-check.sh check BUILD_DIR [ROOT]
#   scripts/dockerfile-check.sh self-test BUILD_DIR
# `check` reads ROOT/Dockerfile.{sidecar,collector} (ROOT: this repository),
# this repository's Makefile and the binaries in BUILD_DIR (built by `make
# all` just before), on Debian 12, and verifies for each image:
#  - every stage before the last (the build) runs `make` only with targets
#    `make check` builds: the targets its recipe hands to $(MAKE), its
#    prerequisites, and theirs through phony targets, read from make's own
#    database of the Makefile (`make -p`), never a copy; no variable but
#    BUILD and V set; `make deps` among them, and the binary built;
#  - the last stage (the runtime) is debian:12-slim, runs no make, installs
#    with --no-install-recommends and no -dev, compiler or build-tool package
#    (by name, and by Section devel/libdevel in dpkg or apt);
#  - for every shared library `ldd BUILD_DIR/<binary>` reports, the package
#    that owns it (`dpkg -S` of its resolved path) is installed by the
#    runtime stage or is one debian:12-slim already has: the Essential and
#    Priority: required packages and everything they depend on, computed
#    from dpkg's database here, not a list; and no library package is
#    installed that provides none of those libraries;
#  - the binary is COPYed from the build to /usr/local/bin/<binary>, from
#    where the build stage made it, and the exec-form ENTRYPOINT is it;
#  - the OCI labels (title, description, source, licenses BSD-2-Clause,
#    version from a build ARG); the collector's USER numeric and not root,
#    and curl in it (the chart's `helm test` hook runs it).
# It prints what it checked, or every failure, and exits 1. `self-test`
# breaks copies of the Dockerfiles in the ways the check must catch and
# fails unless it catches each one, by name.
# Make and sed text is single-quoted on purpose: $(...) is theirs.
# shellcheck disable=SC2016
set -euo pipefail

usage() {
	echo "usage: $0 check BUILD_DIR [ROOT] | self-test BUILD_DIR" >&2
	exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# image: Dockerfile, binary, who it runs as, packages that must be there
IMAGES=(
	"Dockerfile.sidecar podflow-sidecar root -"
	"Dockerfile.collector podflow-collector nonroot curl"
)
BIN_DIR=/usr/local/bin
RUNTIME_BASE_RE='^debian:(12|bookworm)-slim(@sha256:[0-9a-f]{64})?$'
BUILD_BASE_RE='^debian:(12|bookworm)(\.[0-9]+)?(@sha256:[0-9a-f]{64})?$'
LICENSE=BSD-2-Clause
# compilers and build tools by name (cpp is Section interpreters, pkg-config
# oldlibs: the Section test alone misses them)
TOOLCHAIN_RE='^(gcc|g\+\+|cpp|c\+\+|clang|llvm|lld|binutils|make|cmake|ninja-build|build-essential|pkg-config|pkgconf|bpftool|libtool|autoconf|automake)(-[0-9.]+)?$'

errors=0
fail() {
	echo "dockerfile-check: $*" >&2
	errors=$((errors + 1))
}
say() { echo "  $*"; }

# The facts that do not depend on the Dockerfiles (what make check builds,
# what the binaries link, debian:12-slim's packages) are computed once per
# run, in $cache; the self-test's runs share one (DOCKERFILE_CHECK_CACHE).
cache=
init_cache() {
	cache=${DOCKERFILE_CHECK_CACHE:-}
	if [ -z "$cache" ]; then
		cache=$(mktemp -d)
		# shellcheck disable=SC2064
		trap "rm -rf '$cache'" EXIT
	fi
}

# make, untouched by the make that runs this script (its MAKEFLAGS carry
# its command line's variables, BUILD among them)
pmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD make --no-print-directory -C "$here" "$@"
}

# --- what `make check` builds ---------------------------------------------------
# ci_facts BUILD|-: for that BUILD (-: the Makefile's default), writes in
# $(ci_dir BUILD): targets (every target make check builds), named (those its
# recipe hands to $(MAKE)), build (BUILD's value), goal (the default goal).
ci_facts() {
	local b=$1 dir mk line raw i=0
	dir=$(ci_dir "$b")
	[ -f "$dir/failed" ] && return 1
	[ -d "$dir" ] && return 0
	mkdir -p "$dir"
	touch "$dir/failed"
	local -a bv=()
	[ "$b" != - ] && bv=("BUILD=$b")
	printf '__pf_db:\n' >"$dir/db.mk"
	pmake -pq -f Makefile -f "$dir/db.mk" "${bv[@]}" __pf_db >"$dir/db" 2>"$dir/db.err" || {
		fail "make -p (the Makefile's database) failed: $(head -3 "$dir/db.err")"
		return 1
	}
	# rules, expanded by make: "target: prerequisites" (order-only ones too)
	awk '/^# Not a target:/ { skip = 1; next }
		/^[^#\t][^=]*:([^=]|$)/ && !/^[^:]*:[:!]?=/ { if (!skip) print; skip = 0; next }
		{ skip = 0 }' "$dir/db" | sed -e 's/ | / /' >"$dir/rules"
	sed -n 's/^\.PHONY: //p' "$dir/rules" | tr -s '[:blank:]' '\n' | sed '/^$/d' | sort -u >"$dir/phony"
	# check's recipe as written (joined continuations); each $(MAKE) in it up
	# to the end of that command is expanded by make itself
	awk 'seen && /^\t/ { print; body = 1; next } seen && !body && /^#/ { next } seen { exit }
		/^check:/ { seen = 1 }' "$dir/db" |
		sed -e 's/^\t//' | awk '{ if (sub(/\\$/, "")) { buf = buf $0; next } print buf $0; buf = "" }' \
			>"$dir/recipe"
	if ! [ -s "$dir/recipe" ]; then
		fail "the Makefile has no check target with a recipe"
		return 1
	fi
	mk=$dir/expand.mk
	: >"$mk"
	while IFS= read -r line; do
		while [[ $line == *'$(MAKE)'* || $line == *'${MAKE}'* ]]; do
			line=${line#*\$[\(\{]MAKE[\)\}]}
			raw=$(sed -E 's/(&&|\|\||;|\|).*//' <<<"$line")
			printf '__pf_%d = %s\n$(info @@ $(__pf_%d))\n' "$i" "$raw" "$i" >>"$mk"
			i=$((i + 1))
		done
	done <"$dir/recipe"
	printf '$(info @@BUILD $(BUILD))\n$(info @@GOAL $(.DEFAULT_GOAL))\n' >>"$mk"
	pmake -q -f Makefile -f "$mk" "${bv[@]}" __pf_db 2>/dev/null >"$dir/expanded" || true
	sed -n 's/^@@BUILD //p' "$dir/expanded" >"$dir/build"
	sed -n 's/^@@GOAL //p' "$dir/expanded" >"$dir/goal"
	# the named targets (not options, not VAR=value) and check's prerequisites,
	# then the prerequisites of every phony target among them, transitively
	sed -n 's/^@@ //p' "$dir/expanded" | tr -s '[:blank:]' '\n' | { grep -v -e '^-' -e '=' -e '^$' || true; } |
		sort -u >"$dir/named"
	{
		cat "$dir/named"
		sed -n 's/^check: *//p' "$dir/rules" | tr -s '[:blank:]' '\n'
	} | sed '/^$/d' | sort -u >"$dir/targets"
	awk 'FILENAME == ARGV[1] { phony[$0] = 1; next }
		FILENAME == ARGV[2] { t = $1; sub(/:$/, "", t); for (i = 2; i <= NF; i++) pre[t] = pre[t] " " $i; next }
		{ if (!($0 in seen)) { seen[$0] = 1; q[n++] = $0 } }
		END {
			for (i = 0; i < n; i++) {
				if (!(q[i] in phony)) continue
				m = split(pre[q[i]], p, " ")
				for (j = 1; j <= m; j++) if (!(p[j] in seen)) { seen[p[j]] = 1; q[n++] = p[j] }
			}
			for (i = 0; i < n; i++) print q[i]
		}' "$dir/phony" "$dir/rules" "$dir/targets" | sort -u >"$dir/closure"
	mv "$dir/closure" "$dir/targets"
	rm -f "$dir/failed"
}
ci_dir() { echo "$cache/ci.${1//\//_}"; }

# --- what debian:12-slim has --------------------------------------------------
# The minbase image: the Essential and Priority: required packages and their
# Depends and Pre-Depends, transitively (apt's own libraries, gnutls, ...).
# dpkg's database here answers it: this machine is Debian 12 too.
declare -A BASE=()
base_packages() {
	[ -f "$cache/base" ] && return 0
	dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Priority}\t${Essential}\t${Pre-Depends}, ${Depends}\n' |
		awk -F'\t' '$1 ~ /^ii/' |
		awk -F'\t' '
		{ inst[$2] = 1; deps[$2] = $5; if ($3 == "required" || $4 == "yes") seed[$2] = 1 }
		END {
			n = 0
			for (p in seed) { q[n++] = p; in_base[p] = 1 }
			for (i = 0; i < n; i++) {
				m = split(deps[q[i]], groups, /, */)
				for (g = 1; g <= m; g++) {
					k = split(groups[g], alts, / *[|] */)
					for (a = 1; a <= k; a++) {   # the first alternative installed
						d = alts[a]; sub(/^ +/, "", d); sub(/[ (:].*/, "", d)
						if (d != "" && (d in inst)) {
							if (!(d in in_base)) { in_base[d] = 1; q[n++] = d }
							break
						}
					}
				}
			}
			for (p in in_base) print p
		}' | sort >"$cache/base"
}

# --- what a binary links ---------------------------------------------------------
# $cache/libs.<binary>: "soname path package direct|via" per library ldd
# reports ("direct": the binary's own NEEDED, else what those link)
binary_libs() {
	local bin=$1 out soname path
	out=$cache/libs.$(basename "$1")
	[ -f "$out" ] && return 0
	if ! [ -x "$bin" ]; then
		fail "$bin: no such binary (make all builds it)"
		return 1
	fi
	local ldd_out needed owners
	local -a reals=()
	if ! ldd_out=$(ldd "$bin" 2>&1); then
		fail "ldd $bin failed: $ldd_out"
		return 1
	fi
	if grep -q 'not found' <<<"$ldd_out"; then
		fail "ldd $bin: $(grep 'not found' <<<"$ldd_out" | tr -s '\t ' ' ')"
		return 1
	fi
	needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	local -a paths=()
	mapfile -t paths < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
	# one dpkg -S for them all (it reads every package's file list): the
	# resolved file and the path as ldd spells it (usrmerge: a package owns
	# one spelling or the other)
	local real
	real=$(readlink -f "${paths[@]}")
	mapfile -t reals <<<"$real"
	owners=$(dpkg -S "${reals[@]}" "${paths[@]}" 2>/dev/null || true)
	awk -v needed="$needed" -v real="$real" -v owners="$owners" -v bin="$(basename "$bin")" '
		BEGIN {
			n = split(needed, a, "\n"); for (i = 1; i <= n; i++) direct[a[i]] = 1
			split(real, resolved, "\n")
			n = split(owners, a, "\n")
			for (i = 1; i <= n; i++) {   # "pkg:arch[, pkg2:arch]: /path"
				path = a[i]; sub(/.*: /, "", path)
				pkg = a[i]; sub(/[:,].*/, "", pkg)
				owner[path] = pkg
			}
		}
		$2 == "=>" && $3 ~ /^\// { lib($1, $3); next }
		$1 ~ /^\// { lib($1, $1) }
		function lib(soname, path) {
			k++
			pkg = (resolved[k] in owner) ? owner[resolved[k]] : owner[path]
			if (pkg == "") { print "?", soname, path; return }
			print soname, path, pkg, (soname in direct) ? "direct" : "via"
		}' <<<"$ldd_out" >"$out.new"
	while read -r soname path; do
		fail "$(basename "$bin") links $path ($soname), which no Debian package owns (dpkg -S)"
	done < <(sed -n 's/^? //p' "$out.new")
	grep -v '^? ' "$out.new" >"$out" || true
	rm -f "$out.new"
}

# SEC=the Section of package $1: dpkg's database, else apt's lists, else
# "unknown" (no subshell: it runs for every package of every case)
declare -A SECTIONS=()
section() {
	if [ ${#SECTIONS[@]} -eq 0 ]; then
		[ -f "$cache/sections" ] || dpkg-query -W -f '${Package} ${Section}\n' >"$cache/sections"
		local p s
		while read -r p s; do SECTIONS[$p]=$s; done <"$cache/sections"
	fi
	SEC=${SECTIONS[$1]:-}
	[ -n "$SEC" ] || SEC=$(apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Section: //p' | head -1) || true
	SEC=${SEC:-unknown}
}

# --- a Dockerfile, as instructions ----------------------------------------------
# "STAGE<TAB>INSTRUCTION<TAB>arguments", continuations joined, comments out
# (inside a continuation too, as Docker reads them); FROM lines give
# "STAGE<TAB>FROM<TAB>image<TAB>name".
parse_dockerfile() {
	awk '
	function emit(s,   instr, args, n, w, i, img, name) {
		sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s)
		if (s == "") return
		instr = toupper(s); sub(/[ \t].*/, "", instr)
		args = s; sub(/^[^ \t]+[ \t]*/, "", args)
		if (instr == "FROM") {
			stage++
			n = split(args, w, /[ \t]+/); img = ""; name = ""
			for (i = 1; i <= n; i++) {
				if (w[i] ~ /^--/) continue
				if (img == "") { img = w[i]; continue }
				if (toupper(w[i]) == "AS" && i < n) name = w[i + 1]
			}
			printf "%d\tFROM\t%s\t%s\n", stage, img, name
			return
		}
		printf "%d\t%s\t%s\n", stage, instr, args
	}
	BEGIN { stage = 0 }
	{ sub(/\r$/, "") }
	/^[ \t]*#/ { next }
	{
		line = $0
		cont = sub(/\\[ \t]*$/, "", line)
		buf = buf " " line
		if (!cont) { emit(buf); buf = "" }
	}
	END { emit(buf) }' "$1"
}

# the commands of a RUN, one per line (split at && || ; |), leading
# VAR=value assignments removed
run_commands() {
	local r=$1 c
	r=${r//&&/$'\n'} r=${r//||/$'\n'} r=${r//;/$'\n'} r=${r//|/$'\n'}
	while IFS= read -r c; do
		c=${c#"${c%%[![:space:]]*}"}
		while [[ $c =~ ^[A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*[[:space:]]+(.*)$ ]]; do
			c=${BASH_REMATCH[1]}
		done
		[ -n "$c" ] && echo "$c"
	done <<<"$r"
	return 0
}

# --- one image ------------------------------------------------------------------
check_image() {
	local root=$1 df=$2 bin=$3 who=$4 needs=$5 build_dir=$6
	local f=$root/$df
	if ! [ -f "$f" ]; then
		fail "$df: no such file"
		return 0
	fi
	local parsed
	parsed=$(parse_dockerfile "$f")
	local last
	last=$(awk -F'\t' '$2 == "FROM" { s = $1 } END { print s + 0 }' <<<"$parsed")
	if [ "$last" -lt 2 ]; then
		fail "$df: one stage: the image must be built in a build stage and run from a runtime stage"
		return 0
	fi

	local stage instr args img name
	local -A stage_name=() stage_img=() stage_of_name=()
	while IFS=$'\t' read -r stage instr img name; do
		stage_img[$stage]=$img
		stage_name[$stage]=$name
		[ -n "$name" ] && stage_of_name[$name]=$stage
	done < <(awk -F'\t' '$2 == "FROM"' <<<"$parsed")

	if ! [[ ${stage_img[$last]} =~ $RUNTIME_BASE_RE ]]; then
		fail "$df: the runtime stage is FROM ${stage_img[$last]}, not debian:12-slim (the libraries are checked against it)"
	fi

	# walk the instructions: make runs, apt-get installs, COPY, USER, ...
	local -A workdir=() built=() made_in=() ran_deps=() build_var=()
	local -a rt_pkgs=() copies=()
	local entrypoint="" user="" labels="" rt_args="" norec=1 rt_installs=0
	local cmd w t v targets
	while IFS=$'\t' read -r stage instr args; do
		[ "$instr" = FROM ] && continue
		case $instr in
		WORKDIR)
			if [[ $args == /* ]]; then workdir[$stage]=$args; else workdir[$stage]=${workdir[$stage]:-/}/$args; fi
			;;
		ARG) [ "$stage" = "$last" ] && rt_args+=" ${args%%=*}" ;;
		LABEL) [ "$stage" = "$last" ] && labels+=" $args" ;;
		USER) [ "$stage" = "$last" ] && user=$args ;;
		ENTRYPOINT) [ "$stage" = "$last" ] && entrypoint=$args ;;
		COPY) [ "$stage" = "$last" ] && copies+=("$args") ;;
		RUN)
			while IFS= read -r cmd; do
				read -ra w <<<"$cmd"
				case ${w[0]} in
				make | /usr/bin/make)
					if [ "$stage" = "$last" ]; then
						fail "$df: the runtime stage runs make ($cmd): it builds in the build stage only"
						continue
					fi
					targets=()
					local b=-
					for t in "${w[@]:1}"; do
						case $t in
						-j* | -l* | -s | --silent | --no-print-directory | -O* | --output-sync* | -k | --keep-going) ;;
						-*) fail "$df: \`$cmd\`: option $t: the check cannot tell what it changes in what CI proves" ;;
						BUILD=*) b=${t#BUILD=} ;;
						V=*) ;;
						*=*) fail "$df: \`$cmd\` sets ${t%%=*}, which make check does not: the image would not be the build CI proves" ;;
						*\$*) fail "$df: \`$cmd\`: target $t is a variable: the check cannot tell what it builds" ;;
						*) targets+=("$t") ;;
						esac
					done
					ci_facts "$b" || return 0
					local d
					d=$(ci_dir "$b")
					[ ${#targets[@]} -eq 0 ] && targets=("$(cat "$d/goal")")
					[ "$b" = - ] && b=$(cat "$d/build")
					build_var[$stage]=$b
					for t in "${targets[@]}"; do
						if ! grep -qxF -- "$t" "$d/targets"; then
							fail "$df: the build stage runs \`make $t\`, not a target \`make check\` builds (its recipe makes $(tr '\n' ' ' <"$d/named")and what they need)"
							continue
						fi
						[ "$t" = deps ] && ran_deps[$stage]=1
						# what it made: the target, and through phony ones what they build
						built[$stage]+=" $t $(awk -v t="$t:" '$1 == t { for (i = 2; i <= NF; i++) printf "%s ", $i }' "$d/rules")"
						made_in[$stage]=${workdir[$stage]:-/}
					done
					;;
				apt-get | apt)
					local k is_install=0
					for k in "${w[@]:1}"; do [ "$k" = install ] && is_install=1; done
					[ $is_install = 1 ] || continue
					[ "$stage" = "$last" ] || continue
					rt_installs=$((rt_installs + 1))
					[[ " ${w[*]} " == *" --no-install-recommends "* ]] || norec=0
					local after=0
					for k in "${w[@]:1}"; do
						[ "$k" = install ] && { after=1; continue; }
						[ $after = 1 ] && [[ $k != -* ]] && rt_pkgs+=("${k%%=*}")
					done
					;;
				esac
			done < <(run_commands "$args")
			;;
		esac
	done < <(awk -F'\t' '$2 != "FROM"' <<<"$parsed")

	# --- the build stage
	local bstage="" s
	for ((s = 1; s < last; s++)); do
		[ -n "${built[$s]:-}" ] || continue
		[[ ${stage_img[$s]} =~ $BUILD_BASE_RE ]] ||
			fail "$df: the build stage (${stage_name[$s]:-$s}) is FROM ${stage_img[$s]}, not Debian 12 (debian:12): the libraries it links are checked on Debian 12"
		[ -n "${ran_deps[$s]:-}" ] ||
			fail "$df: the build stage (${stage_name[$s]:-$s}) never runs \`make deps\` (the build dependencies CI installs)"
		bstage=$s
	done
	if [ -z "$bstage" ]; then
		fail "$df: no build stage runs make with a target \`make check\` builds"
	fi

	# --- the binary: built, copied, the entrypoint
	local copy_src="" copy_dst="" copy_from="" c cw
	for c in "${copies[@]}"; do
		read -ra cw <<<"$c"
		local from="" srcs=() dst
		for t in "${cw[@]}"; do
			case $t in
			--from=*) from=${t#--from=} ;;
			--*) ;;
			*) srcs+=("$t") ;;
			esac
		done
		[ -n "$from" ] || continue
		dst=${srcs[-1]}
		unset 'srcs[-1]'
		for t in "${srcs[@]}"; do
			if [ "$(basename "$t")" = "$bin" ]; then
				copy_src=$t copy_from=$from copy_dst=$dst
				[[ $dst == */ ]] && copy_dst=$dst$bin
			fi
		done
	done
	if [ -z "$copy_src" ]; then
		fail "$df: the runtime stage does not COPY --from the build stage a file named $bin"
	else
		[ "$copy_dst" = "$BIN_DIR/$bin" ] ||
			fail "$df: the binary is copied to $copy_dst, not $BIN_DIR/$bin (where the chart and docs expect it)"
		local fs=${stage_of_name[$copy_from]:-$copy_from}
		if [ -n "$bstage" ] && [ "$fs" = "$bstage" ]; then
			local bdir=${build_var[$bstage]} want
			if [[ $bdir == /* ]]; then want=$bdir/$bin; else want=${made_in[$bstage]%/}/$bdir/$bin; fi
			[ "$copy_src" = "$want" ] ||
				fail "$df: COPY takes $copy_src, but the build stage's make puts $bin at $want"
			[[ " ${built[$bstage]} " == *" $bdir/$bin "* ]] ||
				fail "$df: the build stage never builds $bdir/$bin (make $bdir/$bin, or all)"
		else
			fail "$df: the binary is copied from stage $copy_from, which is not the build stage that runs make"
		fi
	fi
	local ep
	if [[ $entrypoint != \[* ]]; then
		fail "$df: ENTRYPOINT must be the exec form [\"$BIN_DIR/$bin\"] (a shell form runs it under /bin/sh, which keeps SIGTERM from it)"
	elif ! ep=$(jq -er '.[0]' <<<"$entrypoint" 2>/dev/null); then
		fail "$df: ENTRYPOINT $entrypoint is not a JSON array"
	elif [ "$ep" != "${copy_dst:-$BIN_DIR/$bin}" ]; then
		fail "$df: ENTRYPOINT runs $ep, but the binary is copied to ${copy_dst:-nowhere}"
	fi

	# --- the runtime packages
	[ "$rt_installs" -gt 0 ] || fail "$df: the runtime stage installs no package with apt-get install"
	[ "$norec" = 1 ] ||
		fail "$df: the runtime stage's apt-get install lacks --no-install-recommends: recommended packages are not runtime libraries"
	local p sec
	local -A want_pkg=() listed=()
	for p in "${rt_pkgs[@]}"; do
		listed[$p]=1
		if [[ $p == *-dev || $p == *-dbg ]]; then
			fail "$df: the runtime stage installs $p: a development package (-dev/-dbg) has no place in it"
			continue
		fi
		if [[ $p =~ $TOOLCHAIN_RE ]]; then
			fail "$df: the runtime stage installs $p: a compiler or build tool has no place in it"
			continue
		fi
		section "$p"
		sec=$SEC
		case $sec in
		devel | libdevel | */devel | */libdevel)
			fail "$df: the runtime stage installs $p: a compiler or development package (Section $sec)"
			;;
		esac
	done
	binary_libs "$build_dir/$bin" || return 0
	local soname path pkg how direct="" via="" base_cov="" missing=0
	while read -r soname path pkg how; do
		want_pkg[$pkg]=1
		if [ -n "${listed[$pkg]:-}" ]; then
			if [ "$how" = direct ]; then direct+=" $pkg($soname)"; else via+=" $pkg($soname)"; fi
		elif [ -n "${BASE[$pkg]:-}" ]; then
			base_cov+=" $soname"
		else
			fail "$df: $bin links $soname ($path, package $pkg, $how), which debian:12-slim lacks and the runtime stage does not install: add $pkg to its apt-get install"
			missing=1
		fi
	done <"$cache/libs.$bin"
	local extra=""
	for p in "${rt_pkgs[@]}"; do
		[ -n "${want_pkg[$p]:-}" ] && continue
		section "$p"
		sec=$SEC
		case $sec in
		libs | */libs)
			fail "$df: the runtime stage installs $p, a library package (Section $sec) that provides none of the libraries $bin links (ldd): only the runtime libraries belong there"
			;;
		*) extra+=" $p" ;;
		esac
	done
	if [ "$needs" != - ]; then
		for p in ${needs//,/ }; do
			[ -n "${listed[$p]:-}" ] || fail "$df: the runtime stage does not install $p (the chart's helm test hook runs it in this image)"
		done
	fi

	# --- user, labels
	local uid=${user%%:*}
	if [ "$who" = nonroot ]; then
		if [ -z "$user" ]; then
			fail "$df: no USER in the runtime stage: it would run as root; the collector runs as 65532"
		elif ! [[ $uid =~ ^[0-9]+$ ]]; then
			fail "$df: USER $user: not numeric, so Kubernetes' runAsNonRoot cannot verify it is not root; use USER 65532:65532"
		elif [ "$uid" = 0 ]; then
			fail "$df: USER $user is root: the collector runs non-root (65532)"
		fi
	fi
	local key val
	for key in title description source licenses version; do
		val=$(grep -oE "org\.opencontainers\.image\.$key=(\"[^\"]*\"|[^ \"]+)" <<<"$labels" | head -1 | sed -E 's/^[^=]*=//; s/^"//; s/"$//') || true
		if [ -z "$val" ]; then
			fail "$df: no LABEL org.opencontainers.image.$key in the runtime stage"
		elif [ $key = licenses ] && [ "$val" != "$LICENSE" ]; then
			fail "$df: org.opencontainers.image.licenses is $val, not $LICENSE"
		elif [ $key = version ]; then
			v=$(sed -nE 's/^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/\1/p' <<<"$val")
			if [ -z "$v" ] || [[ " $rt_args " != *" $v "* ]]; then
				fail "$df: org.opencontainers.image.version is \"$val\", not a build ARG of the runtime stage (--build-arg VERSION=...)"
			fi
		fi
	done

	[ $missing = 1 ] && return 0
	say "$df: build: make deps and $bin$([ -n "$bstage" ] && echo ", targets make check builds"); runtime: debian:12-slim, $bin at $BIN_DIR/$bin (the entrypoint), user ${user:-root}"
	say "  libraries it links, packages installed:$direct"
	[ -n "$via" ] && say "  libraries those link, packages installed:$via"
	say "  already in debian:12-slim:$base_cov"
	[ -n "$extra" ] && say "  also installed, not libraries:$extra"
	return 0
}

check() {
	local build=$1 root=${2:-$here} img df bin who needs
	[ -d "$build" ] || {
		echo "dockerfile-check: $build: no such build directory (make all first)" >&2
		exit 1
	}
	init_cache
	# shellcheck disable=SC1091
	if ! (. /etc/os-release && [ "$ID" = debian ] && [ "$VERSION_ID" = 12 ]); then
		echo "dockerfile-check: the images are Debian 12: run this on Debian 12, where ldd and dpkg answer for them" >&2
		exit 1
	fi
	base_packages
	local p
	while read -r p; do BASE[$p]=1; done <"$cache/base"
	for img in "${IMAGES[@]}"; do
		read -r df bin who needs <<<"$img"
		check_image "$root" "$df" "$bin" "$who" "$needs" "$build"
	done
	if [ $errors -gt 0 ]; then
		echo "dockerfile-check: $errors failure(s)" >&2
		exit 1
	fi
	say "Dockerfiles: the build stages run what make check builds; the runtime stages install every library the binaries link (debian:12-slim: ${#BASE[@]} packages)"
}

# --- self-test: every kind of breakage must fail the check -------------------------
self_test() {
	local build=$1 self=$here/scripts/dockerfile-check.sh tmp out n=0 bad=0
	case $build in /*) ;; *) build=$PWD/$build ;; esac
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	export DOCKERFILE_CHECK_CACHE=$tmp/cache
	mkdir -p "$DOCKERFILE_CHECK_CACHE"

	fresh() {
		rm -rf "$tmp/root"
		mkdir -p "$tmp/root"
		cp "$here/Dockerfile.sidecar" "$here/Dockerfile.collector" "$tmp/root/"
	}
	# edit FILE SED: the copy must change, or the case tests nothing
	edit() {
		local f=$tmp/root/$1
		cp "$f" "$f.orig"
		sed -i -E "$2" "$f"
		if cmp -s "$f" "$f.orig"; then
			echo "self-test: the edit '$2' changed nothing in $1: the case tests nothing" >&2
			exit 1
		fi
	}
	# expect NAME PATTERN: the check on the copies fails and names PATTERN
	expect() {
		n=$((n + 1))
		if out=$("$self" check "$build" "$tmp/root" 2>&1); then
			echo "self-test: $1: the check passed; it must fail" >&2
			bad=$((bad + 1))
		elif ! grep -q -- "$2" <<<"$out"; then
			echo "self-test: $1: the check failed without naming \"$2\":" >&2
			echo "$out" >&2
			bad=$((bad + 1))
		else
			say "fails as it must: $1: $(grep -m1 -- "$2" <<<"$out" | sed 's/^dockerfile-check: //')"
		fi
	}

	fresh
	if ! out=$("$self" check "$build" "$tmp/root" 2>&1); then
		echo "self-test: the check fails on unchanged copies:" >&2
		echo "$out" >&2
		exit 1
	fi

	fresh; edit Dockerfile.sidecar 's/(\t)libbpf1 /\1/'
	expect "a library the sidecar links, its package missing" "links libbpf.so.1 .*add libbpf1"
	fresh; edit Dockerfile.sidecar 's/ libelf1 / /'
	expect "a library libbpf links, its package missing" "links libelf.so.1 .*add libelf1"
	fresh; edit Dockerfile.collector 's/ libkrb5support0 / /'
	expect "a library libcurl links, its package missing" "links libkrb5support.so.0 .*add libkrb5support0"
	fresh; edit Dockerfile.sidecar 's/^(\t+)(libbpf1 )/\1libbpf-dev \2/'
	expect "a -dev package in the runtime stage" "installs libbpf-dev: a development package"
	fresh; edit Dockerfile.collector 's/ca-certificates curl /ca-certificates curl gcc /'
	expect "a compiler in the runtime stage" "installs gcc: a compiler or build tool"
	fresh; edit Dockerfile.collector 's/ca-certificates curl /ca-certificates curl gdb /'
	expect "a development tool known by its Section" "installs gdb: a compiler or development package (Section devel)"
	fresh; edit Dockerfile.sidecar 's|make -j"\$\(nproc\)" build/podflow-sidecar|make -j"$(nproc)" bench-sidecar build/podflow-sidecar|'
	expect "a build stage running a target CI does not build" "runs \`make bench-sidecar\`, not a target \`make check\` builds"
	fresh; edit Dockerfile.collector 's|make -j"\$\(nproc\)" build/podflow-collector|make -j"$(nproc)" build/podflow-collector-static|'
	expect "a build stage building a binary make check does not" "runs \`make build/podflow-collector-static\`, not a target"
	fresh; edit Dockerfile.collector 's|make -j"\$\(nproc\)" |make -j"$(nproc)" CFLAGS=-O0 |'
	expect "a build stage changing what CI builds" "sets CFLAGS, which make check does not"
	fresh; edit Dockerfile.sidecar 's|^RUN make deps$|RUN true|'
	expect "a build stage that skips make deps" "never runs \`make deps\`"
	fresh; edit Dockerfile.sidecar 's|^(\t+)(libbpf1 )|\1libjansson4 \2|'
	expect "a library package the binary does not link" "installs libjansson4, a library package .* provides none"
	fresh; edit Dockerfile.collector 's/apt-get install -y -q --no-install-recommends/apt-get install -y -q/'
	expect "recommended packages pulled in" "lacks --no-install-recommends"
	fresh; edit Dockerfile.collector 's/ca-certificates curl /ca-certificates /'
	expect "the collector without curl" "does not install curl"
	fresh; edit Dockerfile.collector 's/^USER 65532:65532$/USER root/'
	expect "the collector as root" "USER root: not numeric"
	fresh; edit Dockerfile.collector 's/^USER 65532:65532$/USER 0:0/'
	expect "the collector as uid 0" "USER 0:0 is root"
	fresh; edit Dockerfile.collector '/^USER /d'
	expect "the collector with no USER" "no USER in the runtime stage"
	fresh; edit Dockerfile.collector 's|^ENTRYPOINT .*|ENTRYPOINT ["/usr/bin/podflow-collector"]|'
	expect "an entrypoint that is not the copied binary" "ENTRYPOINT runs /usr/bin/podflow-collector, but the binary is copied to /usr/local/bin/podflow-collector"
	fresh; edit Dockerfile.sidecar 's|^(COPY --from=build )/src/build/|\1/src/out/|'
	expect "a COPY of a file the build did not make" "COPY takes /src/out/podflow-sidecar"
	fresh; edit Dockerfile.sidecar 's|^ENTRYPOINT .*|ENTRYPOINT /usr/local/bin/podflow-sidecar|'
	expect "a shell-form entrypoint" "ENTRYPOINT must be the exec form"
	fresh; edit Dockerfile.sidecar 's|^FROM debian:12-slim$|FROM debian:12|'
	expect "a runtime stage not on debian:12-slim" "not debian:12-slim"
	fresh; edit Dockerfile.collector 's/licenses="BSD-2-Clause"/licenses="MIT"/'
	expect "a wrong license label" "licenses is MIT, not BSD-2-Clause"
	fresh; edit Dockerfile.sidecar 's/version="\$\{VERSION\}"/version="1.0"/'
	expect "a version label not from a build ARG" "version is \"1.0\", not a build ARG"

	if [ $bad -gt 0 ]; then
		echo "self-test: $bad of $n cases not caught" >&2
		exit 1
	fi
	say "self-test: all $n broken Dockerfiles fail the check"
}

case ${1:-} in
check)
	if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
	check "$2" "${3:-}"
	;;
self-test)
	[ $# -eq 2 ] || usage
	self_test "$2"
	;;
*) usage ;;
esac
