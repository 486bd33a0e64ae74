# sparkcm-hook: `make demo` shows the main job on a local control plane,
# `make test` runs every test. Both build what they need first.

# The VERSION file is the one version (hack/version.sh adds the commit to a
# build that is not the tagged release and refuses a tag that disagrees).
STAMPS := $(shell hack/version.sh || echo refused)
ifneq ($(filter refused,$(STAMPS)),)
$(error hack/version.sh refused to stamp this build (see above))
endif
VERSION := $(patsubst version=%,%,$(filter version=%,$(STAMPS)))
COMMIT := $(patsubst commit=%,%,$(filter commit=%,$(STAMPS)))
BUILD_DATE := $(patsubst date=%,%,$(filter date=%,$(STAMPS)))
GO ?= go
BIN := bin/sparkcm-hook
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)
# Where the control plane, helm and the Airflow virtualenv are cached
# (gitignored); CI points it outside the checkout so it survives clones.
export SPARKCM_CACHE_DIR ?= $(CURDIR)/.cache
GOTEST_FLAGS ?= -race -timeout 25m

.PHONY: all build check-size dist test-dist controlplane helm node spark toxiproxy test test-times cover test-short test-go test-spark test-airflow test-clone demo bench bench-scale reliability lint verify fmt image image-docker clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sparkcm-hook

# Builds etcd, kube-apiserver and kube-controller-manager from the Go module
# proxy once per pinned version (about 5 minutes cold on 2 cores).
controlplane:
	@hack/controlplane.sh >/dev/null

# Every tier in turn, ending with one line: which tiers ran and which skipped
# (go test prints ok for a package whose tests all skipped, so the skips are
# counted apart). With CI set a tier that cannot run here (no Java 17, not
# root) fails the run instead; hack/test-tiers.sh.
TIERS := lint verify size short cover go airflow clone
test:
	@hack/test-tiers.sh $(TIERS)

# The same tiers with every test run (-count=1) and their wall times, as the
# table BENCHMARKS.md records.
test-times:
	@hack/test-tiers.sh --times $(TIERS)

# The short tier: every test that needs no control plane, in seconds, and
# proof that it starts no process: it runs with nothing it could start (no
# control-plane binaries, no helm, no sparkcm-hook binary, a PATH with only
# the Go toolchain), so a test that forgot to skip fails here.
# Its time is mostly linking a dozen test binaries that carry client-go (go
# test already links them without DWARF). It keeps go test's cache: its tests
# start nothing and read only what the cache keys on, so a cached ok is their
# result (make test-times adds -count=1 to time a real run).
GOROOT_BIN := $(shell $(GO) env GOROOT)/bin
SHORT_FLAGS ?=
# What the short tier covers of the rule (hook/rule) and the orchestration
# (hook), run on the in-memory store; fails under 85% (hack/cover.sh).
cover:
	@hack/cover.sh 85

test-short:
	PATH="$(GOROOT_BIN)" CGO_ENABLED=0 SPARKCM_CONTROLPLANE_BIN=/nonexistent SPARKCM_HELM=/nonexistent SPARKCM_BIN=/nonexistent \
	  "$(GOROOT_BIN)/go" test -short $(SHORT_FLAGS) ./...

# helm and the node's kubelet are built (once per version) before the tests
# so their cold builds show their own progress instead of eating into go
# test's timeout. As non-root hack/node.sh says so in one line and the node
# tests skip (fail with CI set). -count=1: these tests run binaries go test's
# cache does not key on (control plane, Spark, helm, the node), so a cached ok
# could stand for a run that never happened with them.
test-go: build controlplane helm node spark toxiproxy
	$(SPARK_ENV) SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_HELM=$$(hack/helm.sh) SPARKCM_BIN=$(CURDIR)/$(BIN) \
	  SPARKCM_TOXIPROXY=$$(hack/toxiproxy.sh) SPARKCM_NODE_BIN=$$(hack/node.sh 2>/dev/null) $(GO) test $(GOTEST_FLAGS) -count=1 ./...

# Installs the pinned pyspark versions from PyPI once each (hack/spark.sh).
# Without Java 17 and no way to install it, it says so and the Spark tests
# skip with that reason (fail with CI set).
spark:
	@hack/spark.sh >/dev/null || [ $$? -eq 3 ]

SPARK_ENV = SPARKCM_SPARK="$$(hack/spark.sh 2>/dev/null | paste -sd: -)"

# The real-Spark matrix alone: every pinned version, cluster and client mode.
test-spark: build controlplane spark
	$(SPARK_ENV) SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test $(GOTEST_FLAGS) -count=1 -v -run TestRealSpark ./internal/sparksubmit/

helm:
	@hack/helm.sh >/dev/null

# toxiproxy sits between the fault tests and the API server (built once per
# version, like helm).
toxiproxy:
	@hack/toxiproxy.sh >/dev/null

# The large sample of the property test (make test runs 12 runs of it) and
# the fault tests at 10,000 maps; prints the figures CONTRIBUTING.md quotes.
RELIABILITY_RUNS ?= 500
reliability: controlplane toxiproxy
	@bash -o pipefail -c 'SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_TOXIPROXY=$$(hack/toxiproxy.sh) \
	  $(GO) test -count=1 -timeout 180m -v -run TestNothingWrongIsDeletedUnderFaultsAndEveryRerunConverges ./internal/reliability \
	    -args -reliability.runs=$(RELIABILITY_RUNS) | grep -E "^reliability:|WRONG|did not converge|^(--- FAIL|FAIL|ok|panic)"'
	@bash -o pipefail -c 'SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_TOXIPROXY=$$(hack/toxiproxy.sh) SPARKCM_FAULT_MAPS=10000 \
	  $(GO) test -count=1 -timeout 60m -v -run "PriorityAndFairness|RestartsUnderIt|StaysDown" ./hook \
	    | grep -E "^(=== RUN|--- |FAIL|ok|panic)|throttling_controlplane|restart_controlplane"'

# No tracked file over 1 MiB outside test data: a clone carries source, not
# build artefacts.
check-size:
	hack/check-size.sh

# The modules the build uses are the ones go.sum pins, unmodified: in every
# Go module of the repository (the product's and each tool's under tools/),
# found rather than listed, so that a new module is verified too.
verify:
	@set -e; for mod in $$(git ls-files -- go.mod '*/go.mod' 2>/dev/null || find . -name go.mod -not -path './.cache/*'); do \
	  dir=$$(dirname $$mod); echo "go mod verify in $$dir"; (cd $$dir && $(GO) mod verify); \
	done

# The test node (root only): kubelet and kube-scheduler built once per
# version, containerd and runc from Debian's packages.
node:
	@hack/node.sh >/dev/null || [ $$? -eq 3 ]

# Every Airflow test on each supported Airflow line (2.x and 3.x, one venv each);
# the node tests render the chart's ServiceAccount with helm.
test-airflow: build controlplane helm node
	SPARKCM_HELM=$$(hack/helm.sh) SPARKCM_NODE_BIN=$$(hack/node.sh 2>/dev/null) hack/airflow-test.sh

# A lone clone (no sibling folders) must run `make demo`: this clones the
# committed HEAD into an empty folder and runs it there.
test-clone: controlplane
	hack/clone-demo.sh

# The last step (the chart's CronJob Pod on a real node) needs helm and, as
# root, the node; as non-root it says it skipped.
demo: build controlplane helm node
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) SPARKCM_HELM=$$(hack/helm.sh) SPARKCM_NODE_BIN=$$(hack/node.sh 2>/dev/null) \
	  $(GO) run ./internal/cmd/demo --bin $(BIN)

# make bench BENCH_ARGS="--rows sweep,floor" runs some rows; make bench-scale
# (the bench with --scale) the sweep at 120,000 maps, not part of make test.
bench: build controlplane
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) $(GO) run ./internal/cmd/bench --bin $(BIN) $(BENCH_ARGS)

bench-scale: build controlplane
	SPARKCM_CONTROLPLANE_BIN=$$(hack/controlplane.sh) $(GO) run ./internal/cmd/bench --bin $(BIN) --scale $(BENCH_ARGS)

# golangci-lint (.golangci.yml: gofmt, goimports, go vet, staticcheck, errcheck,
# errorlint, revive, gocritic, ...) and ruff for the Airflow package, each built
# or installed once per pinned version into the cache.
lint:
	gcl=$$(hack/golangci-lint.sh) && $$gcl run ./...
	ruff=$$(hack/ruff.sh) && cd airflow && $$ruff check .

fmt:
	gofmt -w $$(git ls-files '*.go')

# The image without Docker: an OCI tarball from the same static binary
# (tools/image), for `docker load -i` or `ctr images import`.
IMAGE ?= sparkcm-hook:$(VERSION)
IMAGE_OUT ?= bin/sparkcm-hook-image.tar
image: build
	cd tools/image && $(GO) run . -o $(abspath $(IMAGE_OUT)) -name $(IMAGE) -binary $(abspath $(BIN)) \
	  -entrypoint /sparkcm-hook -user 65532:65532 -ca-certs /etc/ssl/certs/ca-certificates.crt
	@echo "wrote $(IMAGE_OUT) ($(IMAGE)): docker load -i $(IMAGE_OUT), or ctr -n k8s.io images import $(IMAGE_OUT)"

# The same image with a Docker engine, from the Dockerfile.
image-docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(BUILD_DATE) -t sparkcm-hook:$(VERSION) .

# Every release artefact into dist/ (hack/dist.sh lists them): binaries for
# linux and darwin on amd64 and arm64 with their SBOMs and krew archives, the
# krew manifest, the multi-architecture image, the chart, the Airflow wheel
# and sdist, SHA256SUMS. make test proves it reproducible on linux/amd64
# only (test-dist): four cross builds twice cost minutes on 2 cores.
dist: helm
	hack/dist.sh

test-dist: helm
	SPARKCM_HELM=$$(hack/helm.sh) $(GO) test -count=1 -timeout 30m -v -run 'TestDist' ./internal/release

clean:
	rm -rf bin dist
