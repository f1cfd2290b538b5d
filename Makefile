# K2K Auto-Invoice. `make demo` runs the system and walks a demo order through its life;
# `make test` runs every test (it builds the pinned Temporal CLI and versitygw first).
SHELL := /bin/bash
GO_TEST_FLAGS ?= -count=1 -timeout 20m
# PROFILE=dev (default): the Temporal CLI dev server; PROFILE=cluster: the real Temporal server on
# PostgreSQL with two workers and two gateways (see scripts/devstack.sh).
PROFILE ?= dev
export PROFILE

.PHONY: help demo up down tools system-packages build unit test test-server monitoring-check faults bench fuzz mutate docs-check lint fmt clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 14

demo: ## Start the dev stack and walk a demo order from confirmation to paid.
	scripts/demo.sh

up: ## Start the stack in the background (PROFILE=dev, or PROFILE=cluster for the real Temporal server).
	scripts/devstack.sh up

down: ## Stop the stack, whichever profile runs.
	scripts/devstack.sh down

tools: system-packages ## Build the pinned Temporal CLI and server, the UI server, versitygw, workflowcheck and staticcheck into .dev/bin.
	scripts/devstack.sh tools

system-packages: ## Install the Debian packages tests call (xmllint, pdftotext, pdfdetach) when they are missing.
	scripts/system-packages.sh

build: ## Build the four binaries into bin/: worker, gateway, codec-server, starter.
	go build -o bin/ ./worker ./gateway ./codec-server ./starter

# Packages whose tests need no server: the domain, the workflow (testsuite), the activities, the
# worker's units, configuration, payload encryption and the codec server, PDF, compose (the gateway's
# tests start servers since they test its decisions end to end).
UNIT_PACKAGES = ./internal/invoice ./workflows ./activities ./internal/config \
	./internal/payloadcrypt ./codec-server ./internal/pdf ./internal/pathseg ./internal/compose ./internal/app ./worker
unit: system-packages ## The tests that need no server (seconds; no tools build).
	go test $(GO_TEST_FLAGS) $(UNIT_PACKAGES)

test: tools ## Run every test: unit, workflow (testsuite), replay and integration on real servers.
	go vet ./...
	.dev/bin/workflowcheck -config workflowcheck.config.yaml ./...
	.dev/bin/staticcheck ./...
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) monitoring-check
	$(MAKE) test-server
	$(MAKE) fuzz FUZZTIME=10s

test-server: tools ## The integration suite again, on the real Temporal server on PostgreSQL (the cluster profile's config).
	K2K_TEST_TEMPORAL=server go test $(GO_TEST_FLAGS) ./integration

faults: tools ## Run the whole fault suite (processes killed, rolling restarts, Temporal restarted, S3 and PostgreSQL outages); about 16 minutes.
	K2K_FAULTS=full go test -count=1 -timeout 60m -v ./faults

# A module of its own (deploy/monitoring-check/doc.go says why), so `go test ./...` above skips it.
MONITORING_CHECK = deploy/monitoring-check
monitoring-check: tools ## Check deploy/prometheus and deploy/grafana: Prometheus' parser, metrics a real worker and gateway export, the alerts the ops guide names.
	cd $(MONITORING_CHECK) && go vet ./... && ../../.dev/bin/staticcheck ./...
	cd $(MONITORING_CHECK) && go test $(GO_TEST_FLAGS) ./...

BENCH_FLAGS ?=
bench: tools ## Measure throughput, latency, history and worker cost per invoice, list latency and memory (docs/performance.md); run it on a quiet machine.
	go run ./bench $(BENCH_FLAGS)

FUZZTIME ?= 60s
fuzz: ## Fuzz request decoding and the workflow against its model (briefly in make test; FUZZTIME=5m for longer).
	go test -run='^$$' -fuzz=FuzzDecodeOrder -fuzztime=$(FUZZTIME) ./internal/invoice
	go test -run='^$$' -fuzz=FuzzDecodeActionBody -fuzztime=$(FUZZTIME) ./internal/gateway
	go test -run='^$$' -fuzz=FuzzWorkflowModel -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./workflows

docs-check: ## Load the gateway's API reference page (/docs) in headless Chromium (installed if missing) with no network; prints a screenshot's path.
	scripts/docs-check.sh

MUTATE_PACKAGES ?= internal/invoice workflows activities internal/gateway
# gremlins times a mutant out at a multiple of the package's coverage run (3 by default). The
# gateway's tests start servers and a worker, whose time swings with the machine's load: at 3 a
# loaded 2-core machine timed out mutants that fail the tests within seconds when it is idle.
mutate: .dev/bin/gremlins ## Mutation testing (gremlins): efficacy and mutant coverage of each package's own tests.
	@set -o pipefail; for p in $(MUTATE_PACKAGES); do echo "==> $$p"; \
		case $$p in internal/gateway) tc=8;; *) tc=3;; esac; \
		.dev/bin/gremlins unleash --workers 1 --timeout-coefficient $$tc ./$$p | grep -v KILLED || exit 1; done

.dev/bin/gremlins: tools/gremlins/go.mod
	cd tools/gremlins && go build -o ../../.dev/bin/gremlins github.com/go-gremlins/gremlins/cmd/gremlins

lint: tools ## gofmt, go vet, staticcheck and workflowcheck (determinism of workflow code).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	.dev/bin/staticcheck ./...
	.dev/bin/workflowcheck -config workflowcheck.config.yaml ./...
	cd $(MONITORING_CHECK) && go vet ./... && ../../.dev/bin/staticcheck ./...

clean: down ## Stop the dev stack and delete its state.
	rm -rf .dev bin
