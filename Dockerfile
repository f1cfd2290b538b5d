# K2K Auto-Invoice image: the worker and starter binaries on a distroless base.
# docker-compose.yml builds it as k2k-autoinvoice:dev and runs `worker`.

# Build stage: static binaries, no cgo, reproducible paths.
FROM golang:1.26.8-bookworm AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
# Dependencies first, so a source change does not download the modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN mkdir -p /out && go build -trimpath -o /out/ ./worker ./starter

# Runtime stage: no shell, no package manager, runs as the unprivileged "nonroot" user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /usr/local/bin/
USER nonroot:nonroot
# No special entrypoint: the command names the binary (`worker` or `starter ...`).
CMD ["worker"]
