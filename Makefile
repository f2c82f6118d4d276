# Junction: the two commands of README's Quick start, and a few helpers.
#   make run    install deps, build Release, run junctiond in the foreground
#   make test   install deps, build, run every test through ctest
#   make sanitize  the whole suite again under ASan + UBSan (build-sanitize/)
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/ and run each
#               for FUZZ_SECONDS (docs/security.md, "Fuzzing")
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test clean package sanitize fuzz

all: build

deps:
	./scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./$(BUILD_DIR)/daemon/junctiond --log-level info

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

package: build
	cd $(BUILD_DIR) && cpack -G DEB

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (CI runs it after `make test`). Debug keeps the reports readable. The
# packaging tests are left out: they check release artefacts, not memory safety.
SANITIZE_DIR ?= build-sanitize
sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=Debug -DJUNCTION_SANITIZE=ON
	cmake --build $(SANITIZE_DIR) -j$(JOBS)
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 600 -E '^packaging'

clean:
	rm -rf $(BUILD_DIR)

# libFuzzer: fuzz/ is a standalone CMake project (clang only). Each target runs
# for FUZZ_SECONDS on one core, starting from its seed corpus (fuzz/corpus/<target>,
# read only); new inputs go to $(FUZZ_DIR)/corpus/<target>, crashes to
# $(FUZZ_DIR)/artifacts/.
FUZZ_DIR ?= build-fuzz
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_frame_reader fuzz_request_line fuzz_code_line fuzz_router fuzz_searpc_gateway

fuzz:
	cmake -S fuzz -B $(FUZZ_DIR) -DJUNCTION_FUZZ=ON -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	mkdir -p $(FUZZ_DIR)/artifacts
	set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  ./$(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- \
	    $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t; \
	done
