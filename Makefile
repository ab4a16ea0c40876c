# dynamo-infra — make targets are the interface (make help lists them).
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/dynamo-infra/dynamo-infra/internal/version.version=$(VERSION) \
             -X github.com/dynamo-infra/dynamo-infra/internal/version.commit=$(COMMIT)
# The operator image: its tag is the chart's appVersion, so the chart's default image is what
# `make image` builds. REGISTRY=host/path pushes there; without it, bin/image/ gets the files.
APP_VERSION := $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' charts/dynamo-operator/Chart.yaml)
REGISTRY    ?=
IMAGE_REPO  ?= $(if $(REGISTRY),$(REGISTRY)/dynamo-operator,ghcr.io/dynamo-infra/dynamo-operator)
IMAGE_TAG   ?= $(APP_VERSION)
KREW_VERSION ?= v$(APP_VERSION)
# Every time inside the image is the commit's, so a commit always builds the same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Integration tests start real clusters; keep the whole run bounded.
TEST_TIMEOUT ?= 30m
TEST_FLAGS   ?= -count=1

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build dynamoctl, kubectl-dynamo (the kubectl plugin, with its completion), dynamoctl-dev (dev tooling) and dynamo-operator into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/dynamoctl ./cmd/dynamoctl
	@# The developer tooling (dev cluster, dev services): `dynamoctl dev` runs it from beside dynamoctl.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/dynamoctl-dev ./cmd/dynamoctl-dev
	@# The same binary under the plugin's name: kubectl runs kubectl-dynamo for `kubectl dynamo`,
	@# and kubectl_complete-dynamo for its completion.
	ln -sf dynamoctl $(BIN)/kubectl-dynamo
	install -m 0755 hack/kubectl_complete-dynamo $(BIN)/kubectl_complete-dynamo
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/dynamo-operator ./cmd/dynamo-operator

.PHONY: krew
krew: ## Build the kubectl plugin's release archives and krew manifest (KREW_VERSION, default v<appVersion>) into bin/krew
	$(GO) run ./hack/krew --version $(KREW_VERSION) --commit $(COMMIT) --source-date-epoch $(SOURCE_DATE_EPOCH) --out $(BIN)/krew

.PHONY: image
image: ## Build the operator's OCI image (linux/amd64+arm64) without Docker; REGISTRY=host/path pushes it
	$(GO) run ./hack/image --source-date-epoch $(SOURCE_DATE_EPOCH) \
	  --repository $(IMAGE_REPO) --tag $(IMAGE_TAG) --commit $(COMMIT) --out $(BIN)/image $(if $(REGISTRY),--push)

.PHONY: cluster-bin
cluster-bin: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok into bin/k8s (cached)
	hack/cluster-bin.sh $(BIN)/k8s

.PHONY: test-deps
test-deps: ## Install what the tests need beyond Go (prometheus, procps, git, make) when missing
	hack/test-deps.sh

.PHONY: test
test: test-deps cluster-bin test-tools ## Run every test: unit, fuzz seeds, integration and e2e on the simulated cluster
	$(GO) test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-tools
test-tools: ## Build the pinned tools the tests run (helm, promtool: tools/, once into the cache)
	hack/tool.sh helm version --short >/dev/null
	hack/tool.sh promtool --version >/dev/null

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint (built from tools/lint, cached), go mod tidy check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	hack/tool.sh golangci-lint run ./...
	hack/verify-tidy.sh

.PHONY: verify
verify: lint ## Regenerate generated files (deepcopy, CRDs, CLI docs) and fail on a diff; check the plugin's size and start-up memory
	hack/verify-docs.sh
	hack/verify-generate.sh
	$(GO) run ./hack/pluginsize

.PHONY: generate
generate: ## Regenerate deepcopy functions and CRDs (config/crd) from the API markers
	hack/generate.sh

.PHONY: docs
docs: ## Regenerate the CLI reference in docs/cli
	$(GO) run ./hack/gendocs docs/cli

.PHONY: demo
demo: build cluster-bin ## Start the simulated GPU cluster, schedule GPU workloads on it, show the result, stop it
	hack/demo.sh

.PHONY: bench
bench: build cluster-bin ## Run the benchmarks (numbers go to docs/benchmarks.md); takes over 30 minutes
	$(GO) test -run '^$$' -bench . -skip 'Cluster' -benchmem ./...
	@# Whole-cluster benchmarks take seconds per iteration: a fixed count keeps the run short.
	$(GO) test -run '^$$' -bench 'Cluster' -benchtime=$${CLUSTER_BENCHTIME:-3x} ./...
	@# dynamoctl preflight and gpus on 2,000 nodes and 20,000 pods, beside upstream's script and
	@# gpu_inventory.py when ORIGINALS names their directory (docs/benchmarks.md), and the floors of
	@# their requests.
	$(GO) run ./bench/fleet -dynamoctl $(BIN)/dynamoctl $(if $(ORIGINALS),-originals $(ORIGINALS))
	@# dynamo-operator as the image ships it (built by the benchmark): 500 graphs at once on 2,000
	@# nodes and 20,000 other pods, then on 5,000 and 50,000; then 100 with a 2-node decode (LeaderWorkerSet).
	$(GO) run ./bench/operator
	@# Its floor: the same children applied once each by the benchmark itself, no operator.
	$(GO) run ./bench/operator -floor
	$(GO) run ./bench/operator -nodes 5000 -pods 50000
	$(GO) run ./bench/operator -floor -nodes 5000 -pods 50000
	$(GO) run ./bench/operator -multinode -graphs 100
	@# DynamoGraphDeployment conversion: the webhook per object, and LIST of 500 graphs converted or not.
	$(GO) run ./bench/conversion
	@# dynamoctl explain against kubectl get pods -l <the graph's selector> on 2,000 nodes and 20,000 pods.
	$(GO) run ./bench/explain -dynamoctl $(BIN)/dynamoctl -operator $(BIN)/dynamo-operator
	@# dynamoctl plan -f (exact and heuristic) against dynamoctl gpus on 2,000 nodes and 20,000 pods.
	$(GO) run ./bench/plan -dynamoctl $(BIN)/dynamoctl

.PHONY: clean
clean: ## Remove build outputs (the cluster-binary cache under ~/.cache stays)
	rm -rf $(BIN) .demo
