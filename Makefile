# Cairn: `make demo` and `make test` take a fresh machine (Node 20.19+, npm, make) all the way.
SHELL := /bin/bash
export ONNXRUNTIME_NODE_INSTALL := skip
export NODE_OPTIONS := --max-old-space-size=8192

.PHONY: install demo test typecheck lint unit bench up clean python-onnx

# Reinstall only when the lockfile changed since the last install.
node_modules/.cairn-installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.cairn-installed

typecheck: install
	npx tsc --noEmit

lint: install
	npx eslint .

# The ONNX tests check every exported model with Debian's python3-onnx (onnx.checker).
python-onnx:
	@/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || { \
	  echo 'installing python3-onnx (Debian) for the ONNX validity checks'; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-onnx; } >/tmp/cairn-apt.log 2>&1 || \
	  { cat /tmp/cairn-apt.log; echo 'could not install python3-onnx: run `apt-get install python3-onnx` as root'; exit 1; }; }

unit: install python-onnx
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
