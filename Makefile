# The two commands of the README: `make demo` and `make test`.
GO  ?= go
BIN := bin/hastack

.PHONY: demo test build setup lint clean

demo: setup build
	./scripts/demo.sh

test:
	./scripts/setup.sh test
	HASTACK_REQUIRE_POSTGRES=1 HASTACK_REQUIRE_CHROMIUM=1 $(GO) test -race -count=1 -timeout 14m ./...

build:
	$(GO) build -o $(BIN) ./cmd/hastack

setup:
	./scripts/setup.sh

lint:
	test -z "$$(gofmt -l .)"
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin
