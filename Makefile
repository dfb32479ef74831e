# maaslab — one command builds and tests everything: `make test`.
# On a fresh Debian machine, run as root, it installs the system packages, a Node >= 22
# toolchain, the npm and Go modules, and builds the native binding, the control plane and
# its kubectl.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

ROOT := $(abspath .)
# Expensive artefacts (the pinned Node, bin/kube-testenv, bin/kubectl) are cached per
# machine, keyed by their inputs, so that a fresh clone on a warm machine does not rebuild them.
CACHE ?= $(HOME)/.cache/maaslab
export MAASLAB_CACHE := $(CACHE)

NODE_BIN := $(shell hack/ensure-node.sh)
ifeq ($(NODE_BIN),)
$(error could not find or fetch a Node >= 22 toolchain; see the messages above)
endif
NODE_DIR := $(abspath $(NODE_BIN)/..)
export PATH := $(NODE_BIN):$(ROOT)/node_modules/.bin:$(ROOT)/bin:/usr/local/go/bin:$(PATH)

NATIVE := build/Release/maaslab_libvirt.node
NATIVE_SOURCES := binding.gyp $(wildcard src/libvirt/native/*.cc src/libvirt/native/*.h)
KUBE_TESTENV := bin/kube-testenv
RESULTS := $(ROOT)/.cache/test-results

.PHONY: all test test-unit test-integration deps system-packages build native crds crds-check cloud-image \
        kube-testenv kubectl kube-node kube-network-policies argocd-health flux cluster test-cluster plugin image image-compare lint format demo bench bench-binding bench-recipe bench-recipe-tcg bench-recipe-compare bench-scale bench-scale-v8-flag bench-compare bench-bmc bench-snapshot coverage clean help

all: build native

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

system-packages: ## install missing Debian packages (root) or print the command
	@hack/ensure-system-packages.sh

# --ignore-scripts: npm would otherwise run node-gyp for our binding.gyp itself, without
# --nodedir; the addon is built by the $(NATIVE) rule below instead. No dependency needs
# its install script (esbuild ships its binary as an optional dependency).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

deps: system-packages node_modules/.installed ## everything the build needs

# npm 11 may skip install scripts, so the addon is always built here, explicitly,
# against the headers of the very node that runs the tests.
$(NATIVE): node_modules/.installed $(NATIVE_SOURCES)
	node-gyp rebuild --nodedir=$(NODE_DIR) --jobs=2

native: system-packages $(NATIVE) ## build the libvirt N-API addon

build: node_modules/.installed ## compile TypeScript to dist/
	tsc -p tsconfig.build.json

plugin: node_modules/.installed ## bundle the kubectl plugin into one file, dist/kubectl-maaslab
	tsx hack/build-plugin.ts

crds: node_modules/.installed ## regenerate crds/ from src/api, the RBAC under deploy/ from the controllers, deploy/argocd/argocd-cm-patch.yaml from its Lua
	npm run --silent gen:crds
	npm run --silent gen:rbac
	npm run --silent gen:argocd

crds-check: crds ## fail when committed crds/ differ from the generated ones
	@git diff --exit-code --stat -- crds/ deploy/base/rbac/ deploy/overlays/agent/rbac/ deploy/argocd/argocd-cm-patch.yaml || { echo "generated files are stale: run 'make crds' and commit" >&2; exit 1; }

cloud-image: system-packages ## build the controller boot test's Debian cloud image (root; cached by a hash of its inputs)
	@hack/build-cloud-image.sh >/dev/null

kube-testenv: ## build bin/kube-testenv (cached by a hash of its inputs)
	@hack/build-kube-testenv.sh

# Argo CD's own health machinery (util/lua, util/settings, gitops-engine's health) for the
# Argo CD health test: its own Go module, test/argocd-health.
argocd-health: ## build bin/argocd-health, Argo CD's Lua health evaluation as a command (cached likewise)
	@hack/build-argocd-health.sh

# Flux's source-controller and kustomize-controller, from their upstream Go modules (required
# by test/flux/go.mod), for the Flux test (test/integration/cluster/flux.test.ts).
flux: ## build bin/source-controller and bin/kustomize-controller, Flux's own (cached likewise)
	@hack/build-flux.sh

kube-node: ## build bin/kube-node (kubelet, kube-scheduler, kube-proxy) and bin/pause, the control plane's release (cached likewise)
	@hack/build-kube-testenv.sh kube-node
	@hack/build-kube-testenv.sh pause

kube-network-policies: ## build bin/kube-network-policies, the test node's NetworkPolicy enforcer (test/netpol; cached likewise)
	@hack/build-kube-testenv.sh kube-network-policies

# Needs root (mmdebstrap, file owners in the layers); installs mmdebstrap and umoci itself.
image: deps native ## the operator's OCI image from Debian packages and npm, no registry (build/image/, cached)
	@hack/build-image.sh

image-compare: image ## the Dockerfile's image (node:24-slim rebuilt from Debian and npm) against make image's: sizes, layers (build/image/compare.json)
	@hack/image-compare.sh

# Every kubectl the tests, the demo and the benchmarks run is this one (test/support/kubectl.ts),
# never PATH's: the control plane's own release, from the same go.mod.
kubectl: ## build bin/kubectl, the control plane's release with its kustomize (cached likewise)
	@hack/build-kube-testenv.sh kubectl

lint: node_modules/.installed ## ESLint, Prettier and the type checker
	tsc -p tsconfig.json --noEmit
	eslint .
	prettier --check .

format: node_modules/.installed
	prettier --write .
	eslint --fix .

test-unit: deps native kubectl ## unit tests: pure code and the libvirt test driver
	@mkdir -p $(RESULTS)
	MAASLAB_RESULTS=$(RESULTS)/unit.json mocha --config .mocharc.unit.json

test-integration: deps native kube-testenv kubectl kube-node kube-network-policies argocd-health flux cloud-image ## real kube-apiserver + etcd, real libvirtd + QEMU, a real kubelet
	hack/test-integration.sh $(RESULTS)

test: deps native kube-testenv kubectl kube-node kube-network-policies argocd-health flux cloud-image lint ## the whole suite, as CI runs it
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@$(MAKE) --no-print-directory crds-check
	@status=0; \
	  $(MAKE) --no-print-directory test-unit || status=1; \
	  $(MAKE) --no-print-directory test-integration || status=1; \
	  node hack/test-summary.mjs $(RESULTS) unit integration integration-cluster; exit $$status

# node itself, not the tsx CLI: tsx's wrapper process would pass Ctrl-C on as a second
# SIGINT, which the demo takes as "leave now, skip the teardown".
demo: deps native kube-testenv kubectl ## the main job: the recipe lab on a private libvirtd, live
	node --import tsx hack/demo.ts

# node itself, not tsx's CLI, for the same reason as demo.
cluster: deps kube-testenv kubectl kube-node kube-network-policies ## a real single-node cluster (kubelet, containerd, CNI) left running; Ctrl-C tears it down
	node --import tsx hack/cluster.ts

test-cluster: deps native kube-testenv kubectl kube-node kube-network-policies flux ## only test/integration/cluster/: the operator's image as pods on a real kubelet
	@mkdir -p $(RESULTS)
	MAASLAB_RESULTS=$(RESULTS)/cluster.json mocha --node-option import=tsx --require test/integration/setup.ts \
	  --reporter test/support/reporter.cjs --timeout 900000 'test/integration/cluster/**/*.test.ts'

# Benchmarks run one after the other: each needs the machine to itself.
bench: deps native kube-testenv kubectl build ## all benchmarks, results in bench/RESULTS.md (not part of make test)
	@$(MAKE) --no-print-directory bench-binding
	@$(MAKE) --no-print-directory bench-recipe
	@$(MAKE) --no-print-directory bench-recipe-tcg
	@$(MAKE) --no-print-directory bench-recipe-compare
	@$(MAKE) --no-print-directory bench-scale
	@$(MAKE) --no-print-directory bench-compare
	@$(MAKE) --no-print-directory bench-scale-libvirt
	@$(MAKE) --no-print-directory bench-scale-v8-flag
	@$(MAKE) --no-print-directory bench-bmc
	@$(MAKE) --no-print-directory bench-snapshot

bench-binding: deps native ## the binding vs virsh on the test driver
	tsx bench/binding-vs-virsh.ts

# The baseline of bench-compare and bench-recipe-compare: the last commit before the
# reconcilers took the phase shape (issue 11), whose figures bench/RESULTS.md quoted.
# BASE=<commit> compares with another.
BASE ?= 0680918
bench-recipe: deps native kube-testenv kubectl ## the recipe lab six ways on a private libvirtd (needs root; BENCH_ACCEL=tcg forces TCG)
	tsx bench/recipe-lab.ts

bench-recipe-tcg: deps native kube-testenv kubectl ## bench-recipe with TCG, also on a KVM host (the private libvirtd gets no /dev/kvm)
	BENCH_ACCEL=tcg tsx bench/recipe-lab.ts

bench-recipe-compare: deps native kube-testenv kubectl build ## bench-recipe's way D, BASE's operator vs this one, alternating in one run
	tsx bench/recipe-compare.ts "$$(hack/bench-base.sh $(BASE) | tail -1)"

bench-scale: deps native kube-testenv kubectl build ## 1000 nodes on the test driver (BENCH_LIBVIRT=daemon: served by a private libvirtd, root): time, RSS, CPU, calls, profile
	tsx bench/scale.ts

bench-scale-libvirt: deps native kube-testenv kubectl build ## bench-scale's build with the test drivers in the operator vs in a private libvirtd, alternating in one run (root)
	tsx bench/scale-compare.ts --libvirt

bench-scale-v8-flag: deps native kube-testenv kubectl build ## bench-scale's build with and without the image's V8 flag, alternating in one run: RSS, CPU, GC pauses
	tsx bench/scale-compare.ts --v8-flag

bench-compare: deps native kube-testenv kubectl build ## bench-scale's build, BASE's operator vs this one, alternating in one run
	tsx bench/scale-compare.ts "$$(hack/bench-base.sh $(BASE) | tail -1)"

bench-bmc: deps native ## Redfish and IPMI power status on 100 nodes of the test driver: latency, req/s, libvirt calls
	tsx bench/bmc.ts

bench-snapshot: deps native kube-testenv kubectl ## lab snapshot capture and restore, 3 and 20 nodes, on a private libvirtd (needs root)
	tsx bench/lab-snapshot.ts

coverage: deps native kubectl ## unit-test coverage with c8 (report in coverage/)
	c8 --reporter=text-summary --reporter=html --include 'src/**' mocha --config .mocharc.unit.json

clean:
	rm -rf dist build $(RESULTS)
