/* db/exec.c — typed parameter arrays (db_param) and the executors built on
 * them: prepare + bind + step a statement to the end (or to its first row) and
 * finish it, reporting changes, a new id or each row to a callback. One loop
 * (run) serves every executor, so each finishes its statement on every path.
 * Must not: bypass db_prepare/db_step (the statement cache, metrics, the query
 * log and the no-prepared-statement modes live there), keep a statement open
 * after returning (db_prepare_params hands it to the caller instead), or copy
 * parameter values. */
#include "db/db_int.h"

#include <string.h>

void db_bind_params(db_stmt *s, const db_param *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const db_param *x = &p[k];
        int i = (int)k + 1;
        switch (x->type) {
        case DB_P_NULL: db_bind_null(s, i); break;
        case DB_P_INT: db_bind_int64(s, i, x->v.i); break;
        case DB_P_BOOL: db_bind_bool(s, i, x->v.i != 0); break;
        case DB_P_DOUBLE: db_bind_double(s, i, x->v.d); break;
        case DB_P_TEXT: db_bind_text(s, i, x->v.s.p, x->v.s.n); break;
        case DB_P_JSON: db_bind_json(s, i, x->v.s.p, x->v.s.n); break;
        case DB_P_TIME: db_bind_time(s, i, x->v.i); break;
        case DB_P_INT_OPT:
        case DB_P_TIME_OPT:
            if (x->v.i == 0)
                db_bind_null(s, i);
            else if (x->type == DB_P_INT_OPT)
                db_bind_int64(s, i, x->v.i);
            else
                db_bind_time(s, i, x->v.i);
            break;
        case DB_P_BLOB:
            if (x->v.s.n < 0)
                db_bind_fail(s, i, ERR_INTERNAL);
            else
                db_bind_blob(s, i, x->v.s.p, (size_t)x->v.s.n);
            break;
        default: db_bind_fail(s, i, ERR_INTERNAL); break;
        }
    }
}

err_code db_prepare_params(db_conn *c, const char *sql, const db_param *p, size_t n, db_stmt **out,
                           err_t *e)
{
    err_code rc = db_prepare(c, sql, out, e);
    if (rc == ERR_OK)
        db_bind_params(*out, p, n);
    return rc;
}

/* What one run saw. */
typedef struct run_out {
    size_t rows;     /* rows handed to fn (or skipped) */
    int64_t changes; /* db_changes once DB_DONE was reached, else 0 */
} run_out;

/* Prepares and binds sql, steps it until DB_DONE or until `limit` rows were
 * seen (fn, when given, is called for each), then finishes it. */
static err_code run(db_conn *c, const char *sql, const db_param *p, size_t n, size_t limit,
                    db_row_fn fn, void *ud, run_out *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    db_stmt *s = NULL;
    err_code rc = db_prepare_params(c, sql, p, n, &s, e);
    if (rc != ERR_OK)
        return rc;
    while (out->rows < limit) {
        int r = db_step(s, e);
        if (r == DB_DONE) {
            out->changes = db_changes(s);
            break;
        }
        if (r != DB_ROW) {
            rc = (err_code)r;
            break;
        }
        out->rows++;
        if (fn && (rc = fn(s, ud, e)) != ERR_OK)
            break;
    }
    db_stmt_done(s);
    return rc;
}

err_code db_exec_params(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *changes,
                        err_t *e)
{
    run_out o;
    err_code rc = run(c, sql, p, n, SIZE_MAX, NULL, NULL, &o, e);
    if (changes)
        *changes = rc == ERR_OK ? o.changes : 0;
    return rc;
}

typedef struct first_int {
    bool got;
    int64_t v;
} first_int;

/* Column 0 of the first row (NULL -> 0); later rows are ignored. */
static err_code read_first_int(db_stmt *s, void *ud, err_t *e)
{
    (void)e;
    first_int *x = ud;
    if (!x->got) {
        x->got = true;
        x->v = db_col_null(s, 0) ? 0 : db_col_int64(s, 0);
    }
    return ERR_OK;
}

err_code db_insert_params(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *id,
                          err_t *e)
{
    run_out o;
    first_int x = {false, 0};
    err_code rc = run(c, sql, p, n, SIZE_MAX, read_first_int, &x, &o, e);
    if (id)
        *id = rc != ERR_OK ? 0 : x.got ? x.v : o.changes > 0 ? db_last_insert_id(c) : 0;
    return rc;
}

err_code db_query_params(db_conn *c, const char *sql, const db_param *p, size_t n, db_row_fn fn,
                         void *ud, err_t *e)
{
    run_out o;
    return run(c, sql, p, n, SIZE_MAX, fn, ud, &o, e);
}

err_code db_query_one(db_conn *c, const char *sql, const db_param *p, size_t n, db_row_fn fn,
                      void *ud, bool *found, err_t *e)
{
    run_out o;
    err_code rc = run(c, sql, p, n, 1, fn, ud, &o, e);
    if (found)
        *found = rc == ERR_OK && o.rows > 0;
    if (rc == ERR_OK && o.rows == 0 && !found)
        return err_set(e, ERR_NOTFOUND, "query returned no row: %.200s", sql);
    return rc;
}

err_code db_query_int64(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *out,
                        err_t *e)
{
    first_int x = {false, 0};
    err_code rc = db_query_one(c, sql, p, n, read_first_int, &x, NULL, e);
    *out = x.v;
    return rc;
}
