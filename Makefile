# Thin wrapper over CMake/CTest so a newcomer needs two commands:
#   make run   installs what building and running need (scripts/deps.sh run: no test
#              tools, database servers or npm), builds only the ctxd program, creates
#              ./.env keys once (ctxd setup), starts ctxd on the SQLite default (HTTP on
#              127.0.0.1:23456)
#   make test  installs what testing needs too (scripts/deps.sh test), builds
#              everything, runs every test
# Variables: BUILD (build dir), WERROR=1, SANITIZE=1, CC=clang, ARGS (for run),
# WITH_POSTGRESQL / WITH_MYSQL / WITH_MONGODB=OFF (for run and build: leave that
# backend out; the tests need all four).
#   make install  installs the built program, man page, unit, completions (PREFIX,
#              DESTDIR; docs/install.md); it never builds, so `sudo make install` after
#              `make build-ctxd` compiles nothing as root
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
WITH_POSTGRESQL ?= ON
WITH_MYSQL ?= ON
WITH_MONGODB ?= ON
BACKENDS = CTXD_WITH_POSTGRESQL=$(WITH_POSTGRESQL) CTXD_WITH_MYSQL=$(WITH_MYSQL) \
           CTXD_WITH_MONGODB=$(WITH_MONGODB)
BACKEND_FLAGS = $(addprefix -D,$(BACKENDS))
# The tests need every backend; a build without one leaves the tests and benchmarks out.
ifeq ($(WITH_POSTGRESQL)$(WITH_MYSQL)$(WITH_MONGODB),ONONON)
BUILD_ALL_FLAGS = -DCTXD_BUILD_TESTS=ON -DCTXD_BUILD_BENCH=ON
else
BUILD_ALL_FLAGS = -DCTXD_BUILD_TESTS=OFF -DCTXD_BUILD_BENCH=OFF
endif

.PHONY: all deps deps-run build build-ctxd run test test-backends bench bench-quick clean install
all: build

deps:
	@scripts/deps.sh test

deps-run:
	@$(BACKENDS) scripts/deps.sh run

build: deps
	@CC="$(CC)" cmake -S . -B $(BUILD) $(CMAKE_FLAGS) $(BACKEND_FLAGS) $(BUILD_ALL_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Only the server: configured without the tests and benchmarks (their libraries need
# not be installed), built as the one `ctxd` target. A later `make test` in the same
# build directory turns them back on.
build-ctxd: deps-run
	@CC="$(CC)" cmake -S . -B $(BUILD) $(CMAKE_FLAGS) $(BACKEND_FLAGS) \
		-DCTXD_BUILD_TESTS=OFF -DCTXD_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target ctxd

# `make run` first makes sure ./.env holds an API_KEY and a JWT_SECRET_KEY (ctxd setup
# creates them once and never replaces existing ones), then starts the server.
run: build-ctxd
	@if [ "$(ARGS)" = "serve" ]; then ./$(BUILD)/ctxd setup; fi
	./$(BUILD)/ctxd $(ARGS)

# libmongoc (linked into every test program and ctxd) makes a shared-memory file
# /dev/shm/mongoc-<pid> for its counters as the program loads; tests that kill a
# process leave theirs behind, and a later process with the same pid then prints
# "Falling back to malloc for counters." on stderr, which breaks tests that read
# stderr. The tests need no such counters: MONGOC_DISABLE_SHM turns them off.
test: test-backends build
	cd $(BUILD) && MONGOC_DISABLE_SHM=1 ctest --output-on-failure -j $(JOBS)

test-backends:
	@if [ "$(WITH_POSTGRESQL)$(WITH_MYSQL)$(WITH_MONGODB)" != ONONON ]; then \
		echo "make test: the tests cover all four backends; drop WITH_*=OFF" >&2; exit 2; fi

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
