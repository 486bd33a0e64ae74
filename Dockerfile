# syntax=docker/dockerfile:1
# The sparkcm-hook image: a static binary on distroless, running as the
# nonroot user the Helm chart expects (65532) with a read-only root filesystem.
#   make image-docker (the build args come from hack/version.sh)

# Build on the builder's own platform and cross-compile: no emulation needed.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
WORKDIR /src
# Dependencies first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
      -o /out/sparkcm-hook ./cmd/sparkcm-hook

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sparkcm-hook /sparkcm-hook
USER 65532:65532
ENTRYPOINT ["/sparkcm-hook"]
