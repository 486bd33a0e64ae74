# sparkcm-hook: `make demo` shows the main job on a local control plane,
# `make test` runs every test. Both build what they need first.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO ?= go
BIN := bin/sparkcm-hook
LDFLAGS := -s -w -X main.version=$(VERSION)
# Where the control plane, helm and the Airflow virtualenv are cached
# (gitignored); CI points it outside the checkout so it survives clones.
export SPARKCM_CACHE_DIR ?= $(CURDIR)/.cache
GOTEST_FLAGS ?= -race -timeout 25m

.PHONY: all build controlplane helm test test-short test-go test-airflow test-clone demo bench lint fmt image clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sparkcm-hook

# Builds etcd, kube-apiserver and kube-controller-manager from the Go module
# proxy once per pinned version (about 5 minutes cold on 2 cores).
controlplane:
	@hack/controlplane.sh >/dev/null

test: lint build controlplane helm test-short test-go test-airflow test-clone

# The short tier: every test that needs no control plane, in seconds, and
# proof that it starts no process: it runs with nothing it could start (no
# control-plane binaries, no helm, no sparkcm-hook binary, a PATH with only
# the Go toolchain), so a test that forgot to skip fails here.
GOROOT_BIN := $(shell $(GO) env GOROOT)/bin
test-short:
	PATH="$(GOROOT_BIN)" CGO_ENABLED=0 SPARKCM_CONTROLPLANE_BIN=/nonexistent SPARKCM_HELM=/nonexistent SPARKCM_BIN=/nonexistent \
	  "$(GOROOT_BIN)/go" test -short ./...

# helm is built (once per version) before the tests so its cold build shows
# its own progress instead of eating into go test's timeout.
test-go: helm
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_HELM=$$(hack/helm.sh) SPARKCM_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test $(GOTEST_FLAGS) ./...

helm:
	@hack/helm.sh >/dev/null

test-airflow: build controlplane
	hack/airflow-test.sh

# A lone clone (no sibling folders) must run `make demo`: this clones the
# committed HEAD into an empty folder and runs it there.
test-clone: controlplane
	hack/clone-demo.sh

demo: build controlplane
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) $(GO) run ./internal/cmd/demo --bin $(BIN)

bench: build controlplane
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) $(GO) run ./internal/cmd/bench --bin $(BIN)

# golangci-lint (.golangci.yml: gofmt, goimports, go vet, staticcheck, errcheck,
# errorlint, revive, gocritic, ...) and ruff for the Airflow package, each built
# or installed once per pinned version into the cache.
lint:
	gcl=$$(hack/golangci-lint.sh) && $$gcl run ./...
	ruff=$$(hack/ruff.sh) && cd airflow && $$ruff check .

fmt:
	gofmt -w $$(git ls-files '*.go')

image:
	docker build --build-arg VERSION=$(VERSION) -t sparkcm-hook:$(VERSION) .

clean:
	rm -rf bin
