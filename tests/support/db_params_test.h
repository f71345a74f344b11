/* tests/support/db_params_test.h — the checks of db/'s typed parameter arrays and
 * executors (db_exec_params, db_insert_params, db_query_*), written once and run
 * on every SQL backend: tests/unit (SQLite), tests/pg (PostgreSQL, also without
 * named prepared statements) and tests/mysql (MariaDB). Each check (re)creates
 * its own table t_params in the database it is given.
 * Must not: depend on the order the checks run in, or leave a statement open. */
#ifndef CTXD_TEST_DB_PARAMS_TEST_H
#define CTXD_TEST_DB_PARAMS_TEST_H

#include "db/db.h"

/* Every parameter type round trips: integers to the int64 limits, booleans,
 * doubles, UTF-8 text (also with a length), JSON, times exact to the
 * microsecond (before 1970 and far ahead), blobs, and NULL for each. */
void tdb_params_types(db_t *db);
/* Changes counts of UPDATE/DELETE, new ids from INSERT (RETURNING and not),
 * rows read by db_query_params, db_query_one's found/NOTFOUND, COUNT(*). */
void tdb_params_changes(db_t *db);
/* Errors at every point (prepare, bind, step, a row callback) come back as the
 * executor's result and leave no statement open on the connection. */
void tdb_params_errors(db_t *db);
/* The three above, in that order. */
void tdb_params_all(db_t *db);

#endif
