# K2K Auto-Invoice image: its four binaries (worker, gateway, codec-server, starter) on a
# distroless base. docker-compose.yml builds it as k2k-autoinvoice:dev and runs each deployable
# from it by name.

# Build stage: static binaries, no cgo, reproducible paths.
FROM golang:1.26.8-bookworm AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
# Dependencies first, so a source change does not download the modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN mkdir -p /out && go build -trimpath -o /out/ ./worker ./gateway ./codec-server ./starter

# Runtime stage: no shell, no package manager, runs as the unprivileged "nonroot" user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/gateway /out/codec-server /out/starter /usr/local/bin/
USER nonroot:nonroot
# No special entrypoint: the command names the binary (`worker`, `gateway`, `codec-server`, `starter ...`).
CMD ["worker"]
