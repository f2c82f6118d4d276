# Junction: the two commands of README's Quick start, and a few helpers.
#   make run    install deps, build Release, run junctiond in the foreground
#   make test   install deps, build, run every test through ctest
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
