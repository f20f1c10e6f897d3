# Cairn: `make demo` and `make test` take a fresh machine (Node 20.19+, npm, make) all the way.
SHELL := /bin/bash
export ONNXRUNTIME_NODE_INSTALL := skip
export NODE_OPTIONS := --max-old-space-size=8192

.PHONY: install demo test typecheck lint unit bench up clean

# Reinstall only when the lockfile changed since the last install.
node_modules/.cairn-installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.cairn-installed

typecheck: install
	npx tsc --noEmit

lint: install
	npx eslint .

unit: install
	npx vitest run

test: typecheck lint unit

demo: install
	npx tsx examples/flights/demo.ts

bench: install
	npm run bench

up: install
	./bin/cairn.js up

clean:
	rm -rf node_modules .cairn
