# EchoNet — the project brings its own Node 24 (scripts/ensure-node.sh) so a fresh machine needs
# only the system npm, Go and apt.
SHELL := /bin/bash
NODE_VERSION := 24.9.0
NODE_BIN := $(CURDIR)/.tools/node-v$(NODE_VERSION)/bin
export PATH := $(NODE_BIN):$(PATH)
export ECHONET_NODE_VERSION := $(NODE_VERSION)
# Go-built cluster binaries (etcd, kube-*, helm) are cached outside the repo.
ECHONET_CACHE ?= $(HOME)/.cache/echonet
ECHONET_BIN_DIR ?= $(ECHONET_CACHE)/bin
export ECHONET_CACHE ECHONET_BIN_DIR

.PHONY: up down setup build images kind-up kind-down drill bench-cluster typecheck lint format test test-unit test-testnet test-images test-cluster bench testnet testnet-down testnet-status cluster-up cluster-down clean

$(NODE_BIN)/node:
	./scripts/ensure-node.sh >/dev/null

node_modules/.package-lock.json: package-lock.json $(NODE_BIN)/node
	npm ci --no-audit --no-fund
	@touch $@

ED25519_ADDON := node-image/native/ed25519/echonet_ed25519.node
$(ED25519_ADDON): node-image/native/ed25519/Cargo.toml node-image/native/ed25519/Cargo.lock node-image/native/ed25519/build.rs node-image/native/ed25519/src/lib.rs
	./scripts/build-native.sh

ERASURE_ADDON := node-image/native/erasure/echonet_erasure.node
$(ERASURE_ADDON): node-image/native/erasure/Cargo.toml node-image/native/erasure/Cargo.lock node-image/native/erasure/build.rs node-image/native/erasure/src/lib.rs
	./node-image/native/erasure/build.sh

## setup: Node 24 + npm packages + native addons: the Ed25519 verifier (ADR 0006) and the
## Reed-Solomon kernel (ADR 0009), both Rust from crates.io
setup: node_modules/.package-lock.json $(ED25519_ADDON) $(ERASURE_ADDON)

typecheck: setup
	npx tsc -p tsconfig.json

## images: the echonet-node and echonet-operator OCI images (no Docker daemon, nothing pulled; ADR
## 0012) in dist/images/*.oci.tar; prints their digests (also in dist/images/images.json)
images: setup
	images/build.sh

## build: typecheck, then emit JS to dist/ for the container images
build: typecheck
	npx tsc -p node-image/tsconfig.build.json

lint: setup
	npx eslint .
	npx prettier --check .

format: setup
	npx prettier --write .

test-unit: setup
	npx vitest run --project unit

test-testnet: setup
	npx vitest run --project testnet

## test-images: builds both images (or reuses the build), checks them reproducible, non-root, without
## shell or package manager, runs them from themselves, and imports them into containerd as kind does
test-images: setup
	scripts/ensure-debs.sh dpkg-deb unshare nsenter containerd ctr runc
	npx vitest run --project images

## test-cluster: tier 3 — starts the local control plane (building it on first use), runs the
## cluster suite against it with the real kubectl and helm, stops it
test-cluster: setup
	scripts/ensure-debs.sh ip nsenter unshare
	e2e/cluster/build-binaries.sh helm
	e2e/cluster/cluster-up.sh
	KUBECONFIG=$(CURDIR)/.cluster/kubeconfig npx vitest run --project cluster; rc=$$?; e2e/cluster/cluster-down.sh; exit $$rc

## test: everything CI runs (tiers 1–3 of DESIGN §7)
test: setup typecheck lint test-unit test-testnet test-images test-cluster

## bench: benchmarks; reports land in docs/bench/
bench: setup
	node node-image/bench/consensus.ts
	taskset -c 0 node node-image/bench/erasure.ts $(if $(KLAUSPOST_PARTNER),--klauspost $(KLAUSPOST_PARTNER))
	node node-image/bench/repair.ts
	node node-image/bench/content.ts
	node node-image/bench/shard-transfer.ts
	node node-image/bench/scenario-a.ts
	node node-image/bench/attack.ts
	$(MAKE) bench-cluster

## bench-cluster: scenario A driven by the operator on the local cluster (3 runs); docs/bench/scenario-a-cluster.*
bench-cluster: setup
	e2e/cluster/build-binaries.sh helm
	e2e/cluster/cluster-up.sh
	node e2e/cluster/scenario-a-drill.ts --bench --runs 3; rc=$$?; e2e/cluster/cluster-down.sh; exit $$rc

## testnet: 4 witnesses + 1 standby as processes on loopback, then a kill/restart drill
testnet: setup
	node node-image/src/cli/main.ts testnet down --dir .testnet
	node node-image/src/cli/main.ts testnet up --witnesses 4 --standbys 1 --dir .testnet
	node node-image/src/cli/main.ts testnet drill --dir .testnet

testnet-status: setup
	node node-image/src/cli/main.ts testnet status --dir .testnet

testnet-down: setup
	node node-image/src/cli/main.ts testnet down --dir .testnet

## up: the main job — local cluster, then scenario A as a drill: four machines, the operator (helm),
## 7 witnesses + 4 standbys under a standing policy; machine a (5 witnesses) is lost for good and the
## operator recovers by itself; report in .cluster/drill-report.md; leaves it running
up: setup
	e2e/cluster/up.sh

## down: stops what `make up` started (machines and their pods, then the control plane)
down:
	-e2e/cluster/machines-down.sh
	-e2e/cluster/agent-down.sh
	e2e/cluster/cluster-down.sh

## kind-up: for users with Docker and kind (DESIGN §7 tier 4): make images, a kind cluster
## (e2e/kind/cluster.yaml), kind load image-archive, helm install pinned to the built digests,
## the example network until Ready. kind-down deletes the cluster.
kind-up: setup
	e2e/kind/kind-up.sh

kind-down:
	e2e/kind/kind-down.sh

## drill: loses a witness pod of the example network (current kubectl context, e.g. kind after
## kind-up) and measures the recovery
drill:
	e2e/kind/drill.sh

## cluster-up / cluster-down: the local Kubernetes control plane (DESIGN §7 tier 3)
cluster-up:
	e2e/cluster/cluster-up.sh

cluster-down:
	e2e/cluster/cluster-down.sh

clean:
	rm -rf node_modules */node_modules dist */dist .testnet
