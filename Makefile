# CoucheStor — build, generate, test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/billyronks/couchestor/internal/version.Version=$(VERSION)
CONTROLLER_GEN := go tool controller-gen
# The watcher is also tested against the oldest Prometheus line users still run: 2.53 (LTS).
PROMETHEUS_COMPAT_VERSION ?= v0.53.3

.PHONY: all
all: build

##@ Generate

.PHONY: manifests
manifests: ## CRDs and the ClusterRole from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=false \
		paths="./api/..." paths="./internal/controller/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/crdbounds config/crd/bases/storage.billyronks.io_storagepolicies.yaml

.PHONY: generate
generate: ## Deep-copy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify
verify: manifests generate ## Fails when generated files, gofmt or go vet disagree with the tree.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	@git diff --exit-code -- api config || { echo "make manifests generate changed files: commit them"; exit 1; }

##@ Build

.PHONY: build
build: ## Build the operator and the Mayastor simulator into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/couchestor ./cmd/couchestor
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mayastor-sim ./cmd/mayastor-sim

##@ Test

.PHONY: test-binaries
test-binaries: ## Build (once, cached) kube-apiserver, etcd, prometheus and promtool (3.x and 2.53).
	@hack/envtest-binaries.sh >/dev/null
	@hack/prometheus.sh >/dev/null
	@PROMETHEUS_MODULE_VERSION=$(PROMETHEUS_COMPAT_VERSION) hack/prometheus.sh >/dev/null

.PHONY: test
test: test-binaries ## Every test, against a real kube-apiserver and a real Prometheus (3.x, then 2.53).
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" \
	COUCHESTOR_PROMETHEUS_DIR="$$(hack/prometheus.sh)" \
	MAYASTOR_OPENAPI_SPEC="$${MAYASTOR_OPENAPI_SPEC:-$(CURDIR)/../shared/mayastor/v0_api_spec.yaml}" \
	go test -count=1 -timeout 30m ./...
	@echo "== the metrics watcher again, against Prometheus $(PROMETHEUS_COMPAT_VERSION:v0.%=2.%)"
	COUCHESTOR_PROMETHEUS_DIR="$$(PROMETHEUS_MODULE_VERSION=$(PROMETHEUS_COMPAT_VERSION) hack/prometheus.sh)" \
	go test -count=1 -timeout 10m ./internal/promwatch/...

##@ Run

.PHONY: run
run: test-binaries ## The local sandbox: API server, Mayastor simulator, Prometheus, operator, sample policy (RUN_ARGS=--duration=5m).
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" \
	COUCHESTOR_PROMETHEUS_DIR="$$(hack/prometheus.sh)" \
	go run ./hack/sandbox $(RUN_ARGS)

.PHONY: scale
scale: test-binaries ## Measure the operator at 10,000 volumes, 1 and 100+1 policies (docs/scale.md; SCALE_ARGS=--policies=1); about 11 minutes.
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" \
	COUCHESTOR_PROMETHEUS_DIR="$$(hack/prometheus.sh)" \
	go run ./hack/scale $(SCALE_ARGS)

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
