# A thin wrapper over CMake. The README's two commands are `make demo` and `make check`.
#
#   make                 configure and build into build/
#   make demo            the two-process demo (examples/demo_server.c, demo_client.c) in a
#                        private world: umach-run -- examples/demo_world
#   make demo-threads    the one-process demo (examples/demo.c): a server and a client thread
#   make check           every test: gcc -Werror build and its tests, the same tests under
#                        valgrind (VALGRIND=0 skips), clang ASan+UBSan build and its tests,
#                        clang ThreadSanitizer build and its tests (TSAN=0 skips),
#                        install check, a quick run of each benchmark, a short fuzz run,
#                        the macOS check when present
#   make install PREFIX=/some/dir
#   make bench           build the benchmarks (Release) and run each once
#   make valgrind        the gcc build's tests under valgrind
#   make check-tsan      the clang ThreadSanitizer build (build-tsan/) and its tests
#   make stress          tests/stress for STRESS_SECONDS (300) in the gcc build, printing the
#                        resident set size every STRESS_RSS_EVERY seconds (10) and its growth
#   make clean

BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CMAKE_ARGS ?=
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)
FUZZ_SECONDS ?= 60
VALGRIND ?= 1
TSAN ?= 1
STRESS_SECONDS ?= 300
STRESS_RSS_EVERY ?= 10
# mt.h's watchdog limit per test and ctest's per program, scaled for valgrind's slowdown.
VALGRIND_TIMEOUT_SCALE ?= 10

export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
# A ThreadSanitizer report ends the program at once with exit code 66: any report fails.
export TSAN_OPTIONS ?= halt_on_error=1:exitcode=66:second_deadlock_stack=1

.PHONY: all build configure deps demo demo-threads check check-gcc build-gcc check-asan build-asan \
        check-tsan build-tsan stress check-install bench-smoke fuzz-check darwin-check install bench valgrind clean

all: build

configure:
	@test -f $(BUILD)/CMakeCache.txt || $(CMAKE) -S . -B $(BUILD) $(CMAKE_ARGS)

build: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS)

deps:
	@bash scripts/ensure-deps.sh

demo: deps configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target example_demo_server example_demo_client \
	  example_demo_world umachd umach-run
	./$(BUILD)/tools/umach-run -- ./$(BUILD)/examples/demo_world

demo-threads: deps configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target example_demo && ./$(BUILD)/examples/demo

# The steps run one after another even under make -j.
check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check-gcc
	@if [ "$(VALGRIND)" = 1 ]; then $(MAKE) --no-print-directory valgrind; fi
	@$(MAKE) --no-print-directory check-asan
	@if [ "$(TSAN)" = 1 ]; then $(MAKE) --no-print-directory check-tsan; fi
	@$(MAKE) --no-print-directory check-install
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory fuzz-check
	@# ---- macOS: scripts/darwin-check.sh (cross-builds for aarch64/x86_64-macos) -----------
	@if [ -f scripts/darwin-check.sh ]; then $(MAKE) --no-print-directory darwin-check; \
	 else echo "== darwin-check: scripts/darwin-check.sh not present, skipped"; fi
	@echo "== make check: all passed"

build-gcc:
	@echo "== gcc, -Werror"
	$(CMAKE) -S . -B build-gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DUMACH_WERROR=ON -DUMACH_SANITIZE=OFF $(CMAKE_ARGS)
	$(CMAKE) --build build-gcc -j$(JOBS)

check-gcc: build-gcc
	cd build-gcc && ctest $(CTEST_FLAGS)

# The fuzz targets are built here too (same compiler and sanitizers); fuzz-check runs them.
# This build compiles the message path file by file (UMACH_HOT_UNITY=OFF), the others as one
# unit (see docs/umach-internals.md, Performance), so both ways are built and tested.
build-asan:
	@echo "== clang, AddressSanitizer + UndefinedBehaviorSanitizer"
	$(CMAKE) -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DUMACH_WERROR=ON -DUMACH_SANITIZE=ON -DUMACH_FUZZ=ON -DUMACH_HOT_UNITY=OFF $(CMAKE_ARGS)
	$(CMAKE) --build build-asan -j$(JOBS)

check-asan: build-asan
	cd build-asan && ctest $(CTEST_FLAGS)

# ThreadSanitizer: every test program; a data race, a lock-order inversion or a misused
# mutex anywhere (tests included) fails the run.
build-tsan:
	@echo "== clang, ThreadSanitizer"
	$(CMAKE) -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DUMACH_WERROR=ON -DUMACH_TSAN=ON -DUMACH_SANITIZE=OFF $(CMAKE_ARGS)
	$(CMAKE) --build build-tsan -j$(JOBS)

check-tsan: build-tsan
	cd build-tsan && ctest $(CTEST_FLAGS)

# The stress programs for minutes (make check runs each for 3 s in every build, under
# valgrind, ASan/LSan and TSan). The RSS growth after the first quarter is printed; a run of
# a minute or more fails if it exceeds STRESS_RSS_SLACK_MB (32).
stress: build-gcc
	@set -e; for s in build-gcc/stress_*; do \
	  if [ -f "$$s" ] && [ -x "$$s" ]; then \
	    echo "== $$s for $(STRESS_SECONDS) s"; \
	    STRESS_SECONDS=$(STRESS_SECONDS) STRESS_RSS_EVERY=$(STRESS_RSS_EVERY) "$$s"; \
	  fi; \
	done

check-install: build-gcc
	@echo "== install check"
	BUILD_DIR=build-gcc bash tests/install/check.sh

fuzz-check: build-asan
	@echo "== fuzz (each target $(FUZZ_SECONDS)s)"
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz-check.sh build-asan

# Each benchmark once with small counts: it must run and find no Mach error (timings ignored).
bench-smoke: build-gcc
	@echo "== benchmarks, quick run"
	@set -e; for b in build-gcc/bench/*; do \
	  if [ -f "$$b" ] && [ -x "$$b" ]; then echo "== $$b"; BENCH_QUICK=1 "$$b" >/dev/null; fi; \
	done

darwin-check:
	bash scripts/darwin-check.sh

install: build
	$(CMAKE) --install $(BUILD) --prefix "$(PREFIX)"

bench: deps
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	  -DUMACH_SANITIZE=OFF -DUMACH_FUZZ=OFF $(CMAKE_ARGS)
	$(CMAKE) --build build-bench -j$(JOBS)
	@set -e; found=0; for b in build-bench/bench/*; do \
	  if [ -f "$$b" ] && [ -x "$$b" ]; then found=1; echo "== $$b"; "$$b"; fi; \
	done; \
	if [ $$found = 0 ]; then echo "no benchmarks yet (bench/*.c)"; fi

# Tests that expect a failure (WILL_FAIL, e.g. "this must not compile") are left out: under
# valgrind they would pass for the wrong reason.
valgrind: build-gcc
	@echo "== valgrind (the gcc build's tests)"
	cd build-gcc && MT_TIMEOUT_SCALE=$(VALGRIND_TIMEOUT_SCALE) ctest --output-on-failure \
	  -j$(JOBS) -T memcheck -LE nomemcheck --timeout $$(( 60 * $(VALGRIND_TIMEOUT_SCALE) ))

clean:
	rm -rf $(BUILD) build-gcc build-asan build-tsan build-bench
