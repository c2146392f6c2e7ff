# Sourced by the scripts that build test binaries from pinned Go modules (test/controlplane/assets.sh,
# test/tools/build.sh): how they find Go, read a pinned version, and build into a cache folder.

# Prints the version go.mod ($1) pins for module $2 (inside or outside a require block), or nothing.
go_module_version() {
  awk -v m="$2" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}

# Prints the go command to use: $GO, else the one on PATH, else /usr/local/go/bin/go; fails with a
# message naming what to install ($1: a hint for other ways out) when there is none.
go_command() {
  local go_cmd=${GO:-}
  if [[ -z "$go_cmd" ]]; then
    go_cmd=$(command -v go || true)
    [[ -z "$go_cmd" && -x /usr/local/go/bin/go ]] && go_cmd=/usr/local/go/bin/go
  fi
  if [[ -z "$go_cmd" ]]; then
    printf 'no Go toolchain found (install Go >= 1.26 or set GO=/path/to/go%s)\n' "${1:+, $1}" >&2
    return 1
  fi
  echo "$go_cmd"
}

# go build, run in folder $1 with only its pinned go.mod/go.sum counting (GOWORK=off, -mod=readonly,
# the caller's GOFLAGS ignored) and no C toolchain (static binaries): $1 dir, $2 output, $3 ldflags,
# $4 package. Output goes to stderr.
go_build_pinned() {
  (
    cd -- "$1"
    env GOWORK=off GOFLAGS= CGO_ENABLED=0 "$go_cmd" build -mod=readonly -trimpath -buildvcs=false \
      -ldflags "$3" -o "$2" "$4"
  ) >&2
}
