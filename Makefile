# Two commands on a fresh Debian 12 machine: `make run` and `make test`.
# Both install missing system packages, configure a Release build in build/
# (Ninja and ccache when present) and build.
BUILD    ?= build
JOBS     ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps configure build test run bench clean check-sanitize check-fuzz

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

# The whole ctest suite built with AddressSanitizer and UndefinedBehaviorSanitizer
# in a build directory of its own (-O1: quicker to build, and ASan's advice).
# Reports from libraries outside the project would be suppressed in
# tests/sanitize/*.supp, each entry with the reason (none are needed today).
ASAN_BUILD ?= build-asan
# Calls the Lua API fuzzer (tests/fuzz/api_fuzz.lua) makes under the sanitizers.
API_FUZZ_CALLS ?= 100000
# UBSan reports are recoverable so that ubsan.supp can suppress one; halt_on_error
# still stops a test at the first report that is not suppressed.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
SANITIZE_DIR := $(CURDIR)/tests/sanitize
# oneDNN 2.6.3's AMX brgemm micro-kernel reads one element past a vector of
# its own while it generates a convolution's code (jit_brgemm_amx_uker's
# gemm_microkernel_amx: skipped_bd_mask_buffer_[bcast_dim], a value it then
# never uses). Outside ASan the 8 bytes after a heap block are always mapped;
# under ASan the block can end a mapped 64 KiB slab, and tst_conv crashed
# there (SIGSEGV at libdnnl.so+0x6bf1ef) whenever the heap's history put it
# so. The sanitizer run therefore caps oneDNN below AMX: bf16 still runs, on
# the AVX512-BF16 kernels, and the AMX micro-kernel is never generated.
SANITIZE_ISA := ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16
check-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) $(if $(wildcard $(ASAN_BUILD)/CMakeCache.txt),,$(GENERATOR)) \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
	    -DCMAKE_C_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" \
	    -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE_FLAGS)" \
	    -DCMAKE_MODULE_LINKER_FLAGS="$(SANITIZE_FLAGS)" -Dapi_fuzz_calls=$(API_FUZZ_CALLS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && OMP_NUM_THREADS=2 QT_QPA_PLATFORM=offscreen $(SANITIZE_ISA) \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:suppressions=$(SANITIZE_DIR)/asan.supp \
	    LSAN_OPTIONS=suppressions=$(SANITIZE_DIR)/lsan.supp:print_suppressions=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SANITIZE_DIR)/ubsan.supp \
	    ctest --output-on-failure -j 1 --timeout 900

# The libFuzzer targets of the file parsers (tests/fuzz: IDX, CSV, NPY, gzip,
# images, checkpoints, tensors as .npy/.npz, ONNX models), built with clang, each run for FUZZ_SECONDS from the
# corpus it grew in earlier runs. A crash or sanitizer report fails the target.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := idx csv npy gzip image checkpoint npy_tensor onnx
check-fuzz:
	@./tools/install-deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) $(if $(wildcard $(FUZZ_BUILD)/CMakeCache.txt),,$(GENERATOR)) \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DNEURITE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    if [ $$t = onnx ]; then cp -n tests/data/onnx/*.onnx $(FUZZ_BUILD)/corpus/onnx/; fi; \
	    log=$(FUZZ_BUILD)/fuzz_$$t.log; \
	    if ! $(FUZZ_BUILD)/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	            -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$t >$$log 2>&1; then \
	        tail -n 40 $$log; echo "fuzz_$$t FAILED (log: $$log)"; exit 1; \
	    fi; \
	    echo "fuzz_$$t: $$(grep -h number_of_executed_units $$log | tr -s ' ' | cut -d' ' -f2) inputs in $(FUZZ_SECONDS) s, clean"; \
	done

# The window with scripts/fashion_mnist_mlp.lua open (headless without a display).
run: build
	$(BUILD)/bin/neurite

bench: build
	$(BUILD)/bin/neurite-bench

clean:
	rm -rf $(BUILD)
