#!/bin/sh
# The write half of BENCHMARKS.md's overload measurement (issue 7): check-in
# batches (100 check-ins each, every one new) offered by an open-loop
# generator at three times what the server can store, against SQLite.
# Reports what was served and shed, the served p99, the server's peak RSS,
# and whether every acknowledged check-in is stored.
#   scripts/bench-overload-writes.sh             # 20 s at 3x
#   FACTOR=5 DURATION=30s scripts/bench-overload-writes.sh
set -eu
cd "$(dirname "$0")/.."
FACTOR=${FACTOR:-3}
DURATION=${DURATION:-20s}
DATA=$(mktemp -d /tmp/hc-overload.XXXXXX)
PORT=18087
go build -o /tmp/hc-bench ./cmd/healthcode
go build -o /tmp/openloop ./scripts/bench/openloop
/tmp/hc-bench serve --data "$DATA" --addr 127.0.0.1:$PORT --log-level warn >"$DATA/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$DATA"' EXIT
for i in $(seq 100); do curl -fs http://127.0.0.1:$PORT/readyz >/dev/null 2>&1 && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT
VENUE_TOKEN=$(/tmp/hc-bench token create --data "$DATA" --role venue --name "bench venues")
VENUE=$(curl -fs -H "Authorization: Bearer $VENUE_TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"Wulin Square station","type":"transit","region":"330106","address":"1 Wulin Square"}' $URL/api/v1/venues | sed 's/.*"id":\([0-9]*\).*/\1/')
CP=$(curl -fs -H "Authorization: Bearer $VENUE_TOKEN" -H 'Content-Type: application/json' -d '{"name":"gate"}' \
	$URL/api/v1/venues/$VENUE/checkpoint-tokens | sed 's/.*"token":"\([^"]*\)".*/\1/')
AT=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
python3 - "$VENUE" "$AT" >"$DATA/batch.json" <<'PY'
import json, sys
venue, at = int(sys.argv[1]), sys.argv[2]
items = [{"id": "olap-{n}-%02d" % i, "subject": "S{n}x%02d" % i, "issuer": "330100", "venue_id": venue,
          "at": at, "decision": "admit", "color": "green", "mode": "checkpoint"} for i in range(100)]
print(json.dumps({"checkins": items}))
PY
echo "== capacity: 8 uploaders sending their next batch as soon as the last is answered, for 10 s"
# (openloop with 8 workers and a rate it cannot reach is a closed loop of 8)
/tmp/openloop --url $URL/api/v1/checkins --method POST --body-file "$DATA/batch.json" --token "$CP" --rate 5000 --workers 8 --duration 10s --answers "$DATA/answers1.txt" | tee "$DATA/capacity.txt"
CAPACITY=$(awk '$1=="200"{gsub(/[(\/s)]/,"",$3); print $3}' "$DATA/capacity.txt")
RATE=$(( ${CAPACITY%.*} * FACTOR ))
echo "== ${FACTOR}x: $RATE batches/s for $DURATION (capacity $CAPACITY/s)"
# Numbers go on from the capacity run's: every batch offered is new.
sed 's/olap-{n}/olap2-{n}/g; s/S{n}x/T{n}x/g' "$DATA/batch.json" >"$DATA/batch2.json"
/tmp/openloop --url $URL/api/v1/checkins --method POST --body-file "$DATA/batch2.json" --token "$CP" --rate "$RATE" --duration "$DURATION" --sources 50 --answers "$DATA/answers2.txt" | tee "$DATA/overload.txt"
echo "peak RSS: $(awk '/VmHWM/{print $2/1024 " MB"}' /proc/$SERVE/status); goroutines now: $(curl -fs $URL/metrics | awk '/^go_goroutines /{print $2}')"
ACKED=$(awk '$1=="200"{print $2}' "$DATA/capacity.txt" "$DATA/overload.txt" | paste -sd+ | bc)
sleep 1
STORED=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from checkins where id like 'olap%'\").fetchone()[0])" "$DATA/healthcode.db")
echo "acknowledged batches: $ACKED ($((ACKED * 100)) check-ins); check-ins stored: $STORED"
[ "$STORED" -ge $((ACKED * 100)) ] || { echo "ACKNOWLEDGED CHECK-INS MISSING" >&2; exit 1; }
