#!/usr/bin/env bash
# Runs every fuzz target of healthcode for DURATION each, one after another.
#
#   ./scripts/fuzz.sh                  # 10 minutes per target
#   ./scripts/fuzz.sh 3s               # a smoke run, as scripts/test.sh does
#   ./scripts/fuzz.sh 2m 'Verify|COSE' # only the targets whose name matches (grep -E)
#
# A target is a `func FuzzXxx(f *testing.F)` in a *_fuzz_test.go file; they are found by
# grepping for them, so a new one is picked up without editing this script. Each runs as
#
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime DURATION -parallel 1 ./its/package
#
# A failing input is saved by go test in the package's testdata/fuzz/FuzzXxx/ (commit it as a
# regression seed once the decoder is fixed). The script runs every target even when one fails,
# prints a summary (time, executions, result) and fails if any target failed.
#
# Environment: FUZZ_PARALLEL, the number of fuzzing workers (default 1: the machine is shared);
# FUZZ_MINIMIZE_TIME, how long go test may spend minimizing each new input (default 10s; go's
# default of 60s starves the fuzzing of the stateful and image targets).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
filter=${2:-}
parallel=${FUZZ_PARALLEL:-1}
minimize=${FUZZ_MINIMIZE_TIME:-10s}

if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH; else
    echo "Go is not installed (see go.mod for the version)" >&2; exit 1; fi
fi

# "dir target" per line, sorted.
targets=$(find . -name '*_fuzz_test.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 |
  xargs -0 -r grep -HoE '^func Fuzz[A-Za-z0-9_]*\(' |
  sed -E 's#^(.*)/[^/]*_fuzz_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort)
if [ -n "$filter" ]; then
  targets=$(printf '%s\n' "$targets" | awk -v f="$filter" '$2 ~ f')
fi
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found${filter:+ matching $filter}" >&2
  exit 1
fi

summary=()
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while read -r dir name; do
  printf '==> fuzz %s %s for %s\n' "$dir" "$name" "$duration"
  start=$SECONDS
  status=ok
  corpus="$dir/testdata/fuzz/$name"
  before=$(find "$corpus" -type f 2>/dev/null | wc -l || true)
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize" \
      -parallel "$parallel" "$dir" >"$out" 2>&1; then
    # Go 1.26's fuzz coordinator can report the end of -fuzztime itself as a
    # failure, "context deadline exceeded" with no input written
    # (go.dev/issue/75804, fixed in Go 1.27). That alone is not a finding:
    # any other failure, or a new failing input, is.
    after=$(find "$corpus" -type f 2>/dev/null | wc -l || true)
    if [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$out" &&
       [ "$(grep -c -- '^--- FAIL' "$out")" -eq 1 ] && ! grep -qE 'panic:|Failing input written|_test\.go:[0-9]+:' "$out"; then
      status=deadline
    else
      status=FAILED
      failed=1
    fi
    cat "$out"
  fi
  execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+' || true)
  summary+=("$(printf '%-8s %-22s %-24s %5ss %12s execs' "$status" "$name" "$dir" "$((SECONDS - start))" "${execs:-?}")")
done <<<"$targets"

printf '==> fuzz summary (%s per target; "deadline": go.dev/issue/75804 at the end of -fuzztime, no input found)\n' "$duration"
printf '%s\n' "${summary[@]}"
exit "$failed"
