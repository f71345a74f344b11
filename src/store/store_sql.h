/* store/store_sql.h — the SQL store over a db_t the caller opened itself, for
 * tests and benchmarks that build a store on a database they made (and
 * migrated). Everything else opens stores by URL (store_open, store.h).
 * Must not: be included outside src/store/ by src/ code (layers above use
 * store.h only), run migrations or open databases by URL. */
#ifndef CTXD_STORE_STORE_SQL_H
#define CTXD_STORE_STORE_SQL_H

#include <stdbool.h>
#include "base/err.h"
#include "db/db.h"
#include "store/store.h"

/* A store over an open db. own_db: store_close also closes db (on error too).
 * Does not check the schema version (store_schema_check does). ERR_INVALID for
 * a dialect without a statement catalogue. */
err_code store_sql_open(db_t *db, bool own_db, store_t **out, err_t *e);

#endif
