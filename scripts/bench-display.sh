#!/bin/sh
# The display-path benchmark of BENCHMARKS.md (issue 7): wrk with 64
# connections on loopback against GET /api/v1/me/code, signed in as N
# different residents, and against a trivial Go handler in the same run;
# and against the same handler answering with a saved display (the same
# bytes and header lines, no work), the most a display could get. Each run
# also prints the server's own CPU time a request, steadier than its rate.
#   scripts/bench-display.sh            # N=10000 residents, 20 s per run
#   N=100000 DURATION=30s ROUNDS=5 scripts/bench-display.sh
set -eu
cd "$(dirname "$0")/.."
N=${N:-10000}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
DATA=${DATA:-/tmp/hc-display-$N}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
go build -o /tmp/hc-bench ./cmd/healthcode
go build -o /tmp/hc-trivial ./scripts/bench/trivial
if [ ! -s "$DATA/sessions.txt" ]; then
	rm -rf "$DATA" && mkdir -p "$DATA"
	/tmp/hc-bench loadgen --data "$DATA" --residents "$N" --venues 10 --days 1 --checkins-per-day 0 \
		--sessions "$N" --sessions-file "$DATA/sessions.txt" 2>/dev/null
fi
/tmp/hc-bench serve --data "$DATA" --addr 127.0.0.1:18080 --log-level warn >"$DATA/serve.log" 2>&1 &
SERVE=$!
/tmp/hc-trivial --addr 127.0.0.1:18081 &
TRIVIAL=$!
SAME=
trap 'kill $SERVE $TRIVIAL $SAME 2>/dev/null || true' EXIT
for i in $(seq 100); do
	curl -fs http://127.0.0.1:18080/readyz >/dev/null 2>&1 && curl -fs http://127.0.0.1:18081/ >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS -H "Authorization: Bearer $(head -1 "$DATA/sessions.txt")" -o "$DATA/display.json" http://127.0.0.1:18080/api/v1/me/code
/tmp/hc-trivial --addr 127.0.0.1:18082 --as-display "$DATA/display.json" &
SAME=$!
for i in $(seq 100); do curl -fs http://127.0.0.1:18082/ >/dev/null 2>&1 && break; sleep 0.1; done
# The warm-up shows every resident's code at least once, so that the rounds
# measure a filled cache: the first display of a resident reads the
# database and signs (about 8,000 first displays a second here).
WARMUP=${WARMUP:-$((N / 4000 > 5 ? N / 4000 : 5))s}
echo "== warm-up ($WARMUP)"
wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s scripts/bench/tokens.lua http://127.0.0.1:18080/api/v1/me/code -- "$DATA/sessions.txt" | grep Requests/sec
# The three servers get the same requests from the same wrk script (a bearer
# token a request), so the load generator's own cost is the same for all
# and the ratio is the servers'. Runs alternate, ROUNDS times, so that other
# work on a shared machine falls on all alike.
RESULTS=$(mktemp)
TICK=$(getconf CLK_TCK)
# cpu PID: the CPU time the process has used, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run ROUND NAME URL PID: one wrk run, its rate and latencies shown with the
# server's own CPU time a request (less noisy than the rate on a shared
# machine: what the other core does shows less in it), and both kept in
# $RESULTS.
run() {
	c0=$(cpu "$4")
	out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/bench/tokens.lua "$3" -- "$DATA/sessions.txt")
	c1=$(cpu "$4")
	echo "$out" | awk -v r="$1" -v n="$2" -v f="$RESULTS" -v ticks=$((c1 - c0)) -v tick="$TICK" '
		/  50%|  99%/{print} / requests in /{reqs=$1}
		/Requests\/sec/{us=ticks/tick*1e6/reqs; print; printf "server CPU: %.1f us a request\n", us; print r, n, $2, us >>f}'
}
for round in $(seq "${ROUNDS:-3}"); do
	echo "== round $round: healthcode GET /api/v1/me/code ($N residents)"
	run "$round" hc http://127.0.0.1:18080/api/v1/me/code $SERVE
	echo "== round $round: trivial Go handler (same requests)"
	run "$round" trivial http://127.0.0.1:18081/ $TRIVIAL
	echo "== round $round: the trivial handler answering with a saved display (same requests)"
	run "$round" same http://127.0.0.1:18082/ $SAME
done
echo "== each round, sorted by the first ratio; the middle line is the median"
echo "healthcode/trivial  saved-display/trivial  healthcode/saved-display  (healthcode, trivial, saved display /s; server CPU us a request)"
awk '$2=="hc"{hc[$1]=$3; hcu[$1]=$4} $2=="trivial"{tr[$1]=$3; tru[$1]=$4} $2=="same"{sa[$1]=$3; sau[$1]=$4}
	END{for (r in hc) printf "%.3f  %.3f  %.3f  (%.0f, %.0f, %.0f /s; %.1f, %.1f, %.1f us)\n", hc[r]/tr[r], sa[r]/tr[r], hc[r]/sa[r],
		hc[r], tr[r], sa[r], hcu[r], tru[r], sau[r]}' "$RESULTS" | sort -n
rm -f "$RESULTS"
echo "== trivial Go handler, plain requests (no script, no token)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency http://127.0.0.1:18081/ | grep -E 'Requests/sec|  50%|  99%'
