# The two commands of the README: `make demo` and `make test`.
GO  ?= go
BIN := bin/hastack
# The stack make demo runs.
STACK ?= examples/quick/stack.hcl

# Tests that need something of the machine fail without it here, instead of
# skipping; `make test TEST_ENV=` skips them, each with the reason.
TEST_ENV ?= HASTACK_REQUIRE_POSTGRES=1 HASTACK_REQUIRE_MARIADB=1 HASTACK_REQUIRE_CHROMIUM=1 HASTACK_REQUIRE_NETADMIN=1 HASTACK_REQUIRE_PROMETHEUS=1

.PHONY: demo test build setup lint fuzz clean

# make demo STACK=examples/quick-mysql/stack.hcl runs it on MySQL.
demo: setup build
	STACK=$(STACK) ./scripts/demo.sh

# Lint first: it fails in seconds. The database tier's tests run after the
# rest, not beside the end-to-end ones: both run stacks of real servers
# with second-scale timing, and on a two-core machine each made the other
# miss its bounds. Allocation counts mean nothing under -race (its
# sync.Pool drops buffers), so those tests run again without it.
test: lint
	./scripts/setup.sh test
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 25m $$($(GO) list ./... | grep -v '/internal/rds$$')
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 25m ./internal/rds
	$(GO) test -count=1 -run 'Alloc' ./internal/alb ./internal/route53
	GO=$(GO) ./scripts/fuzz.sh

build:
	$(GO) build -o $(BIN) ./cmd/hastack

setup:
	STACK=$(STACK) ./scripts/setup.sh

lint:
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .) || exit 1; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz:
	GO=$(GO) ./scripts/fuzz.sh

clean:
	rm -rf bin
