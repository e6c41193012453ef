# bulkassign developer targets. Every target is plain go tooling; nothing
# here installs anything globally.

GO          ?= go
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# staticcheck 2026.2.2: the first release line that supports Go 1.26
# (2025.1.x predates it). Fetched through the module proxy on first use.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 10s

.PHONY: all test test/race lint bench bench/micro fuzz build demo image deploy-check clean

all: lint test

test:
	$(GO) test ./...

test/race:
	$(GO) test -race -p 1 ./...

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) run $(STATICCHECK) ./... || { rc=$$?; \
	  echo "lint: staticcheck ($(STATICCHECK)) failed with exit $$rc: either findings above, or it could not run"; \
	  echo "lint: (it needs the module proxy on first use and a release that supports $$($(GO) env GOVERSION))."; \
	  exit $$rc; }

# The row benchmarks (BENCHMARKS.md): whole runs of bulkassign as its own
# process, each reporting cpu-us/row and rows/s. BENCHTIME=3x repeats each.
BENCHTIME   ?= 1x
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=$(BENCHTIME) -timeout=60m .

# The micro-benchmarks of the packages (ingest, jobs, graph, …).
bench/micro:
	$(GO) test -run='^$$' -bench=. -benchmem $$($(GO) list ./... | grep -v '^github.com/bulkassign/bulkassign$$')

# Runs every Fuzz target for FUZZTIME each (go test -fuzz takes one target
# per package at a time). Seeds live in each package's testdata/fuzz/.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
	  for fn in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -c6-); do \
	    echo "fuzz $$dir $$fn ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$dir; \
	  done; \
	done

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/bulkassign .

demo:
	$(GO) run . demo

image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t bulkassign:$(VERSION) .

# Checks deploy/ with promtool and kubectl when they are installed
# (apt-get install prometheus provides promtool); go test ./metrics checks
# the metric names used there without any tool.
deploy-check:
	@if command -v promtool >/dev/null; then \
	  promtool check rules deploy/alerts.yaml && \
	  promtool test rules deploy/alerts_test.yaml && \
	  promtool check config deploy/prometheus.yml; \
	else echo "deploy-check: promtool not installed, skipping rule checks (apt-get install prometheus)"; fi
	@if command -v kubectl >/dev/null; then \
	  kubectl kustomize deploy/kubernetes >/dev/null && echo "kustomize: deploy/kubernetes renders"; \
	else echo "deploy-check: kubectl not installed, skipping kustomize render"; fi
	$(GO) test -run 'Alerts|Grafana|DeploymentContracts' ./metrics

clean:
	rm -rf bin
