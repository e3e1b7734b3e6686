# syntax=docker/dockerfile:1
# The outreach binary (API, worker, migrations) in a small non-root image.
#   docker build -t outreach .
# docker-compose.yml builds it for the migrate, api and worker services.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
# Modules first, so code changes do not invalidate the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Pure Go (the embedded SQLite driver needs no cgo): a static binary that
# runs on a distroless base. -trimpath keeps build paths out of it.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/outreach ./cmd/outreach

# Static distroless: CA certificates, time zones and the nonroot user
# (65532) with its own home; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/outreach /usr/local/bin/outreach
# The data directory lives in the service user's home, the one place of the
# image it may write to. With PostgreSQL and UNSUBSCRIBE_SECRET set (as in
# docker-compose.yml) nothing is written there.
ENV OUTREACH_DATA_DIR=/home/nonroot/data \
    HTTP_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/outreach"]
CMD ["serve"]
