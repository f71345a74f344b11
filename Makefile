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

.PHONY: all deps build run test bench bench-quick clean install
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

# libmongoc (linked into every test program and ctxd) makes a shared-memory file
# /dev/shm/mongoc-<pid> for its counters as the program loads; tests that kill a
# process leave theirs behind, and a later process with the same pid then prints
# "Falling back to malloc for counters." on stderr, which breaks tests that read
# stderr. The tests need no such counters: MONGOC_DISABLE_SHM turns them off.
test: build
	cd $(BUILD) && MONGOC_DISABLE_SHM=1 ctest --output-on-failure -j $(JOBS)

bench: build
	bench/run.sh $(BUILD) $(BENCH_ARGS)

bench-quick: build
	bench/run.sh $(BUILD) --quick $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)

# `make install` installs what `make build` built (docs/install.md): the binary, man page,
# systemd unit, completions and docs. PREFIX overrides the configured prefix (default
# /usr/local); DESTDIR stages the files under another root, for packaging.
install:
	@test -x $(BUILD)/ctxd || { echo "make install: build first (make build)"; exit 1; }
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) $(if $(PREFIX),--prefix "$(PREFIX)")
