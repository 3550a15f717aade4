#!/bin/sh
# Issue 7: one `healthcode serve` against several, all on one PostgreSQL:
# wrk on GET /api/v1/me/code (10,000 signed-in residents), two wrk
# processes of 32 connections each, against one process, then against two
# (one wrk each), in the same run. Needs a PostgreSQL at $PG (default the local one).
#   scripts/bench-processes.sh
set -eu
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-hcprocs}
N=${N:-10000}
DURATION=${DURATION:-20s}
DATA=/tmp/hc-procs
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
go build -o /tmp/hc-procs-bin ./cmd/healthcode
if [ ! -s "$DATA/sessions.txt" ]; then
	psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	rm -rf "$DATA" && mkdir -p "$DATA"
	/tmp/hc-procs-bin loadgen --data "$DATA" --db "$PG/$DB" --residents "$N" --venues 10 --days 1 --checkins-per-day 0 \
		--sessions "$N" --sessions-file "$DATA/sessions.txt" 2>/dev/null
fi
serve() { /tmp/hc-procs-bin serve --data "$DATA" --db "$PG/$DB" --addr "127.0.0.1:$1" --log-level warn >/dev/null 2>&1 & echo $!; }
ready() { for i in $(seq 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return; sleep 0.1; done; }
load() { wrk -t1 -c"$2" -d"$DURATION" --latency -s scripts/bench/tokens.lua "http://127.0.0.1:$1/api/v1/me/code" -- "$DATA/sessions.txt"; }

# The same load generator both times: two wrk processes of 32 connections.
echo "== one process, two wrk of 32 connections"
P1=$(serve 18091); ready 18091
load 18091 32 >/dev/null & load 18091 32 >/dev/null; wait # warm-up
load 18091 32 > /tmp/hc-procs-1.txt & load 18091 32 > /tmp/hc-procs-2.txt; wait
grep -E "Requests/sec|99%" /tmp/hc-procs-1.txt /tmp/hc-procs-2.txt
kill $P1; wait $P1 2>/dev/null || true

echo "== two processes, 32 connections each"
P1=$(serve 18091); P2=$(serve 18092); ready 18091; ready 18092
load 18091 32 >/dev/null & load 18092 32 >/dev/null; wait
load 18091 32 > /tmp/hc-procs-1.txt & load 18092 32 > /tmp/hc-procs-2.txt; wait
grep -E "Requests/sec|99%" /tmp/hc-procs-1.txt /tmp/hc-procs-2.txt
kill $P1 $P2
