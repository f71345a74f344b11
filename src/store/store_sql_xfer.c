/* store/store_sql_xfer.c — copy/export/import for the SQL store: the
 * whole-database iterator (the logical tables of store.h in one read
 * transaction, rows ordered by identity byte-wise on every dialect), the bulk
 * import (rows kept as given, messages given their index text, existing keys
 * skipped), sequences moved past imported ids, and row counts.
 * Must not: write audit records or change existing rows. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "store/store_sql_int.h"
#include "base/utc.h"

/* The column as written in SQL (agent_memory.key is reserved in MySQL). */
static const char *sql_col(const store_sql *s, const char *name)
{
    return strcmp(name, "key") == 0 ? s->d->key_col : name;
}

/* Text keys compared byte-wise so every backend yields the same order. */
static void put_bin(const store_sql *s, sbuf_t *b, const char *col)
{
    sbuf_printf(b, "%s%s", col, s->d->bin_post);
}

static void put_order(const store_sql *s, const store_table *t, sbuf_t *b)
{
    sbuf_puts(b, " ORDER BY ");
    if (strcmp(t->name, "agent_memory") == 0) {
        put_bin(s, b, "agent_id");
        sbuf_puts(b, ", CASE WHEN session_id IS NULL THEN 0 ELSE 1 END, ");
        put_bin(s, b, "session_id");
        sbuf_printf(b, ", %s", s->d->key_cmp);
        return;
    }
    /* single-column keys: integers numerically, text byte-wise */
    const store_column *kc = NULL;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, t->key[0]) == 0)
            kc = &t->cols[i];
    if (kc && kc->type == STORE_COL_TEXT)
        put_bin(s, b, t->key[0]);
    else
        sbuf_puts(b, t->key[0]);
}

static void build_iter(const store_sql *s, unsigned k, sbuf_t *b)
{
    size_t nt;
    const store_table *t = &store_tables(&nt)[k];
    sbuf_puts(b, "SELECT ");
    for (size_t i = 0; i < t->ncols; i++)
        sbuf_printf(b, "%s%s", i ? ", " : "", sql_col(s, t->cols[i].name));
    sbuf_printf(b, " FROM %s", t->name);
    put_order(s, t, b);
}

static void build_import(const store_sql *s, unsigned k, sbuf_t *b)
{
    size_t nt;
    const store_table *t = &store_tables(&nt)[k];
    sbuf_printf(b, "INSERT INTO %s (", t->name);
    for (size_t i = 0; i < t->ncols; i++)
        sbuf_printf(b, "%s%s", i ? ", " : "", sql_col(s, t->cols[i].name));
    /* messages: + the derived index text (not a logical column: recomputed here) */
    bool msgs = strcmp(t->name, "messages") == 0;
    if (msgs)
        sbuf_puts(b, s->d->search_grams ? ", search_text, search_grams" : ", search_text");
    sbuf_printf(b, ")%s VALUES (", t->seq_col ? s->d->ins_keep_id : "");
    for (size_t i = 0; i < t->ncols; i++)
        sbuf_puts(b, i ? ", ?" : "?");
    if (msgs)
        sbuf_puts(b, s->d->search_grams ? ", ?, ?" : ", ?");
    sbuf_printf(b, ")%s", s->d->ins_skip);
    if (s->d->ins_skip_self) {
        const char *c0 = sql_col(s, t->cols[0].name);
        sbuf_printf(b, "%s = %s", c0, c0);
    }
}

static void build_count(const store_sql *s, unsigned k, sbuf_t *b)
{
    (void)s;
    size_t nt;
    sbuf_printf(b, "SELECT COUNT(*) FROM %s", store_tables(&nt)[k].name);
}

/* ---- iterate ------------------------------------------------------------------------- */

/* Where iter_row sends the rows of table t. */
typedef struct {
    const store_table *t;
    store_row_cb cb;
    void *ud;
} iter_ctx;

/* A column of the current row as its JSON value (column type t), or NULL with
 * *e set when a JSON column holds invalid JSON. */
static json_t *col_value(db_stmt *st, int i, const store_table *t, err_t *e)
{
    const store_column *col = &t->cols[i];
    size_t n = 0;
    const char *p;
    char iso[UTC_ISO_LEN];
    json_error_t je;
    if (db_col_null(st, i))
        return json_null();
    switch (col->type) {
    case STORE_COL_INT: return json_integer(db_col_int64(st, i));
    case STORE_COL_BOOL: return json_boolean(db_col_bool(st, i));
    case STORE_COL_TIME: return json_string(utc_format(db_col_time(st, i), iso));
    case STORE_COL_JSON: {
        p = db_col_json(st, i, &n);
        json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v)
            err_set(e, ERR_FATAL, "store: %s.%s holds invalid JSON: %s", t->name, col->name,
                    je.text);
        return v;
    }
    default: p = db_col_text(st, i, &n); return json_stringn_nocheck(p, n);
    }
}

/* One row of the iterated table to the callback, as a JSON object. */
static err_code iter_row(db_stmt *st, void *ud, err_t *e)
{
    iter_ctx *x = ud;
    json_t *row = json_object();
    err_code rc = ERR_OK;
    for (size_t i = 0; i < x->t->ncols && rc == ERR_OK; i++) {
        json_t *v = col_value(st, (int)i, x->t, e);
        if (v)
            json_object_set_new_nocheck(row, x->t->cols[i].name, v);
        else
            rc = ERR_FATAL;
    }
    if (rc == ERR_OK)
        rc = x->cb(x->ud, x->t->name, row, e);
    json_decref(row);
    return rc;
}

err_code ssql_iterate(store_t *stp, store_row_cb cb, void *ud, err_t *e)
{
    store_sql *s = S(stp);
    db_conn *c = NULL;
    /* One read transaction: a consistent snapshot. No retry: rows already
     * handed to the callback cannot be taken back. */
    err_code rc = db_acquire(s->db, DB_READ, &c, e);
    if (rc != ERR_OK)
        return rc;
    if ((rc = db_begin(c, e)) != ERR_OK) {
        db_release(c);
        return rc;
    }
    size_t nt;
    const store_table *tables = store_tables(&nt);
    for (unsigned k = 0; k < IT_TABLES && rc == ERR_OK; k++) {
        iter_ctx x = {&tables[k], cb, ud};
        rc =
            db_query_params(c, ssql_shape(s, &s->iter[k], build_iter, k), NULL, 0, iter_row, &x, e);
    }
    if (rc == ERR_OK)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    db_release(c);
    return ssql_finish(rc, e);
}

/* ---- import_rows, import_finish, count_rows ----------------------------------------------- */

enum {
    ROW_MAX = 16 /* columns of a logical table, + the index text and its words */
};

/* The parameters of one import row of table t, p[ROW_MAX]; strings made for them
 * go to own[ROW_MAX] (*nown of them, the caller frees). */
static size_t row_params(store_sql *s, const store_table *t, json_t *row, db_param *p, char **own,
                         size_t *nown)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        const store_column *col = &t->cols[i];
        json_t *v = json_object_get(row, col->name);
        utc_us us = 0;
        err_t pe;
        if (json_is_null(v) && (col->nullable || col->type != STORE_COL_JSON)) {
            p[n++] = DB_NULL;
            continue;
        }
        switch (col->type) {
        case STORE_COL_INT: p[n++] = DB_INT(json_integer_value(v)); break;
        case STORE_COL_BOOL: p[n++] = DB_BOOL(json_is_true(v)); break;
        case STORE_COL_TEXT: p[n++] = DB_TEXTN(json_string_value(v), json_string_length(v)); break;
        case STORE_COL_TIME:
            utc_parse(json_string_value(v), &us, &pe); /* checked before */
            p[n++] = DB_TIME(us);
            break;
        case STORE_COL_JSON:
            own[*nown] = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            p[n++] = DB_JSON(own[(*nown)++]);
            break;
        }
    }
    if (strcmp(t->name, "messages") != 0)
        return n;
    /* messages: the index text (and MySQL's words of it) */
    json_t *md = json_object_get(row, "metadata");
    char *mdt = json_is_object(md) ? json_dumps(md, JSON_COMPACT) : NULL;
    json_t *sv = json_object_get(row, "sender"), *cv = json_object_get(row, "content");
    char *stext = json_is_string(sv) && json_is_string(cv)
                      ? store_index_text(&s->base, json_string_value(sv), json_string_value(cv),
                                         json_string_length(cv), mdt)
                      : NULL;
    free(mdt);
    own[(*nown)++] = stext;
    p[n++] = DB_TEXT(stext);
    if (s->d->search_grams) {
        own[*nown] = stext ? ssql_grams(stext) : NULL;
        p[n++] = DB_TEXT(own[(*nown)++]);
    }
    return n;
}

typedef struct {
    store_sql *s;
    int k;
    json_t *const *rows;
    size_t n;
    int64_t inserted;
} import_ctx;

static err_code tx_import(db_conn *c, void *arg, err_t *e)
{
    import_ctx *x = arg;
    size_t nt;
    const store_table *t = &store_tables(&nt)[x->k];
    const char *sql = ssql_shape(x->s, &x->s->imp[x->k], build_import, (unsigned)x->k);
    x->inserted = 0;
    err_code rc = ERR_OK;
    for (size_t r = 0; r < x->n && rc == ERR_OK; r++) {
        db_param p[ROW_MAX];
        char *own[ROW_MAX];
        size_t nown = 0;
        size_t np = row_params(x->s, t, x->rows[r], p, own, &nown);
        int64_t changed = 0;
        rc = db_exec_params(c, sql, p, np, &changed, e);
        while (nown > 0)
            free(own[--nown]);
        if (rc != ERR_OK)
            err_prefix(e, "store: %s row %zu", t->name, r + 1);
        else if (changed > 0)
            x->inserted++;
    }
    return rc;
}

err_code ssql_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                          int64_t *inserted, err_t *e)
{
    if (n == 0)
        return ERR_OK;
    import_ctx x = {S(st), store_table_index(table), rows, n, 0};
    err_code rc = ssql_run_write(S(st), tx_import, &x, e);
    if (rc == ERR_OK && inserted)
        *inserted = x.inserted;
    return rc;
}

err_code ssql_import_finish(store_t *st, err_t *e)
{
    const store_sql_dialect *d = S(st)->d;
    err_code rc = ERR_OK;
    if (d->seq_sync_messages || d->seq_sync_audit)
        rc = ssql_write(S(st), d->seq_sync_messages, d->seq_sync_audit, NULL, 0, NULL, NULL, e);
    if (rc == ERR_OK && d->analyze)
        rc = ssql_write(S(st), d->analyze, NULL, NULL, 0, NULL, NULL, e);
    return rc;
}

err_code ssql_count_rows(store_t *st, const char *table, int64_t *n, err_t *e)
{
    store_sql *s = S(st);
    unsigned k = (unsigned)store_table_index(table);
    return ssql_read_one(s, ssql_shape(s, &s->cnt[k], build_count, k), NULL, 0, &ssql_int_rec, n,
                         NULL, e);
}

/* ---- the record of an unfinished load (store.h): a table that exists only while there is
 * one, so a database without a load has exactly its migrations' tables. Plain types every
 * dialect takes; the text is ASCII JSON (store.c), whatever the server's default charset. */

static const char SQL_LOAD_CREATE[] =
    "CREATE TABLE IF NOT EXISTS ctxd_load (id INTEGER NOT NULL PRIMARY KEY, info TEXT NOT NULL)";
static const char SQL_LOAD_DROP[] = "DROP TABLE IF EXISTS ctxd_load";

static err_code tx_load_put(db_conn *c, void *arg, err_t *e)
{
    err_code rc = db_exec_params(c, "DELETE FROM ctxd_load", NULL, 0, NULL, e);
    return rc != ERR_OK ? rc
                        : db_exec_params(c, "INSERT INTO ctxd_load (id, info) VALUES (1, ?)",
                                         DB_ARGS(DB_TEXT((const char *)arg)), NULL, e);
}

err_code ssql_load_put(store_t *st, const char *text, err_t *e)
{
    store_sql *s = S(st);
    if (!text)
        return ssql_write(s, SQL_LOAD_DROP, NULL, NULL, 0, NULL, NULL, e);
    err_code rc = ssql_write(s, SQL_LOAD_CREATE, NULL, NULL, 0, NULL, NULL, e);
    return rc != ERR_OK ? rc : ssql_run_write(s, tx_load_put, (void *)text, e);
}

static const ssql_field text_field[] = {{0, SSQL_TEXT}};
static const ssql_rec text_rec = SSQL_REC(char *, text_field, NULL);

err_code ssql_load_get(store_t *st, char **text, err_t *e)
{
    store_sql *s = S(st);
    bool found = false;
    err_code rc = ssql_read_one(s, s->d->load_exists, NULL, 0, NULL, NULL, &found, e);
    if (rc != ERR_OK || !found)
        return rc;
    return ssql_read_one(s, "SELECT info FROM ctxd_load WHERE id = 1", NULL, 0, &text_rec, text,
                         &found, e);
}
