/* store/store_sql_write.c — the SQL store's add_message statements: the parameters of
 * msg_insert and the row it returns (store_sql_dialect.h), and the one-statement path
 * of a dialect that does the whole add_message in ONE statement (msg_add_one:
 * PostgreSQL's data-modifying CTE), run as its own transaction by db_tx_run_one — one
 * round trip, the session's row lock held for that statement only. The transaction
 * path of the other dialects (msg_touch, msg_insert, then the audit record) is in
 * store_sql_msg.c, which also checks a reply's parent before calling here.
 * Must not: check a parent or compute index text (the caller does both first), or
 * know any dialect's SQL (the catalogue holds it). */
#include "store/store_sql_int.h"
#include "base/utc.h"

size_t ssql_msg_params(db_param p[11], const store_message *m, utc_us now, const char *search_text,
                       bool with_grams, const char *grams)
{
    size_t n = 0;
    p[n++] = DB_TEXT(m->session_id);
    p[n++] = DB_TEXT(m->sender);
    p[n++] = DB_TEXT(m->sender_type ? m->sender_type : "generic");
    p[n++] = DB_TEXT(m->content);
    p[n++] = DB_TEXT(store_visibility_name(m->visibility));
    p[n++] = DB_TEXT(m->message_type ? m->message_type : "agent_response");
    p[n++] = DB_JSON(m->metadata);
    p[n++] = DB_INT_OPT(m->parent_id);
    p[n++] = DB_TIME(now);
    p[n++] = DB_TEXT(search_text);
    if (with_grams)
        p[n++] = DB_TEXT(grams);
    return n;
}

err_code ssql_read_id_time(db_stmt *st, void *ud, err_t *e)
{
    (void)e;
    store_message *m = ud;
    m->id = db_col_int64(st, 0);
    m->created_at = db_col_time(st, 1);
    return ERR_OK;
}

typedef struct add_one {
    const char *sql;
    const db_param *p;
    size_t n;
    store_message *m; /* id and created_at filled */
    bool found;
} add_one;

static err_code run_add_one(db_conn *c, void *arg, err_t *e)
{
    add_one *x = arg;
    x->found = false;
    return db_query_one(c, x->sql, x->p, x->n, ssql_read_id_time, x->m, &x->found, e);
}

err_code ssql_message_add_one(store_sql *s, store_message *m, const store_audit_in *audit,
                              const char *search_text, err_t *e)
{
    /* the audit record's defaults; its resource is left to the statement */
    store_audit_in none = {0};
    store_audit_rec r;
    const store_audit_in *a = &store_audit_message(&r, audit ? audit : &none, m, 0)->in;
    db_param p[16];
    size_t n = ssql_msg_params(p, m, utc_now(), search_text, false, NULL);
    p[n++] = DB_TEXT(a->event_type);
    p[n++] = DB_TEXT(a->agent_id);
    p[n++] = DB_TEXT(a->session_id);
    p[n++] = DB_TEXT(audit ? audit->resource : NULL);
    p[n++] = DB_JSON(a->metadata);
    p[n++] = DB_BOOL(audit != NULL);
    add_one x = {s->d->msg_add_one, p, n, m, false};
    err_code rc = ssql_finish(db_tx_run_one(s->db, run_add_one, &x, e), e);
    store_audit_rec_free(&r);
    if (rc == ERR_OK && !x.found)
        rc = store_err_no_session(e, m->session_id);
    return rc;
}
