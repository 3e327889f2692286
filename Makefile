# tlsrptd: the commands people type. CMake does the building (build/), ctest runs the tests.
#   make deps    install the missing Debian packages (no-op when all are present)
#   make         build build/tlsrptd
#   make run     deps + build + start the collector on 127.0.0.1:8080 with var/tlsrptd.db
#   make test    deps + build + every test (unit and integration)
#   make asan    deps + AddressSanitizer/UBSan build in build-asan/ + every test against it
#   make bench   deps + build + the benchmarks in tests/bench/

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Warnings are errors in CI (CI=true), plain warnings for people.
ifeq ($(CI),true)
CMAKE_FLAGS += -DTLSRPT_WERROR=ON
endif

DEB_PACKAGES = build-essential cmake pkg-config libmicrohttpd-dev libssl-dev libsqlite3-dev \
	libjansson-dev zlib1g-dev libcmocka-dev python3 curl ca-certificates

.PHONY: all build deps run test asan bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@mkdir -p var
	./$(BUILD)/tlsrptd serve -c collector/tlsrptd.conf

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTLSRPT_SANITIZE=ON -DTLSRPT_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

bench: deps build
	tests/bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
