#!/usr/bin/env bash
# The real servers the test suites run against where no MongoDB or Docker engine exists:
#   FerretDB v1 (MongoDB wire protocol, SQLite backend) for the MongoDB suites,
#   moto_server (AWS KMS) for the aws-kms suites,
# plus the tools the documentation and alert tests call (grpcurl, promtool).
#
#   scripts/test-servers.sh up     install what is missing (once, cached, under a lock), start the
#                                  servers on free loopback ports with throwaway data, write the env file
#   scripts/test-servers.sh env    print the env file (`eval "$(scripts/test-servers.sh env)"`)
#   scripts/test-servers.sh down   stop what `up` started (by pid) and delete its data
#   scripts/test-servers.sh status
#
# Already there wins: with MONGODB_URI set, or a Docker engine answering (the suites then use
# testcontainers' mongo:8), no FerretDB is started; with AWS_ENDPOINT_URL_KMS set, no moto.
# An install that cannot reach the Go module proxy or PyPI is not an error: the reason goes
# into the env file (CVW_TEST_MONGODB_SKIP / CVW_TEST_KMS_SKIP) and those suites print it as
# their skip reason.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
GRPCURL_VERSION=v1.9.3
MOTO_VERSION=5.2.1

root="$(cd "$(dirname "$0")/.." && pwd)"
# Installs are shared by every checkout on the machine; running servers belong to one checkout.
cache="${CVW_TEST_SERVERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cv-wallet/test-servers}"
state="${CVW_TEST_SERVERS_STATE:-$root/.cache/test-servers}"
gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
envfile="$state/env"

say() { echo "[test-servers] $*" >&2; }

# ---------------------------------------------------------------- installs

# Runs an install step, keeping its output in a log; on failure the reason is its last line.
attempt() {
  local what="$1" log="$cache/logs/$1.log"
  shift
  mkdir -p "$cache/logs"
  local started=$SECONDS
  if "$@" >"$log" 2>&1; then
    say "$what installed in $((SECONDS - started))s"
    return 0
  fi
  reason="$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-300)"
  say "$what could not be installed: $reason (full log: $log)"
  return 1
}

ferretdb_bin() {
  local bin="$gobin/ferretdb"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "${FERRETDB_VERSION}"; then
    BIN="$bin"
    return 0
  fi
  command -v go >/dev/null || { reason="Go is not installed"; return 1; }
  # Not a plain `go install …@version`: that binary panics at start because the module leaves out
  # the generated build/version/version.txt. Build the module's source with that file written.
  say "building FerretDB ${FERRETDB_VERSION} (go build; a cold Go cache takes minutes)"
  mkdir -p "$gobin"
  attempt ferretdb sh -c '
    set -e
    src="$(go mod download -json "github.com/FerretDB/FerretDB@$1" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(d.get(\"Error\", \"go mod download failed\")) if \"Dir\" not in d else print(d[\"Dir\"])")"
    work="$(mktemp -d)"
    trap "rm -rf \"$work\"" EXIT
    cp -R "$src/." "$work"
    chmod -R u+w "$work"
    echo "$1" >"$work/build/version/version.txt"
    cd "$work"
    go build -o "$2.tmp" ./cmd/ferretdb
    mv "$2.tmp" "$2"
  ' sh "${FERRETDB_VERSION}" "$bin" || return 1
  BIN="$bin"
}

grpcurl_bin() {
  local bin="$gobin/grpcurl"
  # `go install` leaves grpcurl's -version unset; the module version is in the build info.
  if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+\S+\s+${GRPCURL_VERSION}\s"; then
    BIN="$bin"
    return 0
  fi
  command -v go >/dev/null || { reason="Go is not installed"; return 1; }
  mkdir -p "$gobin"
  attempt grpcurl go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}" || return 1
  BIN="$bin"
}

moto_bin() {
  local venv="$cache/moto-${MOTO_VERSION}"
  if [ -f "$venv/.complete" ]; then
    BIN="$venv/bin/moto_server"
    return 0
  fi
  # A moto_server of the pinned version already on PATH (pip install --user, pyenv) will do.
  local onpath
  if onpath="$(command -v moto_server)" &&
    [ "$(python3 -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ] &&
    python3 -c 'import flask, flask_cors' 2>/dev/null; then
    BIN="$onpath"
    return 0
  fi
  command -v python3 >/dev/null || { reason="python3 is not installed"; return 1; }
  say "installing moto[server]==${MOTO_VERSION} into $venv (pip)"
  rm -rf "$venv"
  attempt moto sh -c "python3 -m venv '$venv' && '$venv/bin/pip' install -q --disable-pip-version-check 'moto[server]==${MOTO_VERSION}'" ||
    { rm -rf "$venv"; return 1; }
  touch "$venv/.complete"
  BIN="$venv/bin/moto_server"
}

# ---------------------------------------------------------------- servers

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_tcp() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

docker_engine() { command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; }

up() {
  mkdir -p "$cache" "$state"
  if [ -f "$state/pids" ]; then
    say "already up (scripts/test-servers.sh down first); env: $envfile"
    return 0
  fi
  local lines=()
  reason=""
  BIN=""
  lines+=("export AWS_REGION=${AWS_REGION:-us-east-1}")
  lines+=("export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}")
  lines+=("export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}")
  : >"$state/pids"

  # Installs run under one machine-wide lock: two checkouts never build into the same GOPATH at once.
  exec 9>"$cache/install.lock"
  flock 9

  # grpcurl: the documentation test runs the READMEs' commands with it.
  reason=""
  if grpcurl_bin; then
    lines+=("export CVW_GRPCURL=$BIN")
  else
    lines+=("export CVW_GRPCURL_SKIP=$(printf %q "grpcurl ${GRPCURL_VERSION} could not be installed: $reason")")
  fi

  # MongoDB wire protocol.
  if [ -n "${MONGODB_URI:-}" ]; then
    say "MongoDB: MONGODB_URI is set, using it"
    lines+=("export CVW_TEST_MONGODB=$(printf %q "MONGODB_URI from the environment")")
  elif docker_engine; then
    say "MongoDB: a Docker engine answers, the suites use testcontainers (mongo:8)"
  else
    reason=""
    if ferretdb_bin; then
      local port dir
      port="$(free_port)"
      dir="$(mktemp -d "${TMPDIR:-/tmp}/cvw-ferretdb-XXXXXX")"
      "$BIN" --handler=sqlite --sqlite-url="file:$dir/" --listen-addr="127.0.0.1:$port" \
        --state-dir=- --telemetry=disable --debug-addr=- --log-level=error >"$state/ferretdb.log" 2>&1 &
      echo "ferretdb $! $dir" >>"$state/pids"
      if wait_tcp "$port" 30; then
        say "MongoDB: FerretDB ${FERRETDB_VERSION} (SQLite backend) on 127.0.0.1:$port, data in $dir"
        lines+=("export MONGODB_URI=mongodb://127.0.0.1:$port/")
        lines+=("export CVW_TEST_MONGODB=$(printf %q "FerretDB ${FERRETDB_VERSION} (SQLite backend) at 127.0.0.1:$port")")
      else
        reason="FerretDB did not listen within 30s: $(tail -n 1 "$state/ferretdb.log")"
        say "$reason"
        lines+=("export CVW_TEST_MONGODB_SKIP=$(printf %q "$reason")")
      fi
    else
      lines+=("export CVW_TEST_MONGODB_SKIP=$(printf %q "FerretDB ${FERRETDB_VERSION} could not be installed: $reason")")
    fi
  fi

  # AWS KMS. Tests create their keys (and aliases) through the SDK, so none is made here.
  if [ -n "${AWS_ENDPOINT_URL_KMS:-}" ]; then
    say "KMS: AWS_ENDPOINT_URL_KMS is set, using it"
    lines+=("export CVW_TEST_KMS=$(printf %q "AWS_ENDPOINT_URL_KMS from the environment")")
  else
    reason=""
    if moto_bin; then
      local port
      port="$(free_port)"
      "$BIN" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
      echo "moto $! -" >>"$state/pids"
      if wait_tcp "$port" 30; then
        say "KMS: moto ${MOTO_VERSION} on 127.0.0.1:$port"
        lines+=("export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$port")
        lines+=("export CVW_TEST_KMS=$(printf %q "moto ${MOTO_VERSION} at 127.0.0.1:$port")")
      else
        reason="moto_server did not listen within 30s: $(tail -n 1 "$state/moto.log")"
        say "$reason"
        lines+=("export CVW_TEST_KMS_SKIP=$(printf %q "$reason")")
      fi
    else
      lines+=("export CVW_TEST_KMS_SKIP=$(printf %q "moto ${MOTO_VERSION} could not be installed: $reason")")
    fi
  fi
  flock -u 9

  command -v promtool >/dev/null || say "promtool is not installed (Debian package prometheus; .ci/run installs it)"
  printf '%s\n' "${lines[@]}" >"$envfile"
  say "env written to $envfile"
}

down() {
  [ -f "$state/pids" ] || { rm -f "$envfile"; return 0; }
  local name pid dir i
  while read -r name pid dir; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      say "stopped $name (pid $pid)"
    fi
    [ "$dir" != "-" ] && rm -rf "$dir"
  done <"$state/pids"
  rm -f "$state/pids" "$envfile"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) [ -f "$envfile" ] && cat "$envfile" ;;
  status) if [ -f "$state/pids" ]; then cat "$state/pids"; cat "$envfile" 2>/dev/null; else echo "down"; fi ;;
  *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
