# CoucheStor — build, generate, test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN ?= bin
VERSION ?= $(shell cat VERSION 2>/dev/null || echo dev)
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
	go run ./hack/apidocs
	cp config/crd/bases/*.yaml charts/couchestor/files/crds/
	cp config/rbac/role.yaml charts/couchestor/files/manager-role.yaml

.PHONY: generate
generate: ## Deep-copy methods of the API types, and the TimeZone enum from Go's tz database.
	go run ./hack/tzones api/v1/zz_generated.timezones.go
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify
verify: manifests generate ## Fails when generated files, gofmt or go vet disagree with the tree.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	@git diff --exit-code -- api config docs/api-reference.md charts/couchestor/files/crds charts/couchestor/files/manager-role.yaml || { echo "make manifests generate changed files: commit them"; exit 1; }

##@ Build

.PHONY: build
build: ## Build the operator, the kubectl plugin and the Mayastor simulator into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/couchestor ./cmd/couchestor
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-couchestor ./cmd/kubectl-couchestor
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mayastor-sim ./cmd/mayastor-sim

##@ Release

# The kubectl plugin's release: an archive per platform krew installs (the binary, LICENSE and
# the kubectl_complete-couchestor completion script), checksums.txt, and the krew manifest
# filled from plugins/couchestor.yaml; hack/release/release_test.go builds it and validates the
# manifest with krew's own tools (pinned in hack/krew/go.mod).
RELEASE_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64

.PHONY: release
release: ## kubectl plugin archives for krew's platforms, checksums and the krew manifest, into bin/release/.
	go run ./hack/release -version '$(VERSION)' -platforms '$(RELEASE_PLATFORMS)' -out '$(BIN)/release'

.PHONY: validate-krew-manifest
validate-krew-manifest: ## Validate bin/release/couchestor.yaml with krew's validate-krew-manifest.
	go -C hack/krew tool validate-krew-manifest -manifest '$(abspath $(BIN))/release/couchestor.yaml' -skip-install

##@ Image

# The release image, built without a Docker engine by hack/image (go-containerregistry): the static
# binary for each platform, stamped with VERSION and the git revision, on no base image.
# Writes $(BIN)/image/oci (an OCI layout; skopeo copy --all oci:$(BIN)/image/oci:$(IMAGE_VERSION) ...)
# and $(BIN)/image/couchestor-$(IMAGE_VERSION)-linux-<arch>.tar (docker load -i ...).
# Timestamps come from SOURCE_DATE_EPOCH, else the commit time of HEAD.
IMAGE_VERSION ?= $(shell cat VERSION)
IMAGE_REPOSITORY ?= ghcr.io/billyronks/couchestor
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: image
image: ## OCI image (linux/amd64, linux/arm64) without a Docker engine, into bin/image/.
	go run ./hack/image -version '$(IMAGE_VERSION)' -repository '$(IMAGE_REPOSITORY)' \
		-platforms '$(IMAGE_PLATFORMS)' -out '$(BIN)/image'

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

##@ Chart

# The Helm chart (charts/couchestor) is tested with a pinned helm v4, built once from the Go
# module proxy into ~/.cache/couchestor by hack/helm.sh; `make test` passes it as COUCHESTOR_HELM.
HELM_VERSION ?= v4.3.1
test-binaries: helm
test: export COUCHESTOR_HELM = $(shell HELM_VERSION=$(HELM_VERSION) hack/helm.sh)

.PHONY: helm
helm: ## Build (once, cached) the pinned helm the chart tests use.
	@HELM_VERSION=$(HELM_VERSION) hack/helm.sh >/dev/null

.PHONY: chart-crds
chart-crds: manifests ## Copy the generated CRDs into the chart (charts/couchestor/files/crds).
	cp config/crd/bases/*.yaml charts/couchestor/files/crds/

.PHONY: test-chart
test-chart: helm ## The chart tests alone: lint, schema, kustomize parity, server-side dry-run.
	@hack/envtest-binaries.sh >/dev/null
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" COUCHESTOR_HELM="$$(HELM_VERSION=$(HELM_VERSION) hack/helm.sh)" \
	go test -count=1 ./test/chart/...

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

.PHONY: scale-curve
scale-curve: test-binaries ## The curve: 1 policy at 1,000, 10,000 and 100,000 volumes, each figure against the volume count (docs/scale.md); about 50 minutes.
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" \
	COUCHESTOR_PROMETHEUS_DIR="$$(hack/prometheus.sh)" \
	go run ./hack/scale --policies 1 --volumes 1000,10000,100000 --ready-timeout 20m --work-dir bin/scale-curve $(SCALE_ARGS)

.PHONY: backtest-scale
backtest-scale: test-binaries ## Time `kubectl couchestor backtest` over 10,000 volumes × 14 days at 1h and 5m steps against a backfilled Prometheus (docs/backtest.md; BACKTEST_SCALE_ARGS=--reuse).
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" \
	COUCHESTOR_PROMETHEUS_DIR="$$(hack/prometheus.sh)" \
	go run ./hack/backtest-scale $(BACKTEST_SCALE_ARGS)

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
