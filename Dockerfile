# Build: a static binary with the pure-Go SQLite and Olm (no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -tags goolm -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /opsroom ./cmd/opsroom

# Run: nothing but the binary and CA certificates, as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /opsroom /usr/local/bin/opsroom
WORKDIR /data
USER nonroot:nonroot
# The binary asks its own /healthz (http.listen in the config); no curl in a static image.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
	CMD ["/usr/local/bin/opsroom", "-healthcheck", "-config", "/config/config.yaml"]
ENTRYPOINT ["/usr/local/bin/opsroom"]
CMD ["-config", "/config/config.yaml"]
