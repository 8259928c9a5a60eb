#!/usr/bin/env bash
# Provides the prometheus and promtool binaries the promwatch tests run against, and prints on
# stdout the directory holding both (the value for COUCHESTOR_PROMETHEUS_DIR). Progress goes to
# stderr.
#
#   1. If both are on PATH, their directory is printed (prometheus's own directory wins).
#   2. Otherwise they are built from source through the Go module proxy into
#        ${COUCHESTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couchestor}/prometheus/<module version>/
#      and reused from there on every later run.
#
# Prometheus 3.x is published on the module proxy as github.com/prometheus/prometheus v0.3XX.Y
# (v0.316.0 = Prometheus 3.16.0). `go install pkg@version` is tried first; if it refuses (a
# replace directive in Prometheus's go.mod), a throw-away module in the cache builds it instead.
# The web UI assets are not embedded (no builtinassets tag): the HTTP API, which is all CoucheStor
# uses, is unaffected.
set -euo pipefail

PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}
module=github.com/prometheus/prometheus
cache_root=${COUCHESTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couchestor}
dest="$cache_root/prometheus/$PROMETHEUS_MODULE_VERSION"

log() { printf '[prometheus] %s\n' "$*" >&2; }

if [[ -z "${COUCHESTOR_PROMETHEUS_FORCE_BUILD:-}" ]] && command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  dir=$(dirname "$(command -v prometheus)")
  if [[ -x "$dir/promtool" ]]; then
    echo "$dir"
    exit 0
  fi
  # The two live in different directories: link both into the cache so one directory holds them.
  mkdir -p "$cache_root/prometheus/path"
  ln -sf "$(command -v prometheus)" "$cache_root/prometheus/path/prometheus"
  ln -sf "$(command -v promtool)" "$cache_root/prometheus/path/promtool"
  echo "$cache_root/prometheus/path"
  exit 0
fi

if [[ -x "$dest/prometheus" && -x "$dest/promtool" ]]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$dest"
work=$(mktemp -d "$cache_root/prometheus/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Keep the user's Go build and module caches, but never let GOFLAGS=-mod=vendor or a go.work leak in.
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
# Module v0.MMM.P is Prometheus 3.(MMM-300).P when MMM >= 300, else 2.MMM.P.
version=${PROMETHEUS_MODULE_VERSION#v0.}    # 316.0
minor=${version%%.*} patch=${version#*.}    # 316, 0
if (( minor >= 300 )); then app_version="3.$((minor - 300)).$patch"; else app_version="2.$minor.$patch"; fi
ldflags="-s -w -X github.com/prometheus/common/version.Version=$app_version"

# with_progress LOG CMD...: runs CMD (a go build/install with -v) in the background, logs a line
# every 100 packages compiled, and on failure prints the compiler's own messages.
with_progress() {
  local logf=$1; shift
  "$@" >"$logf" 2>&1 &
  local pid=$! n=0 last=0 start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(grep -c '^[a-zA-Z0-9._/~-]*$' "$logf" || true)
    if (( n / 100 > last / 100 )); then log "  $n packages compiled ($((SECONDS - start))s)"; fi
    last=$n
  done
  wait "$pid"
}

cmds="$module/cmd/prometheus $module/cmd/promtool"
start=$SECONDS
log "building prometheus and promtool $PROMETHEUS_MODULE_VERSION (Prometheus $app_version) into $dest"
log "  several minutes on 2 cores; cached afterwards"

# shellcheck disable=SC2086
if GOBIN="$work/bin" with_progress "$work/install.log" \
    go install -v -trimpath -ldflags "$ldflags" ${cmds// /@$PROMETHEUS_MODULE_VERSION }@$PROMETHEUS_MODULE_VERSION; then
  :
elif grep -qE 'replace directives|must not contain directives' "$work/install.log"; then
  log "  go install refused ($(grep -m1 -oE '[^:]*(replace|contain) directives.*' "$work/install.log")); building in a copy of the module, with its own go.mod"
  # The module's own go.mod and go.sum (replace directives included) are what upstream builds
  # with; a copy of the downloaded source honours them exactly.
  src=$(go mod download -json "$module@$PROMETHEUS_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$src" && -f "$src/go.mod" ]] || { log "cannot download $module@$PROMETHEUS_MODULE_VERSION"; exit 1; }
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src" && cd "$work/src"
  mkdir -p "$work/bin"
  for c in prometheus promtool; do
    with_progress "$work/build-$c.log" go build -v -trimpath -ldflags "$ldflags" -o "$work/bin/$c" "./cmd/$c" || {
      log "build of $c failed:"; grep -v '^[a-zA-Z0-9._/~-]*$' "$work/build-$c.log" | tail -40 >&2; exit 1; }
  done
else
  log "go install failed:"; grep -v '^[a-zA-Z0-9._/~-]*$' "$work/install.log" | tail -40 >&2
  exit 1
fi

for c in prometheus promtool; do
  [[ -x "$work/bin/$c" ]] || { log "$c was not produced"; exit 1; }
  mv "$work/bin/$c" "$dest/$c"
done
log "prometheus and promtool ready in $((SECONDS - start))s: $("$dest/prometheus" --version 2>&1 | head -1)"
echo "$dest"
