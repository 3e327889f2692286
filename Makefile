# tlsrptd: the commands people type. CMake does the building (build/), ctest runs the tests.
#   make deps    install the missing Debian packages (no-op when all are present)
#   make         build build/tlsrptd
#   make run     deps + build + start the collector on 127.0.0.1:8080 with var/tlsrptd.db
#   make test    deps + build + every test (unit and integration)
#   make asan    deps + AddressSanitizer/UBSan build in build-asan/ + every test against it
#   make bench   deps + build + the benchmarks in tests/bench/
#   make fuzz    clang + libFuzzer build in build-fuzz/, each target run FUZZ_SECONDS (default 20)

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Warnings are errors in CI (CI=true), plain warnings for people.
ifeq ($(CI),true)
CMAKE_FLAGS += -DTLSRPT_WERROR=ON
endif

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
TLS_DIR    ?= var/tls

DEB_PACKAGES = build-essential cmake pkg-config libmicrohttpd-dev libssl-dev libsqlite3-dev \
	libjansson-dev zlib1g-dev libcmocka-dev python3 curl ca-certificates openssl swaks \
	python3-dkim python3-nacl opendkim-tools dnsmasq-base chromium
FUZZ_PACKAGES = clang libclang-rt-14-dev
# The dashboard's end-to-end test (tests/e2e) drives Debian's chromium with playwright-core from
# npm (no browser download); Debian's nodejs and npm are installed when there is no node at all.
E2E_DIR    = tests/e2e

.PHONY: all build deps fuzz-deps e2e-deps run test asan bench fuzz clean

all: build

deps: PACKAGES = $(DEB_PACKAGES)
fuzz-deps: PACKAGES = $(DEB_PACKAGES) $(FUZZ_PACKAGES)
deps fuzz-deps:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

e2e-deps: deps
	@if [ ! -d $(E2E_DIR)/node_modules/playwright-core ]; then \
		if ! command -v npm >/dev/null 2>&1; then \
			echo "make e2e-deps: installing nodejs npm"; \
			if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi; \
			$$sudo apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends nodejs npm; \
		fi; \
		echo "make e2e-deps: npm ci in $(E2E_DIR)"; \
		cd $(E2E_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; \
	fi

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# A self-signed certificate for STARTTLS on first run (replace it with a real one: see README).
$(TLS_DIR)/cert.pem:
	@mkdir -p $(TLS_DIR)
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$$(hostname -f 2>/dev/null || hostname)" \
		-keyout $(TLS_DIR)/key.pem -out $(TLS_DIR)/cert.pem 2>/dev/null
	@chmod 600 $(TLS_DIR)/key.pem

run: deps build $(TLS_DIR)/cert.pem
	@mkdir -p var
	./$(BUILD)/tlsrptd serve -c collector/tlsrptd.conf

test: deps e2e-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps e2e-deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTLSRPT_SANITIZE=ON -DTLSRPT_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

bench: deps build
	tests/bench/run.sh $(BUILD)

fuzz: fuzz-deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTLSRPT_FUZZ=ON -DTLSRPT_TESTS=OFF \
		-DTLSRPT_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for f in $(FUZZ_BUILD)/tests/fuzz/fuzz_*; do \
		[ -x "$$f" ] || continue; name=$$(basename $$f); \
		mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
		seeds=tests/fuzz/seeds/$$name; [ -d "$$seeds" ] || seeds=; \
		echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus/$$name $$seeds 2>$(FUZZ_BUILD)/$$name.log || \
			{ tail -50 $(FUZZ_BUILD)/$$name.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/$$name.log || true; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
