# Signet: `make run` starts the dev CA, `make test` runs every test.
GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
STATE_DIR ?= var/signet

# Code generators, pinned so that `make generate` reproduces the committed
# files byte for byte. buf runs local plugins only (no remote deps).
BUF_VERSION                ?= v1.75.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1

.PHONY: run test generate lint lint-ci build tools check-generated

## run: start signetd with its embedded dev defaults (private PostgreSQL, dev CA, simulated providers);
##      ARGS adds flags, e.g. make run ARGS="--otlp-endpoint 127.0.0.1:4317"
run:
	$(GO) run ./cmd/signetd --dev --state-dir $(STATE_DIR) $(ARGS)

## test: every test with the race detector, against real PostgreSQL (127.0.0.1:5432 or TEST_DATABASE_URL), then a short run of every fuzz target
test:
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) fuzz-smoke

# Every Go fuzz target, as package:name. Plain `go test` already runs each
# one over its seeds (f.Add and testdata/fuzz/<name>/); fuzz-smoke then
# mutates for FUZZTIME each: 20000 inputs, 1 to 5 s a target here (from
# 4,000/s for OCSP GET to 40,000/s for identifyData), under 2 minutes in
# all with the builds. A count, not a duration: with a duration, go1.26's
# fuzz coordinator can report "context deadline exceeded" when the time
# is up on a loaded machine, with no failing input (go.dev/issue/75804,
# fixed in go1.27). A failure leaves its input in testdata/fuzz/<name>/.
FUZZTIME ?= 20000x
FUZZ_TARGETS = ./ca:FuzzParseCSR ./ca/evidence:FuzzVerifyEvidence ./ca/proof:FuzzVerifyProof \
	./store:FuzzPageToken ./ocsp:FuzzParseRequest ./ocsp:FuzzOCSPPost ./ocsp:FuzzOCSPGet \
	./cmd/signet/admin:FuzzAdminFilters ./npki:FuzzOpenKey ./npki:FuzzDecryptPKCS8 ./ca/identity:FuzzFromCertificateSAN

## fuzz-smoke: run each fuzz target for FUZZTIME (default 20000x: that many inputs)
.PHONY: fuzz-smoke
fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

## build: signetd and signet into bin/
build:
	$(GO) build -o bin/ ./cmd/signetd ./cmd/signet

tools:
	$(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

## generate: regenerate the gRPC Go code from proto/ (committed)
generate: tools
	PATH="$(GOBIN):$$PATH" buf lint
	PATH="$(GOBIN):$$PATH" buf generate

## check-generated: fail if the committed generated code is stale
check-generated: generate
	git diff --exit-code -- proto/

## lint: proto lint, gofmt and go vet
lint: tools
	PATH="$(GOBIN):$$PATH" buf lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# lint-ci: the checks that need no tool downloads (CI runs them before the tests)
lint-ci:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

## bench-peer: Signet beside step-ca v0.30.2 under bench/load, alternating pairs (PEER_N=300 PEER_C="8 32" PEER_ROUNDS=1 for a quick run); writes bench/peer/last-run.md
.PHONY: bench-peer
bench-peer:
	GO=$(GO) bench/peer/run.sh
