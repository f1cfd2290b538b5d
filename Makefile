# K2K Auto-Invoice. `make demo` runs the system and walks a demo order through its life;
# `make test` runs every test (it builds the pinned Temporal CLI and versitygw first).
SHELL := /bin/bash
GO_TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: demo up down tools build test faults fuzz lint fmt clean

demo: ## Start the dev stack and walk a demo order from confirmation to paid.
	scripts/demo.sh

up: ## Start the dev stack (Temporal dev server + UI, versitygw, worker) in the background.
	scripts/devstack.sh up

down: ## Stop the dev stack.
	scripts/devstack.sh down

tools: ## Build the pinned Temporal CLI, versitygw and workflowcheck into .dev/bin.
	scripts/devstack.sh tools

build: ## Build the worker and the starter into bin/.
	go build -o bin/ ./worker ./starter

test: tools ## Run every test: unit, workflow (testsuite), replay and integration on real servers.
	go vet ./...
	.dev/bin/workflowcheck ./...
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz FUZZTIME=10s

faults: tools ## Run the whole fault suite (processes killed, Temporal restarted, S3 and PostgreSQL outages); about 12 minutes.
	K2K_FAULTS=full go test -count=1 -timeout 60m -v ./faults

FUZZTIME ?= 60s
fuzz: ## Fuzz request decoding and validation (briefly in make test; FUZZTIME=5m for longer).
	go test -run='^$$' -fuzz=FuzzDecodeOrder -fuzztime=$(FUZZTIME) ./internal/invoice
	go test -run='^$$' -fuzz=FuzzDecodeActionBody -fuzztime=$(FUZZTIME) ./internal/gateway

lint: tools ## gofmt, go vet and workflowcheck (determinism of workflow code).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	.dev/bin/workflowcheck ./...

clean: down ## Stop the dev stack and delete its state.
	rm -rf .dev bin
