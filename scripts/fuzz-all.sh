#!/bin/sh
# fuzz-all.sh — run every Go fuzz target of the module for a fixed budget.
#
#   scripts/fuzz-all.sh [BUDGET] [PACKAGE...]
#
# BUDGET is a -fuzztime value (default 60s; FUZZTIME in the environment
# overrides the default): a duration (60s) or an execution count (500x, what
# CI uses: a count has no wall-clock deadline, see below). With no
# packages, every package of the module is searched (go test -list).
# FUZZPARALLEL sets -parallel (default 1: the machine is shared).
#
# Every target runs even when an earlier one fails. A crasher found by the
# fuzzer is written by go test to PKG/testdata/fuzz/FuzzXxx/<hash>; the script
# copies each new one to $OUT/crashers/ (default $TMPDIR/netcard-fuzz) and lists it at
# the end. Commit the input into the seed corpus once the bug is fixed.
# Exit status: 0 when no target failed, 1 otherwise.
#
# Go 1.26's fuzz coordinator can end a duration-budget run with a bare
# "context deadline exceeded" and no crasher (golang/go#75804, fixed in Go
# 1.27): such a run is reported as "flake" and not counted as a failure; any
# run that writes a crasher, or fails any other way, is.
set -u
cd "$(dirname "$0")/.." || exit 2

budget=${1:-${FUZZTIME:-60s}}
[ $# -gt 0 ] && shift
parallel=${FUZZPARALLEL:-1}
# FUZZMINIMIZE bounds the minimisation of each new interesting input (go
# test's default is 60 s per input, which made a 500-execution smoke run of
# FuzzVJ or FuzzIPV6CP last minutes).
minimize=${FUZZMINIMIZE:-20x}
out=${OUT:-${TMPDIR:-/tmp}/netcard-fuzz}
mkdir -p "$out/crashers" "$out/logs"

if [ $# -gt 0 ]; then
	pkgs="$*"
else
	pkgs=$(go list ./...) || exit 2
fi

# Enumerate the targets: "pkg target" per line.
list="$out/targets.txt"
: >"$list"
listfail=0
for p in $pkgs; do
	if ! go test -list '^Fuzz' "$p" >"$out/list.tmp" 2>&1; then
		echo "fuzz-all: cannot list $p (does it build?):" >&2
		sed 's/^/    /' "$out/list.tmp" | head -20 >&2
		listfail=$((listfail + 1))
		continue
	fi
	grep '^Fuzz' "$out/list.tmp" | while read -r t; do
		echo "$p $t" >>"$list"
	done
done
rm -f "$out/list.tmp"
total=$(wc -l <"$list")
echo "fuzz-all: $total targets, $budget each, -parallel=$parallel"

fails=$listfail
n=0
summary="$out/summary.txt"
: >"$summary"
while read -r p t; do
	n=$((n + 1))
	dir=$(go list -f '{{.Dir}}' "$p")
	before=$(ls "$dir/testdata/fuzz/$t" 2>/dev/null | sort)
	log="$out/logs/$(echo "$p" | tr / _)_$t.log"
	start=$(date +%s)
	if go test "$p" -run '^$' -fuzz "^$t\$" -fuzztime "$budget" -fuzzminimizetime "$minimize" -parallel "$parallel" >"$log" 2>&1; then
		res=ok
	else
		res=FAIL
	fi
	after=$(ls "$dir/testdata/fuzz/$t" 2>/dev/null | sort)
	new=$(printf '%s\n%s\n' "$before" "$after" | sort | uniq -u)
	if [ "$res" = FAIL ] && [ -z "$new" ] && grep -q '^    context deadline exceeded$' "$log" &&
		[ "$(grep -c -- '--- FAIL' "$log")" -eq 1 ]; then
		res=flake
	fi
	[ "$res" = FAIL ] && fails=$((fails + 1))
	secs=$(($(date +%s) - start))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	line=$(printf '%-4s %-22s %-30s %4ss execs=%s' "$res" "$t" "$p" "$secs" "${execs:-?}")
	echo "[$n/$total] $line"
	echo "$line" >>"$summary"
	if [ "$res" = FAIL ]; then
		# The failure itself, in the output a CI run keeps: the crasher file stays on that machine.
		grep -v '^fuzz: elapsed' "$log" | head -40 | sed 's/^/     | /'
	fi
	for f in $new; do
		cp "$dir/testdata/fuzz/$t/$f" "$out/crashers/$(echo "$p" | tr / _)_${t}_$f"
		echo "     crasher: $dir/testdata/fuzz/$t/$f (copied to $out/crashers/)"
		echo "     crasher: $dir/testdata/fuzz/$t/$f" >>"$summary"
		# its content, cut to 2,000 bytes of go test's corpus encoding (quoted strings)
		head -c 2000 "$dir/testdata/fuzz/$t/$f" | sed 's/^/     > /'
		echo
	done
done <"$list"

echo "fuzz-all: $fails failures ($listfail packages did not build) of $total targets; logs in $out/logs, summary in $summary"
[ "$fails" -eq 0 ]
