#!/usr/bin/env bash
# tests/servers/server.sh — starts and stops the throw-away database servers the
# tests use: PostgreSQL 15 (with TLS on, a self-signed certificate made here),
# PgBouncer in transaction mode in front of it, MariaDB, and CongoDB (a MongoDB
# wire-protocol emulator in Node, from @push.rocks/smartmongo@2.2.0; see
# docs/backends.md "MongoDB" for what it cannot prove). Each runs on loopback, on a free
# port, in its own temp directory, and is stopped by pid.
#
#   server.sh start pg|pgbouncer|mariadb|mongo STATE_DIR
#   server.sh stop  pg|pgbouncer|mariadb|mongo STATE_DIR
#   server.sh restart mariadb STATE_DIR   (same port and datadir; private servers only)
#
# `start` writes STATE_DIR/<name>.env with shell assignments the tests read:
#   pg:        CTXD_TEST_PG_URL       postgresql://ctxd:ctxd@127.0.0.1:PORT/ctxd_test
#              CTXD_TEST_PG_ADMIN_URL  the superuser (for restarts, fresh databases)
#              CTXD_TEST_PG_DATA, CTXD_TEST_PG_PORT, CTXD_TEST_PG_BIN
#   pgbouncer: CTXD_TEST_PGBOUNCER_URL postgresql://ctxd:ctxd@127.0.0.1:PORT/ctxd_test
#   mariadb:   CTXD_TEST_MYSQL_URL     mysql://ctxd:ctxd@127.0.0.1:PORT/ctxd_test
#              CTXD_TEST_MYSQL_SOCK, CTXD_TEST_MYSQL_DATA, CTXD_TEST_MYSQL_PORT
#   mongo:     CTXD_TEST_MONGO_URL     mongodb://127.0.0.1:PORT/ctxd_test
#              CTXD_TEST_MONGO_REAL    1 when it is a real MongoDB (CTXD_TEST_MONGODB_URL), else 0
#              CTXD_TEST_MONGO_TLS_URL the same server behind TLS (a self-signed certificate,
#                                      CTXD_TEST_MONGO_TLS_CA): ...?tls=true&tlsCAFile=CA;
#                                      emulator only (unset for a real server)
# The role/user `ctxd` (password `ctxd`) may create databases, so a test can make
# a fresh database of its own. If CTXD_TEST_PG_URL / CTXD_TEST_MYSQL_URL are
# already set in the environment, no server is started and those are used; for
# mongo, CTXD_TEST_MONGODB_URL names a real MongoDB to use instead of CongoDB.
# CongoDB is installed once (pinned versions, npm registry only) into
# ${CTXD_CONGODB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctxd-congodb}.
# Must not: touch anything outside STATE_DIR and its own temp directories.
set -euo pipefail
cmd=${1:?usage: server.sh start|stop NAME STATE_DIR}
name=${2:?server name}
state=${3:?state dir}
mkdir -p "$state"
envf="$state/$name.env"
log() { echo "server.sh: $*" >&2; }

free_port() { # a port nothing listens on (the server start retries on a clash anyway)
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo 0
}

PGBIN=${CTXD_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

start_pg() {
  if [[ -n "${CTXD_TEST_PG_URL:-}" ]]; then
    printf 'CTXD_TEST_PG_URL=%q\nCTXD_TEST_PG_ADMIN_URL=%q\n' "$CTXD_TEST_PG_URL" "${CTXD_TEST_PG_ADMIN_URL:-}" > "$envf"
    return
  fi
  local d; d=$(mktemp -d /tmp/ctxd-pg.XXXXXX); chown postgres:postgres "$d"; chmod 0700 "$d"
  echo postgres > "$d/pw"; chown postgres "$d/pw"
  runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres --pwfile="$d/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 \
    || { cat "$d/initdb.log" >&2; exit 1; }
  # TLS: a self-signed pair, so the same server answers sslmode=require
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$d/data/server.key" -out "$d/data/server.crt" >/dev/null 2>&1
  chown postgres:postgres "$d/data/server.key" "$d/data/server.crt"; chmod 0600 "$d/data/server.key"
  cp "$d/data/server.crt" "$d/root.crt"; chmod 0644 "$d/root.crt"
  local port ok=0
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $d -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c ssl=on -c max_connections=200" start >/dev/null 2>&1; then
      ok=1; break
    fi
  done
  [[ $ok == 1 ]] || { log "PostgreSQL did not start"; cat "$d/log" >&2; exit 1; }
  runuser -u postgres -- "$PGBIN/psql" -h "$d" -p "$port" -U postgres -qAt -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE ctxd LOGIN CREATEDB PASSWORD 'ctxd'" \
    -c "CREATE DATABASE ctxd_test OWNER ctxd" >/dev/null
  {
    printf 'CTXD_TEST_PG_URL=%q\n' "postgresql://ctxd:ctxd@127.0.0.1:$port/ctxd_test"
    printf 'CTXD_TEST_PG_ADMIN_URL=%q\n' "postgresql://postgres:postgres@127.0.0.1:$port/postgres"
    printf 'CTXD_TEST_PG_PORT=%q\nCTXD_TEST_PG_DATA=%q\nCTXD_TEST_PG_DIR=%q\nCTXD_TEST_PG_BIN=%q\n' \
      "$port" "$d/data" "$d" "$PGBIN"
    printf 'CTXD_TEST_PG_ROOTCERT=%q\n' "$d/root.crt"
  } > "$envf"
  log "PostgreSQL on 127.0.0.1:$port ($d)"
}

stop_pg() {
  [[ -f "$envf" ]] || return 0
  # shellcheck disable=SC1090
  source "$envf"
  [[ -n "${CTXD_TEST_PG_DATA:-}" ]] || { rm -f "$envf"; return 0; }
  runuser -u postgres -- "$CTXD_TEST_PG_BIN/pg_ctl" -D "$CTXD_TEST_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$CTXD_TEST_PG_DIR" "$envf"
}

start_pgbouncer() {
  [[ -f "$state/pg.env" ]] || { log "pgbouncer needs the pg server first"; exit 1; }
  # shellcheck disable=SC1090
  source "$state/pg.env"
  local d; d=$(mktemp -d /tmp/ctxd-pgb.XXXXXX); chown postgres:postgres "$d"
  local pgport=${CTXD_TEST_PG_PORT:?}
  printf '"ctxd" "ctxd"\n' > "$d/userlist.txt"
  local port ok=0
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$d/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pgport
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $d
auth_type = scram-sha-256
auth_file = $d/userlist.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
ignore_startup_parameters = extra_float_digits,options,statement_timeout,idle_in_transaction_session_timeout
INI
    chown postgres:postgres "$d"/*
    runuser -u postgres -- pgbouncer -d "$d/pgbouncer.ini" >/dev/null 2>&1 || true
    for _ in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
      sleep 0.05
    done
    [[ $ok == 1 ]] && break
  done
  [[ $ok == 1 ]] || { log "pgbouncer did not start"; cat "$d/pgbouncer.log" >&2 || true; exit 1; }
  {
    printf 'CTXD_TEST_PGBOUNCER_URL=%q\n' "postgresql://ctxd:ctxd@127.0.0.1:$port/ctxd_test"
    printf 'CTXD_TEST_PGBOUNCER_DIR=%q\nCTXD_TEST_PGBOUNCER_PORT=%q\n' "$d" "$port"
  } > "$envf"
  log "PgBouncer (transaction mode) on 127.0.0.1:$port -> PostgreSQL :$pgport"
}

stop_pgbouncer() {
  [[ -f "$envf" ]] || return 0
  # shellcheck disable=SC1090
  source "$envf"
  if [[ -f "$CTXD_TEST_PGBOUNCER_DIR/pgbouncer.pid" ]]; then
    kill -INT "$(cat "$CTXD_TEST_PGBOUNCER_DIR/pgbouncer.pid")" 2>/dev/null || true
  fi
  rm -rf "$CTXD_TEST_PGBOUNCER_DIR" "$envf"
}

# Starts mariadbd on datadir $1/data, port $2, and waits until it answers; 1 if it
# did not come up (e.g. the port was taken).
run_mariadbd() {
  local d=$1 port=$2
  mariadbd --no-defaults --user=mysql --datadir="$d/data" --socket="$d/sock" \
    --pid-file="$d/pid" --port="$port" --bind-address=127.0.0.1 --log-error="$d/err" \
    --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
    --max-connections=300 --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    >/dev/null 2>&1 &
  local mpid=$!
  for _ in $(seq 400); do
    if mariadb-admin --no-defaults -S "$d/sock" -uroot ping >/dev/null 2>&1; then return 0; fi
    kill -0 $mpid 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# Stops the mariadbd of $1 by its pid file (TERM, then KILL after 10 s).
kill_mariadbd() {
  local d=$1
  [[ -f "$d/pid" ]] || return 0
  local pid; pid=$(cat "$d/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$d/pid"
}

start_mariadb() {
  if [[ -n "${CTXD_TEST_MYSQL_URL:-}" ]]; then
    printf 'CTXD_TEST_MYSQL_URL=%q\n' "$CTXD_TEST_MYSQL_URL" > "$envf"
    return
  fi
  local d; d=$(mktemp -d /tmp/ctxd-my.XXXXXX); chown mysql:mysql "$d"
  mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$d/install.log" 2>&1 \
    || { cat "$d/install.log" >&2; exit 1; }
  local port ok=0
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if run_mariadbd "$d" "$port"; then ok=1; break; fi
  done
  [[ $ok == 1 ]] || { log "MariaDB did not start"; cat "$d/err" >&2 || true; exit 1; }
  mariadb --no-defaults -S "$d/sock" -uroot -e "
    CREATE DATABASE ctxd_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    CREATE USER 'ctxd'@'127.0.0.1' IDENTIFIED BY 'ctxd';
    GRANT ALL ON *.* TO 'ctxd'@'127.0.0.1';"
  {
    printf 'CTXD_TEST_MYSQL_URL=%q\n' "mysql://ctxd:ctxd@127.0.0.1:$port/ctxd_test"
    printf 'CTXD_TEST_MYSQL_PORT=%q\nCTXD_TEST_MYSQL_SOCK=%q\nCTXD_TEST_MYSQL_DATA=%q\nCTXD_TEST_MYSQL_DIR=%q\n' \
      "$port" "$d/sock" "$d/data" "$d"
  } > "$envf"
  log "MariaDB on 127.0.0.1:$port ($d)"
}

stop_mariadb() {
  [[ -f "$envf" ]] || return 0
  # shellcheck disable=SC1090
  source "$envf"
  [[ -n "${CTXD_TEST_MYSQL_DIR:-}" ]] || { rm -f "$envf"; return 0; }
  kill_mariadbd "$CTXD_TEST_MYSQL_DIR"
  rm -rf "$CTXD_TEST_MYSQL_DIR" "$envf"
}

# Stops the server of STATE_DIR and starts it again on the same port and datadir
# (for resilience tests on a PRIVATE server: connections in flight are cut).
restart_mariadb() {
  [[ -f "$envf" ]] || { log "no MariaDB state in $state"; exit 1; }
  # shellcheck disable=SC1090
  source "$envf"
  [[ -n "${CTXD_TEST_MYSQL_DIR:-}" ]] || { log "MariaDB of $state was not started here"; exit 1; }
  kill_mariadbd "$CTXD_TEST_MYSQL_DIR"
  local ok=0
  for _ in $(seq 20); do     # the port may linger for a moment
    if run_mariadbd "$CTXD_TEST_MYSQL_DIR" "$CTXD_TEST_MYSQL_PORT"; then ok=1; break; fi
    sleep 0.1
  done
  [[ $ok == 1 ]] || { log "MariaDB did not restart"; tail -20 "$CTXD_TEST_MYSQL_DIR/err" >&2 || true; exit 1; }
  log "MariaDB restarted on 127.0.0.1:$CTXD_TEST_MYSQL_PORT"
}

# ---- MongoDB: CongoDB (emulator) unless CTXD_TEST_MONGODB_URL names a real server ----
CONGO_DIR=${CTXD_CONGODB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctxd-congodb}
CONGO_SHA256=1f9915eb73859a62183e589a699f58b9fd006c972deb5ce6f61fa945defbc22e

# Installs CongoDB into $CONGO_DIR once (see docs/testing.md:
# the 6 packages it imports at pinned versions, and the package itself unpacked
# outside node_modules because its own dependency list does not install).
install_congodb() {
  [[ -f "$CONGO_DIR/smartmongo-2.2.0/dist_ts/congodb/index.js" && -d "$CONGO_DIR/node_modules/mingo" ]] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm is needed to install CongoDB"; exit 1; }
  mkdir -p "$CONGO_DIR"
  (
    flock 9
    [[ -f "$CONGO_DIR/smartmongo-2.2.0/dist_ts/congodb/index.js" && -d "$CONGO_DIR/node_modules/mingo" ]] && exit 0
    cd "$CONGO_DIR"
    [[ -f package.json ]] || npm init -y >/dev/null
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error bson@6.10.4 mingo@7.2.7 \
      @push.rocks/smartfs@1.5.0 @push.rocks/smartpath@5.1.0 @push.rocks/smartpromise@4.2.3 \
      @push.rocks/smartrx@3.0.10 >&2
    rm -f push.rocks-smartmongo-2.2.0.tgz
    npm pack --loglevel=error @push.rocks/smartmongo@2.2.0 >/dev/null
    echo "$CONGO_SHA256  push.rocks-smartmongo-2.2.0.tgz" | sha256sum -c --quiet - \
      || { echo "server.sh: smartmongo-2.2.0.tgz checksum mismatch" >&2; exit 1; }
    rm -rf smartmongo-2.2.0 && mkdir smartmongo-2.2.0
    tar xzf push.rocks-smartmongo-2.2.0.tgz --strip-components=1 -C smartmongo-2.2.0
  ) 9>"$CONGO_DIR.lock"
}

start_mongo() {
  if [[ -n "${CTXD_TEST_MONGODB_URL:-}" ]]; then
    printf 'CTXD_TEST_MONGO_URL=%q\nCTXD_TEST_MONGO_REAL=1\n' "$CTXD_TEST_MONGODB_URL" > "$envf"
    return
  fi
  install_congodb
  local d; d=$(mktemp -d /tmp/ctxd-mongo.XXXXXX)
  # start.mjs: listen on PORT (0 = any), write the real port to PORT_FILE, and
  # drop topologyVersion from hello so a pooled libmongoc client polls instead
  # of spinning on "awaitable hello" (NO_TOPOLOGY_VERSION).
  cat > "$d/start.mjs" <<JS
import { writeFileSync } from 'node:fs';
const base = '$CONGO_DIR/smartmongo-2.2.0/dist_ts/congodb';
const { CongoServer } = await import(base + '/index.js');
if (process.env.NO_TOPOLOGY_VERSION) {
  const { HelloHandler } = await import(base + '/server/handlers/HelloHandler.js');
  const orig = HelloHandler.prototype.handle;
  HelloHandler.prototype.handle = async function (ctx) {
    const r = await orig.call(this, ctx);
    if (r && typeof r === 'object') delete r.topologyVersion;
    return r;
  };
}
const srv = new CongoServer({ host: '127.0.0.1', port: Number(process.env.PORT || 0) });
await srv.start();
// TLS_CERT/TLS_KEY: also listen with TLS on another port, relaying each
// connection to the plain one (CongoDB speaks no TLS itself)
if (process.env.TLS_CERT) {
  const { readFileSync } = await import('node:fs');
  const tls = await import('node:tls');
  const net = await import('node:net');
  const plain = srv.server.address().port;
  const t = tls.createServer({ key: readFileSync(process.env.TLS_KEY), cert: readFileSync(process.env.TLS_CERT) }, (s) => {
    const c = net.connect(plain, '127.0.0.1');
    s.pipe(c); c.pipe(s);
    s.on('error', () => c.destroy()); c.on('error', () => s.destroy());
    s.on('close', () => c.destroy()); c.on('close', () => s.destroy());
  });
  t.on('tlsClientError', () => {});
  await new Promise((r) => t.listen(0, '127.0.0.1', r));
  writeFileSync(process.env.PORT_FILE + '.tls', String(t.address().port));
}
writeFileSync(process.env.PORT_FILE + '.tmp', String(srv.server.address().port));
const { renameSync } = await import('node:fs');
renameSync(process.env.PORT_FILE + '.tmp', process.env.PORT_FILE);
const stop = async () => { await srv.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
JS
  # a self-signed certificate for 127.0.0.1, for the TLS port
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$d/tls.key" -out "$d/tls.crt" >/dev/null 2>&1
  PORT=0 PORT_FILE="$d/port" NO_TOPOLOGY_VERSION=1 TLS_CERT="$d/tls.crt" TLS_KEY="$d/tls.key" \
    node "$d/start.mjs" >"$d/server.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 200); do
    [[ -s "$d/port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -s "$d/port" ]] || { log "CongoDB did not start"; cat "$d/server.log" >&2; kill "$pid" 2>/dev/null || true; rm -rf "$d"; exit 1; }
  local port; port=$(cat "$d/port")
  {
    printf 'CTXD_TEST_MONGO_URL=%q\nCTXD_TEST_MONGO_REAL=0\n' "mongodb://127.0.0.1:$port/ctxd_test"
    printf 'CTXD_TEST_MONGO_TLS_URL=%q\nCTXD_TEST_MONGO_TLS_CA=%q\n' \
      "mongodb://127.0.0.1:$(cat "$d/port.tls")/ctxd_test?tls=true&tlsCAFile=$d/tls.crt" "$d/tls.crt"
    printf 'CTXD_TEST_MONGO_DIR=%q\nCTXD_TEST_MONGO_PID=%q\n' "$d" "$pid"
  } > "$envf"
  log "CongoDB (MongoDB emulator) on 127.0.0.1:$port ($d)"
}

stop_mongo() {
  [[ -f "$envf" ]] || return 0
  # shellcheck disable=SC1090
  source "$envf"
  [[ -n "${CTXD_TEST_MONGO_PID:-}" ]] || { rm -f "$envf"; return 0; }
  kill -TERM "$CTXD_TEST_MONGO_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$CTXD_TEST_MONGO_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$CTXD_TEST_MONGO_PID" 2>/dev/null || true
  rm -rf "$CTXD_TEST_MONGO_DIR" "$envf"
}

case "$cmd:$name" in
  start:pg) start_pg ;;
  stop:pg) stop_pg ;;
  start:pgbouncer) start_pgbouncer ;;
  stop:pgbouncer) stop_pgbouncer ;;
  start:mariadb) start_mariadb ;;
  stop:mariadb) stop_mariadb ;;
  restart:mariadb) restart_mariadb ;;
  start:mongo) start_mongo ;;
  stop:mongo) stop_mongo ;;
  *) echo "usage: server.sh start|stop pg|pgbouncer|mariadb|mongo STATE_DIR | restart mariadb STATE_DIR" >&2; exit 2 ;;
esac
