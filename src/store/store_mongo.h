/* store/store_mongo.h — the MongoDB implementation of the store interface
 * (libmongoc 1.23), opened by store_open for mongodb:// and mongodb+srv:// URLs,
 * and its schema migrations (collections, indexes, counters) for the CLI and
 * the tests. Must not: be used by layers above store/ for anything but opening,
 * migrating and inspecting it (health figures go through store.h: store_ping,
 * store_server_version, store_get_stats). */
#ifndef CTXD_STORE_STORE_MONGO_H
#define CTXD_STORE_STORE_MONGO_H

#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "base/conf.h"
#include "db/db.h"
#include "store/store.h"

/* The schema version this binary knows (migration 1 = collections, indexes,
 * counters). */
#define STORE_MONGO_SCHEMA_VERSION 2

typedef enum store_mongo_mode {
    STORE_MONGO_CHECK = 0, /* the schema must be at STORE_MONGO_SCHEMA_VERSION */
    STORE_MONGO_MIGRATE,   /* apply pending migrations first */
    STORE_MONGO_NO_CHECK   /* for `ctxd migrate status|up`: any version */
} store_mongo_mode;

/* Opens a client pool for `url` (options: pool_size, max_overflow,
 * pool_timeout from `c` and the URL as for SQL, see db_opts_from;
 * transactions=auto|on|off, see store_mongo.c; the rest of the URL — TLS, auth,
 * replicaSet, timeouts — goes to libmongoc), pings the server, and returns a
 * store. A database not at STORE_MONGO_SCHEMA_VERSION
 * (after migrating, with STORE_MONGO_MIGRATE) is ERR_SCHEMA saying what to run;
 * a database newer than the binary is refused the same way. */
err_code store_mongo_open(const char *url, const conf_t *c, store_mongo_mode mode, store_t **out,
                          err_t *e);
/* *version = the database's schema version (0 = none); applied (may be NULL)
 * = migrations applied by this call. */
err_code store_mongo_migrate_up(store_t *st, int *applied, err_t *e);
err_code store_mongo_schema_version(store_t *st, int *version, err_t *e);
/* As store_mongo_schema_version, then ERR_SCHEMA (saying what to run) unless it is
 * STORE_MONGO_SCHEMA_VERSION. */
err_code store_mongo_schema_check(store_t *st, int *version, err_t *e);
/* Drops the whole database (tests only). */
err_code store_mongo_drop_database(store_t *st, err_t *e);
/* NULL-safe: true when st is a MongoDB store. */
bool store_is_mongo(const store_t *st);
/* Whether writes run in multi-document transactions (replica set or mongos,
 * unless transactions=off; always with transactions=on). */
bool store_mongo_uses_transactions(store_t *st);
const char *store_mongo_url_masked(store_t *st);

#endif
