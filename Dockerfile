# Dockerfile — the ctxd container image: a build stage that compiles only the `ctxd`
# program (Release, no tests or benchmarks), and a Debian 12 slim runtime stage holding
# that binary, the shared libraries it links, and nothing else. It runs as an unprivileged
# user (uid/gid 10001), keeps its SQLite file on the /data volume, listens on 0.0.0.0:23456
# and reports its health from GET /health. Usage: docs/container.md.
# scripts/check-docker.sh checks this file statically (CTest docker_static); CTest
# docker_image builds and runs it where a container engine exists.
# Must not: hold a secret (API_KEY and JWT_SECRET_KEY come from the environment at run
# time), run as root, or install a package the binary does not need.

# ---- build -------------------------------------------------------------------------
FROM debian:12-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# scripts/deps.sh BUILD_PKGS without the test-only ones (libcmocka-dev, sqlite3,
# clang-format, python3).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libsqlite3-dev libjansson-dev libssl-dev libmongoc-dev libbson-dev \
      libpq-dev libmariadb-dev libutf8proc-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the `ctxd` target is built from (migrations and tool schemas are embedded).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY migrations/ migrations/
COPY src/ src/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
      -DCTXD_BUILD_TESTS=OFF -DCTXD_BUILD_BENCH=OFF \
 && cmake --build build --target ctxd -j "$(nproc)" \
 && strip build/ctxd \
 && build/ctxd --version

# ---- runtime -----------------------------------------------------------------------
FROM debian:12-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG CTXD_VERSION=0.1.0
LABEL org.opencontainers.image.title="ctxd" \
      org.opencontainers.image.description="Shared-context MCP server for AI agents" \
      org.opencontainers.image.version="${CTXD_VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"
# The libraries `ctxd` links (ldd + dpkg -S on Debian 12; scripts/check-docker.sh
# verifies the list against a built binary), and CA certificates, so TLS connections
# can verify a server's certificate (MongoDB by default; PostgreSQL with
# sslrootcert=/etc/ssl/certs/ca-certificates.crt in its URL).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-0 libjansson4 libssl3 libpq5 libmariadb3 \
      libmongoc-1.0-0 libbson-1.0-0 libutf8proc2 libmicrohttpd12 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 ctxd \
 && useradd --uid 10001 --gid ctxd --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin ctxd \
 && mkdir -p /data \
 && chown ctxd:ctxd /data \
 && chmod 0700 /data
COPY --from=build /src/build/ctxd /usr/local/bin/ctxd
COPY scripts/ctxd-healthcheck.sh /usr/local/bin/ctxd-healthcheck
# HTTP_HOST: listen on every interface of the container (the Host/Origin check then
# accepts only localhost, 127.0.0.1 and [::1]: docs/container.md). MONGOC_DISABLE_SHM:
# libmongoc's shared-memory counters, unused, would warn when a pid (1) is reused.
ENV DATABASE_URL=sqlite:////data/ctxd.db \
    HTTP_HOST=0.0.0.0 \
    MONGOC_DISABLE_SHM=1
USER 10001:10001
# The working directory is the volume: `ctxd setup` writes /data/.env there and
# `ctxd serve` reads it (./.env) when the keys are not in the environment.
WORKDIR /data
VOLUME ["/data"]
EXPOSE 23456
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["ctxd-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ctxd"]
CMD ["serve"]
