#!/usr/bin/env bash
# Provides the helm binary the chart tests (test/chart) run, and prints its path on stdout (the
# value for COUCHESTOR_HELM). Progress goes to stderr.
#
# Helm is built from source through the Go module proxy (helm.sh/helm/v4, pinned below) in a
# throw-away module, into
#   ${COUCHESTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couchestor}/helm/<version>/helm
# and reused from there on every later run. A helm on PATH is NOT used: the tests pin the version.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.1}
module=helm.sh/helm/v4
cache_root=${COUCHESTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couchestor}
dest="$cache_root/helm/$HELM_VERSION"

log() { printf '[helm] %s\n' "$*" >&2; }

if [[ -x "$dest/helm" ]]; then
  echo "$dest/helm"
  exit 0
fi

mkdir -p "$dest"
work=$(mktemp -d "$cache_root/helm/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Keep the user's Go build and module caches, but never let GOFLAGS=-mod=vendor or a go.work leak in.
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"

start=$SECONDS
log "building helm $HELM_VERSION into $dest (a few minutes on 2 cores; cached afterwards)"
# A throw-away module requiring helm at the pinned version: go build honours helm's own go.mod
# requirements (minimal version selection), like `go install` would, and still works if helm's
# go.mod ever gains a replace directive only its own builds could apply.
cd "$work"
cat >go.mod <<MOD
module couchestor.local/helmbuild

go 1.26
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v4/cmd/helm"
GO
if ! go get "$module@$HELM_VERSION" >"$work/get.log" 2>&1; then
  log "go get $module@$HELM_VERSION failed:"; tail -40 "$work/get.log" >&2; exit 1
fi
if ! go build -trimpath -ldflags "$ldflags" -o "$work/helm" "$module/cmd/helm" >"$work/build.log" 2>&1; then
  log "build failed:"; tail -40 "$work/build.log" >&2; exit 1
fi
mv "$work/helm" "$dest/helm"
log "helm ready in $((SECONDS - start))s: $("$dest/helm" version --short 2>&1 | head -1)"
echo "$dest/helm"
