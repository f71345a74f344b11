/* tests/store/backend_setup.h — the only backend-specific part of the store
 * tests: given a database URL, make a fresh, migrated (or unmigrated), empty
 * database and a store on it, and drop it afterwards. The contract suite calls nothing else
 * that knows which backend it runs on. Must not: contain assertions about store
 * behaviour (those belong in contract.c). */
#ifndef CTXD_TESTS_STORE_BACKEND_SETUP_H
#define CTXD_TESTS_STORE_BACKEND_SETUP_H

#include <stdbool.h>
#include "base/err.h"
#include "store/store.h"

typedef struct tb_db {
    store_t *st;
    char *url;        /* the fresh database's URL */
    char *file;       /* sqlite file to delete at drop, or NULL */
    char *server_db;  /* server database to drop at drop, or NULL */
    char *server_url; /* the URL it was created through */
    bool mongo;       /* a MongoDB database (server_db), dropped through the store */
} tb_db;

/* The URL under test: argv[1], else $CTXD_TEST_DATABASE_URL, else sqlite:///:memory:.
 * "fixture:<server>:<VAR>[?options]" reads VAR published by a tests/servers fixture
 * (ts_server_var) and appends the options, e.g. fixture:pg:CTXD_TEST_PG_URL?sslmode=require. */
const char *tb_url(int argc, char **argv);
/* A fresh database for `url` (sqlite file: "<path>-<pid>-<n>" next to the given
 * path, its directory created; :memory: a new one), migrated to the latest
 * version, and a store on it. Backends without fresh-database support yet:
 * ERR_INVALID saying so. */
err_code tb_fresh(const char *url, tb_db *out, err_t *e);
/* tb_fresh, with the store opened in `mode`: STORE_OPEN_ANY leaves the fresh
 * database unmigrated (empty). */
err_code tb_fresh_with(const char *url, store_open_mode mode, tb_db *out, err_t *e);
void tb_drop(tb_db *d);
/* cmocka per-test fixtures: *state = a fresh database (tb_fresh) for the URL the
 * last tb_url call returned, freed and dropped by tb_teardown. */
int tb_setup(void **state);
/* As tb_setup, but the fresh database is left unmigrated (STORE_OPEN_ANY). */
int tb_setup_empty(void **state);
int tb_teardown(void **state);

#endif
