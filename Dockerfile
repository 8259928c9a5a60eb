# Build: docker build -t ghcr.io/billyronks/couchestor:v1.0.0 --build-arg VERSION=v1.0.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/billyronks/couchestor/internal/version.Version=${VERSION}" \
      -o /out/couchestor ./cmd/couchestor

# A static binary needs nothing but CA certificates, which distroless/static carries.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/couchestor /couchestor
USER 65534:65534
EXPOSE 8080 8081
ENTRYPOINT ["/couchestor"]
