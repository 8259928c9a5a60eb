# An alternative to `make image` for machines with a container engine. `make image` (hack/image) is
# how release images are built: without an engine, for linux/amd64 and linux/arm64, reproducibly,
# on no base image at all. This file gives an equivalent image: the same binary flags, user,
# entrypoint, ports and labels, on distroless/static (which adds its own CA roots and passwd).
#
#   docker build \
#     --build-arg VERSION="$(cat VERSION)" --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u -d @"$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ)" \
#     -t ghcr.io/billyronks/couchestor:"$(cat VERSION)" .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
ARG REVISION=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/billyronks/couchestor/internal/version.Version=${VERSION} -X github.com/billyronks/couchestor/internal/version.Revision=${REVISION}" \
      -o /out/couchestor ./cmd/couchestor

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="couchestor" \
      org.opencontainers.image.description="CoucheStor moves OpenEBS Mayastor volumes between an NVMe and a SATA tier from the IOPS each volume does." \
      org.opencontainers.image.url="https://github.com/billyronks/couchestor" \
      org.opencontainers.image.source="https://github.com/billyronks/couchestor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/couchestor /couchestor
USER 65534:65534
EXPOSE 8080 8081
ENTRYPOINT ["/couchestor"]
