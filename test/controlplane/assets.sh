#!/usr/bin/env bash
# Prints the absolute path of a folder holding `kube-apiserver` and `etcd`, and nothing else on
# stdout (progress goes to stderr), so callers can do: ASSETS=$(bash test/controlplane/assets.sh).
#
# 1. KUBEBUILDER_ASSETS (the envtest convention) wins when it names a folder with both binaries.
# 2. Otherwise they are built once from the Go modules pinned in go.mod/go.sum beside this script
#    and cached per version under ${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/controlplane/.
#    A cold build takes about 10 minutes on 2 cores; later calls return at once.
#
# Environment: KUBEBUILDER_ASSETS, XDG_CACHE_HOME, GO (path of the go command), GOFLAGS is ignored.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

log() { printf 'controlplane assets: %s\n' "$*" >&2; }
# shellcheck source=../lib/go.sh
source "$here/../lib/go.sh"

has_both() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if has_both "$KUBEBUILDER_ASSETS"; then
    (cd -- "$KUBEBUILDER_ASSETS" && pwd -P)
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; using the cached build"
fi

# The versions come from go.mod so that the cache key cannot drift from what is built.
module_version() { go_module_version "$here/go.mod" "$1"; }
k8s_version=$(module_version k8s.io/kubernetes)
etcd_version=$(module_version go.etcd.io/etcd/server/v3)
if [[ -z "$k8s_version" || -z "$etcd_version" ]]; then
  log "cannot read the k8s.io/kubernetes and etcd versions from $here/go.mod"
  exit 1
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/controlplane"
dest="$cache_root/$k8s_version-$etcd_version"
if has_both "$dest"; then
  echo "$dest"
  exit 0
fi

mkdir -p -- "$cache_root"
# Concurrent callers (parallel test files, CI and a developer) wait for one build instead of
# running several on a small machine.
exec 9>"$dest.lock"
if ! flock -n 9; then
  log "another build of $k8s_version-$etcd_version is running; waiting for it"
  flock 9
fi
if has_both "$dest"; then
  echo "$dest"
  exit 0
fi

go_cmd=$(go_command "or set KUBEBUILDER_ASSETS")

# Built next to the destination so the final rename is atomic: no caller ever sees half a folder.
work=$(mktemp -d "$cache_root/.build-$k8s_version-$etcd_version.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

minor=${k8s_version#v1.}
minor=${minor%%.*}
version_pkg=k8s.io/component-base/version
# Without these the apiserver reports v0.0.0-master, which kubectl warns about and tests cannot assert.
ldflags="-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1"
ldflags+=" -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean"

log "building kube-apiserver $k8s_version and etcd $etcd_version into $dest"
log "this happens once: ~700 MB of Go modules, then about 10 minutes of compiling on 2 cores"
start=$SECONDS
build() {
  local out=$1 pkg=$2 flags=$3
  log "go build $pkg"
  go_build_pinned "$here" "$work/$out" "$flags" "$pkg"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build etcd go.etcd.io/etcd/server/v3 "-s -w"

printf 'kube-apiserver %s\netcd %s\n' "$k8s_version" "$etcd_version" >"$work/VERSIONS"
chmod 755 "$work"
rm -rf -- "$dest" # a damaged earlier result (a binary deleted by hand) would block the rename
mv -T -- "$work" "$dest"
trap - EXIT
log "built in $((SECONDS - start)) s"
echo "$dest"
