#!/usr/bin/env bash
# Builds kube-apiserver and etcd from source through the Go module proxy into a per-user cache
# directory keyed by version, and prints that directory (the value for KUBEBUILDER_ASSETS).
# A second run finds the binaries and returns at once.
#
# kube-apiserver comes from k8s.io/kubernetes, whose go.mod points its staging modules at
# ./staging/...; a throw-away module in the cache replaces them by the matching k8s.io/* v0.x
# releases, so CoucheStor's own go.mod never depends on k8s.io/kubernetes.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
cache_root=${COUCHESTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couchestor}
dest="$cache_root/envtest/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { printf '[envtest-binaries] %s\n' "$*" >&2; }

# build_with_progress OUT PKG [go build flags...]: prints a line every 100 packages compiled and,
# when the build fails, the compiler's own messages.
build_with_progress() {
  local out=$1 pkg=$2; shift 2
  go build -v -trimpath "$@" -o "$out" "$pkg" >"$work/build.log" 2>&1 &
  local pid=$! n=0 last=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(wc -l <"$work/build.log")
    if (( n / 100 > last / 100 )); then log "  $n packages compiled"; fi
    last=$n
  done
  if ! wait "$pid" || [[ ! -x "$out" ]]; then
    log "build of $pkg failed:"; grep -v '^[a-zA-Z0-9._/-]*$' "$work/build.log" | tail -40 >&2
    exit 1
  fi
}

if [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" ]]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$dest"
work=$(mktemp -d "$cache_root/envtest/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
staging_minor="v0.${KUBE_VERSION#v1.}"

# Keep the user's Go build cache, but never let a GOFLAGS=-mod=vendor or similar leak in.
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

if [[ ! -x "$dest/kube-apiserver" ]]; then
  log "building kube-apiserver $KUBE_VERSION (takes several minutes on 2 cores; cached afterwards)"
  mkdir -p "$work/kube" && cd "$work/kube"
  go mod init couchestor.local/envtest-kube >/dev/null 2>&1
  log "  downloading k8s.io/kubernetes@$KUBE_VERSION"
  kdir=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$kdir" && -f "$kdir/go.mod" ]] || { log "cannot download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  # Every staging module k8s.io/kubernetes replaces locally is replaced here by its release.
  replaces=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/.*#\1#p' "$kdir/go.mod" | sort -u)
  [[ -n "$replaces" ]] || { log "no staging replace directives found in $kdir/go.mod"; exit 1; }
  {
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    for m in $replaces; do echo "replace $m => $m $staging_minor"; done
  } >>go.mod
  cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  log "  resolving modules ($(echo "$replaces" | wc -l) staging modules -> $staging_minor)"
  go mod tidy >/dev/null 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }
  log "  compiling (go build -v prints each package as it is done)"
  build_with_progress "$dest/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
  log "  kube-apiserver ready"
fi

if [[ ! -x "$dest/etcd" ]]; then
  log "building etcd $ETCD_VERSION (a few minutes; cached afterwards)"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init couchestor.local/envtest-etcd >/dev/null 2>&1
  cat >main.go <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>"$work/get.log" || { cat "$work/get.log" >&2; exit 1; }
  go mod tidy >/dev/null 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }
  build_with_progress "$dest/etcd.tmp" . -ldflags "-s -w"
  mv "$dest/etcd.tmp" "$dest/etcd"
  log "  etcd ready"
fi

echo "$dest"
