#!/usr/bin/env bash
# Builds the repository's Dockerfile with buildah (chroot isolation, vfs storage, no pulls) into the
# storage under ${XDG_CACHE_HOME:-$HOME/.cache}/mailroom/image/storage, on a stand-in for its base
# image (stand-in-base.sh). Prints the storage root on stdout; buildah's output goes to stderr.
# Layers are cached (--layers): after a first build, only the steps after a changed input re-run.
#   ROOT=$(bash test/image/build.sh)
#   buildah --root "$ROOT" --runroot "$ROOT/run" --storage-driver vfs run … localhost/mailroom:test …
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd -- "$here/../.." && pwd -P)
root=$(bash "$here/stand-in-base.sh")
buildah_() { buildah --root "$root" --runroot "$root/run" --storage-driver vfs "$@"; }
exec 9>"$root.build.lock"
flock 9
# Even when every layer is cached, vfs makes a bud take minutes (each FROM copies a whole root file
# system): skip it when the image was built from exactly these inputs, on this base.
base=$(buildah_ inspect --type image --format '{{.FromImageID}}' docker.io/library/node:24-bookworm-slim)
inputs=$({
  echo "$base"
  cd "$repo" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - \
    Dockerfile .dockerignore package.json package-lock.json scripts/build.ts scripts/snapshot.ts src crds
} | sha256sum | cut -c1-32)
have=$(buildah_ inspect --type image --format '{{index .OCIv1.Config.Labels "dev.mailroom.inputs"}}' \
  localhost/mailroom:test 2>/dev/null || true)
if [[ "$have" != "$inputs" ]]; then
  buildah_ bud --isolation chroot --pull=never --layers --label "dev.mailroom.inputs=$inputs" \
    -t localhost/mailroom:test -f "$repo/Dockerfile" "$repo" >&2
fi
# vfs keeps a whole root file system per layer and every rebuild adds layers: past 12 GiB, drop the
# images nothing names (older builds' layers; the next build after a change re-runs more steps).
if (($(du -sk "$root" | cut -f1) > 12 * 1024 * 1024)); then
  buildah_ rmi --prune >&2 || true
fi
echo "$root"
