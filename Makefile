# The two commands of the README's quick start are `make run` and `make test`.
.PHONY: all deps node-deps system-deps docker-images build typecheck run test test-unit test-integration test-docker fuzz demo bench bench-quick clean

NPM_STAMP := node_modules/.package-lock.json

all: build

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

node-deps: $(NPM_STAMP)

system-deps:
	./scripts/install-system-deps.sh

deps: system-deps node-deps

## The Docker engine (installed and started when missing) and every image the container tests
## use, built locally without a registry; base images are kept between runs. See docs/DEPLOY.md.
docker-images:
	./scripts/docker/build-images.sh

build: node-deps
	npm run build

typecheck: node-deps
	npx tsc -p tsconfig.test.json --noEmit

## Runs the proxy on 0.0.0.0:5673 in front of the broker at 127.0.0.1:5672 (override with PROXY_UPSTREAM=...).
run: build
	node dist/main.js

test-unit: node-deps
	npx uvu -r tsx/cjs test/unit

test-integration: deps build
	npx uvu -r tsx/cjs test/integration

## Everything: types, unit tests, integration tests against the real broker (the host's
## RabbitMQ 3.10 and a RabbitMQ 4.0 container), the image, compose and webhook containers.
test: deps build typecheck docker-images
	node scripts/run-tests.js

## The inner loop for deployment work: the RabbitMQ 4.0 run and test/docker only.
test-docker: deps build docker-images
	node scripts/run-tests.js docker

## Fuzzes the frame scanner and the headers splice: make fuzz N=5000000 (a bounded share runs in test-unit).
N ?= 1000000
fuzz: node-deps
	npx tsx test/fuzz/run.ts $(N)

demo: deps build
	npx tsx demo/run.ts

## The benchmark of issue 8: full size takes about 12 minutes per round (BENCH_ROUNDS=3 for medians),
## plus the sidecar table of issue 24 (5 rounds of its own, about 25 minutes with every target).
bench: deps build
	npx tsx bench/run.ts

bench-quick: deps build
	BENCH_QUICK=1 npx tsx bench/run.ts

clean:
	rm -rf dist
