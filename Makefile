# Thin wrapper over CMake/CTest so a newcomer needs two commands:
#   make run   installs what is missing, builds, creates ./.env keys once (ctxd setup),
#              starts ctxd on the SQLite default (HTTP on 127.0.0.1:23456)
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

# `make run` first makes sure ./.env holds an API_KEY and a JWT_SECRET_KEY (ctxd setup
# creates them once and never replaces existing ones), then starts the server.
run: build
	@if [ "$(ARGS)" = "serve" ]; then ./$(BUILD)/ctxd setup; fi
	./$(BUILD)/ctxd $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bench/run.sh $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)
