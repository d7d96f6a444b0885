# printfleet — every habit starts here. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV := . scripts/env.sh &&
# Every module of the workspace, as package patterns.
MODULES = $$(go list -m -f '{{.Dir}}/...')
# The same without the end-to-end suite, which runs alone afterwards: it starts
# the whole fleet and restarts datastores in its fault scenarios.
UNIT_MODULES = $$(go list -m -f '{{.Dir}}/...' | grep -v '/tests/e2e/')
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
# The fleet's binaries are linked without DWARF (-ldflags=-w): nothing here
# reads it (panics and pprof use the symbol table, which stays), and linking
# the nine binaries with it costs about four times the CPU (36 s instead of
# 9 s on two cores), and every rebuild after a change relinks them all.
run: infra ## Install what is missing, start infrastructure + the whole fleet + sandbox, load the demo catalog
	@$(ENV) GOFLAGS="$$(go env GOFLAGS) -ldflags=-w" go run ./tests/e2e/cmd/fleet

.PHONY: test
test: infra ## Every test of every module, with -race, against real PostgreSQL, Redis, RabbitMQ and S3
	@$(ENV) go test $(GOTEST_FLAGS) $(UNIT_MODULES)
	@$(ENV) go test $(GOTEST_FLAGS) ./tests/e2e/...

.PHONY: test-short
test-short: ## Unit tests only (no servers needed)
	@$(ENV) go test -short -count=1 $(MODULES)

.PHONY: infra
infra: ## Install/start PostgreSQL, Redis, RabbitMQ and versitygw (S3), building only versitygw
	@bash scripts/infra.sh up

.PHONY: tools
tools: ## Build the pinned buf, protoc plugins and staticcheck into bin/ (cached)
	@bash scripts/infra.sh tools

.PHONY: generate
generate: tools ## Regenerate Go/gRPC/gateway/OpenAPI code from proto/
	@bash scripts/dev/generate.sh

.PHONY: lint
lint: tools ## gofmt, buf lint/format/breaking, generated code fresh, go vet, staticcheck (every module)
	@bash scripts/infra.sh install # vet and staticcheck compile the cgo of libvips-dev
	@bash scripts/dev/lint.sh

.PHONY: token
token: ## Mint a dev JWT: make token SUB=alice ROLES=user[,admin,fulfillment,support]
	@$(ENV) go run ./services/gateway/cmd/token -sub "$(or $(SUB),alice)" -roles "$(or $(ROLES),user)"

.PHONY: bench
bench: infra ## Benchmarks against the running-fleet setup, with the machine's own limits, in one table
	@$(ENV) go run ./bench/cmd/bench

.PHONY: fmt
fmt: ## gofmt every module
	@gofmt -l -w $$(go list -m -f '{{.Dir}}')

.PHONY: images
images: ## Build every container image (REGISTRY=…, TAG=…, PUSH=1; needs a Docker engine)
	@bash deploy/docker/build.sh

.PHONY: manifests
manifests: ## Regenerate deploy/k8s/manifests and the dashboard from the Helm chart
	@go run ./deploy/cmd/render
