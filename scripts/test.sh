#!/usr/bin/env bash
# Runs every check and test of healthcode, installing what the tests need.
#
#   ./scripts/test.sh            # gofmt, go vet, staticcheck, all tests on SQLite and PostgreSQL
#
# The browser tests need chromium: it is installed with apt-get when missing
# (with a CJK font and poppler-utils), and HEALTHCODE_REQUIRE_BROWSER=1 makes its
# absence a failure. Screenshots of every page go to HEALTHCODE_SCREENSHOTS.
#
# PostgreSQL: HEALTHCODE_TEST_POSTGRES (a postgres:// URL) when set; else the
# server on 127.0.0.1:5432 when it answers; else Debian's postgresql is
# installed with apt-get and a throw-away cluster is started on loopback and
# removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && echo sudo || { echo "need root to install $1" >&2; exit 1; }
  fi
}

apt_install() {
  local sudo; sudo=$(need_root "$*")
  if [ -z "${APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH; else
    echo "Go is not installed (see go.mod for the version)" >&2; exit 1; fi
fi

# --- PostgreSQL -------------------------------------------------------------
PGTMP=""
cleanup() {
  if [ -n "$PGTMP" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
  fi
}
trap cleanup EXIT

pg_answers() { # url
  command -v psql >/dev/null && timeout 5 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

if [ -z "${HEALTHCODE_TEST_POSTGRES:-}" ]; then
  local_url="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
  if pg_answers "$local_url"; then
    export HEALTHCODE_TEST_POSTGRES="$local_url"
  else
    log "no PostgreSQL configured or answering on 127.0.0.1:5432: starting a throw-away one"
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      log "installing postgresql with apt-get"
      apt_install postgresql
    fi
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    PGTMP=$(mktemp -d /tmp/healthcode-pg.XXXXXX)
    chown postgres "$PGTMP"
    port=$(( 20000 + RANDOM % 20000 ))
    runuser -u postgres -- "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PGTMP -c fsync=off" start >/dev/null
    runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
    export HEALTHCODE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
  fi
fi
log "PostgreSQL for tests: ${HEALTHCODE_TEST_POSTGRES%%\?*}"
export HEALTHCODE_REQUIRE_POSTGRES=1 # the store suite fails instead of skipping PostgreSQL

# --- Chromium for the browser tests ---------------------------------------------
# The browser tests (cmd/healthcode/browser_test.go) drive Debian's chromium;
# with HEALTHCODE_REQUIRE_BROWSER set they fail instead of skipping when it is
# missing. fonts-droid-fallback gives printed paper codes their Chinese text and
# poppler-utils lets the PDF test read the printed QR codes back.
browser_pkgs=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || browser_pkgs+=(chromium)
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || browser_pkgs+=(fonts-droid-fallback)
command -v pdftoppm >/dev/null || browser_pkgs+=(poppler-utils)
if [ ${#browser_pkgs[@]} -gt 0 ]; then
  log "installing ${browser_pkgs[*]} with apt-get"
  apt_install "${browser_pkgs[@]}"
fi
export HEALTHCODE_REQUIRE_BROWSER=1
export HEALTHCODE_SCREENSHOTS="${HEALTHCODE_SCREENSHOTS:-${TMPDIR:-/tmp}/healthcode-screenshots}"
log "browser test screenshots go to $HEALTHCODE_SCREENSHOTS"

# --- Static checks ----------------------------------------------------------
log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
log "go vet"
go vet ./...
log "staticcheck"
go tool staticcheck ./...

# --- Tests ------------------------------------------------------------------
log "go test"
go test -count=1 -timeout 20m ./...

# --- Fuzzing (brief) --------------------------------------------------------
# Every fuzz target (func FuzzXxx in a *_fuzz_test.go file) for a few seconds, so
# each is exercised beyond its seed corpus, which go test above already replays.
# The long runs are separate: ./scripts/fuzz.sh [DURATION] (10 minutes per target).
log "fuzz (${HEALTHCODE_FUZZ_TIME:-3s} per target)"
./scripts/fuzz.sh "${HEALTHCODE_FUZZ_TIME:-3s}"
