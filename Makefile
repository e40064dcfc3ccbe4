# Two commands on a fresh Debian 12 machine: `make run` and `make test`.
# Both install missing system packages, configure a Release build in build/
# (Ninja and ccache when present) and build.
BUILD    ?= build
JOBS     ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps configure build test run bench clean

all: build

deps:
	@./tools/install-deps.sh

$(BUILD)/CMakeCache.txt:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(BUILD) $(if $(wildcard $(BUILD)/CMakeCache.txt),,$(GENERATOR)) -DCMAKE_BUILD_TYPE=Release

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && OMP_NUM_THREADS=2 ctest --output-on-failure -j 1

# The window with scripts/fashion_mnist_mlp.lua open (headless without a display).
run: build
	$(BUILD)/bin/neurite

bench: build
	$(BUILD)/bin/neurite-bench

clean:
	rm -rf $(BUILD)
