# Build: a static binary with the pure-Go SQLite and Olm (no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git stays out of the build context, so Go cannot record the revision:
# docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#   --build-arg REVISION=$(git rev-parse HEAD) . (opsroom -version prints them).
ARG VERSION=dev
ARG REVISION=
ARG BUILD_TIME=
RUN BUILD_TIME="${BUILD_TIME:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" && \
	CGO_ENABLED=0 go build -tags goolm -trimpath \
	-ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.buildTime=${BUILD_TIME}" \
	-o /opsroom ./cmd/opsroom && mkdir /data

# Run: nothing but the binary and CA certificates, as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /opsroom /usr/local/bin/opsroom
# The database's directory belongs to nonroot (65532): a new named volume
# mounted here takes this owner; a bind-mounted directory must have it.
COPY --from=build --chown=65532:65532 /data /data
WORKDIR /data
USER nonroot:nonroot
# The binary asks its own /healthz (http.listen in the config); no curl in a static image.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
	CMD ["/usr/local/bin/opsroom", "-healthcheck", "-config", "/config/config.yaml"]
ENTRYPOINT ["/usr/local/bin/opsroom"]
CMD ["-config", "/config/config.yaml"]
