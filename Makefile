# Backlink Outreach Engine. `make dev` to try it, `make test` to test it.
GO       ?= go
TOOLS    := $(CURDIR)/.tools/bin
TEMPORAL := $(TOOLS)/temporal
# Newer CLI versions cannot be built with `go install`.
TEMPORAL_CLI_VERSION := v1.5.1
FUZZTIME ?= 5s
BENCHTIME ?= 1x

# Fuzz targets as package:Target, explored by `make fuzz` (FUZZTIME each).
# `make test` runs their seed corpora and every failure ever found
# (testdata/fuzz) as plain tests: the gate stays deterministic, a random
# new finding does not turn an unrelated change red.
FUZZ_TARGETS := \
	./models:FuzzNormalizeURL \
	./models:FuzzRender \
	./api:FuzzValidateLead \
	./internal/inbox:FuzzParse \
	./internal/inbox:FuzzDecodeQP \
	./internal/inbox:FuzzNormalizeText \
	./internal/inbox:FuzzContainsFoldASCII

.PHONY: build run dev test test-go fuzz bench lint tools env-example clean

build:
	$(GO) build -o bin/outreach ./cmd/outreach

# Run the API on the embedded SQLite database.
run: build
	./bin/outreach serve

# Try it: the Temporal dev server and Web UI, the API and the worker, the
# dev mailbox and a dev user, in this terminal (`outreach dev`). Ctrl-C
# stops it; the data stays in OUTREACH_DATA_DIR (./.data) for the next run.
dev: tools build
	TEMPORAL_CLI=$(TEMPORAL) ./bin/outreach dev

test: tools
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	TEMPORAL_CLI=$(TEMPORAL) $(GO) test -race -count=1 -timeout 40m ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Speed goals: each benchmark prints the project's figure beside a baseline
# measured in the same run. Needs TEST_DATABASE_URL for the PostgreSQL ones.
bench: tools
	TEMPORAL_CLI=$(TEMPORAL) $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./...

GOLANGCI := $(TOOLS)/golangci-lint
GOLANGCI_VERSION := v2.15.0

# golangci-lint v2 with .golangci.yml (gofumpt, goimports, errorlint, gosec,
# bodyclose, noctx, contextcheck, ...); built into .tools/bin on first use.
lint: $(GOLANGCI)
	$(GO) vet ./...
	$(GOLANGCI) run ./...

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

# The Temporal CLI (dev server and Web UI), built once into .tools/bin.
tools: $(TEMPORAL)

$(TEMPORAL):
	@echo "building the Temporal CLI $(TEMPORAL_CLI_VERSION) into .tools/bin (first time only, several minutes)"
	GOBIN=$(TOOLS) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

env-example:
	$(GO) run ./internal/config/gen

clean:
	rm -rf bin
