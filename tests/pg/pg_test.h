/* tests/pg/pg_test.h — helpers shared by the PostgreSQL tests: the fixture URLs,
 * fresh throw-away databases on a server (created and dropped with libpq
 * directly, as an operator would), URL editing, and one-shot admin queries.
 * Failures abort the test (fail(), not skip: a missing fixture is a failure).
 * Must not: assert anything about ctxd behaviour (the tests do that). */
#ifndef CTXD_TESTS_PG_TEST_H
#define CTXD_TESTS_PG_TEST_H

#include <stdbool.h>

/* The value a tests/servers fixture published (ts_server_var); exits 1 if absent. */
char *pgt_var(const char *server, const char *var);
/* The URL with its database name replaced by db and `opts` ("a=b&c=d" or NULL)
 * added to its query string. */
char *pgt_url_with(const char *url, const char *db, const char *opts);
/* A new empty database on the server of `url` (through `url` itself: its role
 * may create databases); returns its name (caller frees). */
char *pgt_create_db(const char *url);
/* DROP DATABASE ... WITH (FORCE); errors are printed, not fatal. */
void pgt_drop_db(const char *url, const char *name);
/* Runs one statement on `url` (database in the URL) with libpq; returns the first
 * column of the first row (or "" if none), caller frees; exits on error. */
char *pgt_query(const char *url, const char *sql);

#endif
