/* store/store_sql.h — the SQL implementation of the store interface over db/, for
 * every SQL dialect db/ speaks (sqlite now; postgresql and mysql statement
 * catalogues exist and are exercised once their drivers and schemas land).
 * Exposed so tests and benchmarks can build a store on a db_t they opened (and
 * migrated) themselves. Must not: run migrations or open databases by URL
 * (store_open does that). */
#ifndef CTXD_STORE_STORE_SQL_H
#define CTXD_STORE_STORE_SQL_H

#include <stdbool.h>
#include "base/err.h"
#include "db/db.h"
#include "store/store.h"

/* A store over an open db. own_db: store_close also closes db (on error too).
 * Does not check the schema version (store_open does). ERR_INVALID for a
 * dialect without a statement catalogue. */
err_code store_sql_open(db_t *db, bool own_db, store_t **out, err_t *e);
/* The db under a store made by store_sql_open/store_open on a SQL URL; NULL for
 * other stores (e.g. MongoDB). Borrowed. */
db_t *store_sql_db(store_t *st);

#endif
