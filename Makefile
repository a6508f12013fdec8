# circal: `make run` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CONFIG ?= config/default.yaml
RANKS ?= 2
# Debian's OpenBLAS 0.3.21 does not recognise recent Intel CPUs and falls back to a slow
# generic kernel; pipeline/blas_runtime picks a faster verified core when none is set.
export OMP_NUM_THREADS ?= 1

DEB_PACKAGES := build-essential cmake git pkg-config \
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
  libfftw3-dev libfftw3-mpi-dev libboost-program-options-dev libyaml-cpp-dev doctest-dev \
  libopenblas-dev liblapacke-dev nlohmann-json3-dev libsentencepiece-dev gnuplot-nox \
  slurm-wlm munge python3

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MPIRUN_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1

.PHONY: all deps build run test bench clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD_DIR)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(MPIRUN_ENV) mpirun -np $(RANKS) $(BUILD_DIR)/circal run --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1

bench: build
	$(BUILD_DIR)/circal bench circulant --quick

clean:
	rm -rf $(BUILD_DIR)
