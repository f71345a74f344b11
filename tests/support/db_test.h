/* tests/support/db_test.h — helpers for tests of the db/ layer: a private
 * directory with a database file path and URL (cmocka setup/teardown), and
 * "must succeed" wrappers that fail the test with the database's message.
 * Must not: hide failures (every wrapper fails the test on error). */
#ifndef CTXD_TEST_DB_TEST_H
#define CTXD_TEST_DB_TEST_H

#include <stdint.h>
#include "db/db.h"

typedef struct tdb_fixture {
    char *dir;  /* private temp dir */
    char *path; /* <dir>/test.db */
    char *url;  /* sqlite:///<path> */
} tdb_fixture;

/* cmocka group/test setup and teardown: *state is a tdb_fixture. */
int tdb_setup(void **state);
int tdb_teardown(void **state);

db_t *tdb_open_ok(const char *url, const db_opts *o);
void tdb_exec_ok(db_conn *c, const char *sql);
/* First column of the first row: as text (static buffer, "(null)" for NULL) or int. */
const char *tdb_q1(db_conn *c, const char *sql);
int64_t tdb_q1i(db_conn *c, const char *sql);
/* SELECT count(*) FROM table on a borrowed reader connection. */
int64_t tdb_count(db_t *db, const char *table);

#endif
