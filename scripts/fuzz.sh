#!/usr/bin/env bash
# Runs every fuzz target in the module for a short while (FUZZTIME, default
# 4s each). The checked-in corpora (testdata/fuzz) already run as plain
# tests in `go test`; this explores beyond them. A failing input is written
# to the package's testdata/fuzz, where it becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-4s}

found=0
while IFS= read -r file; do
	pkg=./$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		found=$((found + 1))
		echo "fuzz: $pkg $target for $fuzztime"
		"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg"
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' internal cmd 2>/dev/null | sort)

if ((found == 0)); then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
