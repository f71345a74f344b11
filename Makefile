# Thin wrapper over CMake/CTest so a newcomer needs two commands:
#   make run   installs what is missing, builds, starts ctxd on the SQLite default
#   make test  installs what is missing, builds, runs every test
# Variables: BUILD (build dir), WERROR=1, SANITIZE=1, CC=clang, ARGS (for run).
BUILD ?= build
CMAKE_FLAGS ?=
ifeq ($(WERROR),1)
CMAKE_FLAGS += -DCTXD_WERROR=ON
endif
ifeq ($(SANITIZE),1)
CMAKE_FLAGS += -DCTXD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS ?= serve

.PHONY: all deps build run test bench clean
all: build

deps:
	@scripts/deps.sh

build: deps
	@CC="$(CC)" cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/ctxd $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bench/run.sh $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)
