#!/usr/bin/env bash
# Prints the absolute path of a test tool built from the Go modules pinned in go.mod/go.sum beside
# this script, and nothing else on stdout (progress goes to stderr):
#   HELM=$(bash test/tools/build.sh helm)
#   GOPHER_LUA=$(bash test/tools/build.sh gopher-lua)
# Each tool is built once and cached per version under
# ${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/tools/<tool>-<version>/ (helm: a few minutes on 2 cores;
# gopher-lua: seconds); later calls return at once.
#
# Environment: XDG_CACHE_HOME, GO (path of the go command); GOFLAGS is ignored.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
log() { printf 'test tools: %s\n' "$*" >&2; }
# shellcheck source=../lib/go.sh
source "$here/../lib/go.sh"

tool=${1:-}
# The version comes from go.mod so that the cache key cannot drift from what is built.
module_version() { go_module_version "$here/go.mod" "$1"; }
case "$tool" in
  helm) pkg=helm.sh/helm/v3/cmd/helm module=helm.sh/helm/v3 ;;
  # The runner's own source is part of the key: a change to main.go must rebuild it.
  gopher-lua) pkg=./gopher-lua module=github.com/yuin/gopher-lua ;;
  *) log "usage: build.sh helm|gopher-lua"; exit 2 ;;
esac
version=$(module_version "$module")
if [[ -z "$version" ]]; then
  log "cannot read the version of $module from $here/go.mod"
  exit 1
fi
if [[ $tool == gopher-lua ]]; then
  version+=-$(sha256sum "$here/gopher-lua/main.go" | cut -c1-12)
fi
# helm's default Kubernetes version (below) is part of what is built.
[[ $tool == helm ]] && version+=-k8s-$(module_version k8s.io/client-go)

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/tools"
dest="$cache_root/$tool-$version"
if [[ -x "$dest/$tool" ]]; then
  echo "$dest/$tool"
  exit 0
fi

mkdir -p -- "$cache_root"
# Parallel test files wait for one build instead of running several on a small machine.
exec 9>"$dest.lock"
flock 9
if [[ -x "$dest/$tool" ]]; then
  echo "$dest/$tool"
  exit 0
fi

go_cmd=$(go_command)

# Built next to the destination so the final rename is atomic: no caller sees half a folder.
work=$(mktemp -d "$cache_root/.build-$tool-$version.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
ldflags=""
# Without it `helm version` says v3.x-dev, and helm checks charts' kubeVersion against it.
# And the Kubernetes version `helm template` assumes comes from the client-go it links, as helm's
# own Makefile sets it (else v1.20, which charts' kubeVersion constraints refuse).
if [[ $tool == helm ]]; then
  client_go=$(module_version k8s.io/client-go)
  k8s_minor=${client_go#v0.}
  k8s_minor=${k8s_minor%%.*}
  ldflags="-X helm.sh/helm/v3/internal/version.version=$version"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
fi
log "building $tool $version into $dest"
start=$SECONDS
go_build_pinned "$here" "$work/$tool" "-s -w $ldflags" "$pkg"
chmod 755 "$work"
rm -rf -- "$dest"
mv -T -- "$work" "$dest"
trap - EXIT
log "built in $((SECONDS - start)) s"
echo "$dest/$tool"
