/* store/store_sql_search.c — the SQL store's part of search_context: message_search
 * (the candidates of a trigram prefilter plan, served by each dialect's index:
 * SQLite FTS5 with the trigram tokenizer, PostgreSQL pg_trgm GIN, MySQL/MariaDB
 * InnoDB FULLTEXT over "trigram words") and message_reindex (gives index text to
 * messages written without it, and fills SQLite's FTS5 table in batches so the
 * insert path never tokenises).
 * Why a hand-made encoding for MySQL: MariaDB has no n-gram FULLTEXT parser (MySQL's
 * ngram plugin is not in MariaDB) and InnoDB's parser splits words at punctuation,
 * so each distinct trigram of the index text is stored as one alphanumeric word,
 * "t" + the lowercase hex of its UTF-8 bytes (e.g. "abc" -> t616263; never a stop
 * word, 7..25 characters, inside innodb_ft_min/max_token_size's defaults).
 * Must not: decide what a message is indexed under (the store's index_fn does,
 * store.h) or score anything (search/ does, above the store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_sql_int.h"
#include "store/store_backend.h"

/* ---- MySQL trigram words --------------------------------------------------------- */

static void put_gram(sbuf_t *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_putc(b, 't');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        sbuf_putc(b, hex[c >> 4]);
        sbuf_putc(b, hex[c & 15]);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Bytes of the UTF-8 sequence starting with c (1 for stray bytes). */
static size_t u8len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

char *ssql_grams(const char *text)
{
    size_t n = strlen(text), cap = 0, cnt = 0;
    char **w = NULL;
    for (size_t p = 0; p < n; p += u8len((unsigned char)text[p])) {
        size_t q = p;
        int cps = 0;
        while (cps < 3 && q < n && text[q] != '\n') {
            q += u8len((unsigned char)text[q]);
            cps++;
        }
        if (cps < 3 || q > n)
            continue; /* fewer than 3 code points left in this field */
        sbuf_t b = SBUF_INIT;
        put_gram(&b, text + p, q - p);
        *(char **)store_list_push((void **)&w, &cnt, &cap, sizeof *w) = sbuf_detach(&b);
    }
    if (cnt)
        qsort(w, cnt, sizeof *w, cmp_str);
    sbuf_t out = SBUF_INIT;
    for (size_t i = 0; i < cnt; i++) {
        if (!i || strcmp(w[i], w[i - 1]) != 0) {
            if (out.len)
                sbuf_putc(&out, ' ');
            sbuf_puts(&out, w[i]);
        }
    }
    for (size_t i = 0; i < cnt; i++)
        free(w[i]);
    free(w);
    return sbuf_detach(&out); /* no trigrams: "" (indexed, matches nothing) */
}

char *ssql_index_text(store_t *st, const char *sender, const char *content, size_t content_len,
                      const char *metadata_json)
{
    if (!st->index_fn)
        return NULL;
    char *t =
        st->index_fn(sender ? sender : "", content ? content : "", content_len, metadata_json);
    return t ? t : xstrdup("");
}

/* ---- message_search -------------------------------------------------------------- */

static void build_msg_search(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "SELECT " MSG_COLS " FROM messages WHERE session_id = ?");
    if (m & MS_SINCE)
        sbuf_puts(b, " AND id > ?");
    ssql_put_vis(b, m & (V_N - 1));
    sbuf_puts(b, s->d->search_match);
    sbuf_puts(b, " ORDER BY id LIMIT ?");
}

/* The one parameter of d->search_match for the terms (see search_param). */
static char *search_param_text(const store_sql_dialect *d, const char *const *terms, size_t n)
{
    sbuf_t b = SBUF_INIT;
    if (d->search_param == STORE_SEARCH_LIKE_ANY)
        sbuf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        const char *t = terms[i];
        switch (d->search_param) {
        case STORE_SEARCH_FTS5:
            /* a quoted FTS5 string: '"' doubled; 3 characters = 1 trigram token */
            sbuf_puts(&b, i ? " OR \"" : "\"");
            for (; *t; t++) {
                if (*t == '"')
                    sbuf_putc(&b, '"');
                sbuf_putc(&b, *t);
            }
            sbuf_putc(&b, '"');
            break;
        case STORE_SEARCH_LIKE_ANY:
            /* array element "…" (\ and " escaped) holding the LIKE pattern %t%
             * (\, % and _ escaped with LIKE's default escape \) */
            sbuf_puts(&b, i ? ",\"%" : "\"%");
            for (; *t; t++) {
                if (*t == '\\' || *t == '%' || *t == '_')
                    sbuf_puts(&b, "\\\\");
                if (*t == '\\' || *t == '"')
                    sbuf_putc(&b, '\\');
                sbuf_putc(&b, *t);
            }
            sbuf_puts(&b, "%\"");
            break;
        case STORE_SEARCH_GRAMS:
            /* the term is one trigram: its FULLTEXT word (ssql_grams) */
            if (i)
                sbuf_putc(&b, ' ');
            put_gram(&b, t, strlen(t));
            break;
        }
    }
    if (d->search_param == STORE_SEARCH_LIKE_ANY)
        sbuf_putc(&b, '}');
    return sbuf_detach(&b);
}

typedef struct {
    store_sql *s;
    const store_search_query *q;
    const char *param;
    store_messages *out;
} msg_search_ctx;

static err_code rd_message_search(db_conn *c, void *arg, err_t *e)
{
    msg_search_ctx *x = arg;
    const store_search_query *q = x->q;
    store_messages_free(x->out);
    unsigned m = ssql_vis_mask(&q->vis) | (q->since_id > 0 ? MS_SINCE : 0);
    db_stmt *st;
    err_code rc =
        db_prepare(c, ssql_shape(x->s, &x->s->msg_search[m], build_msg_search, m), &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    db_bind_text(st, i++, q->session_id, -1);
    if (m & MS_SINCE)
        db_bind_int64(st, i++, q->since_id);
    i = ssql_bind_vis(st, i, &q->vis, m);
    db_bind_text(st, i++, x->param, -1);
    db_bind_int64(st, i++, q->limit);
    size_t cap = q->limit <= 1000 ? (size_t)q->limit : 1000;
    x->out->v = xmalloc(cap * sizeof *x->out->v);
    int r;
    while ((r = db_step(st, e)) == DB_ROW)
        ssql_read_message(
            st, store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    db_stmt_done(st);
    if (r != DB_DONE)
        return (err_code)r;
    if (x->out->n == 0) {
        bool exists = false;
        if ((rc = ssql_session_exists(c, q->session_id, &exists, e)) != ERR_OK)
            return rc;
        if (!exists)
            return store_err_no_session(e, q->session_id);
    }
    return ERR_OK;
}

err_code ssql_message_search(store_t *st, const store_search_query *q, store_messages *out,
                             err_t *e)
{
    ERR_LOCAL(e); /* arguments checked, out zeroed by store_message_search (store.h) */
    char *param = search_param_text(S(st)->d, q->terms, q->nterms);
    msg_search_ctx x = {S(st), q, param, out};
    err_code rc = ssql_run_read(S(st), rd_message_search, &x, e);
    free(param);
    return rc;
}

/* ---- message_reindex ------------------------------------------------------------- */

static const char SQL_UNINDEXED[] =
    "SELECT id, sender, content, metadata FROM messages WHERE search_text IS NULL"
    " ORDER BY id LIMIT ?";
static const char SQL_FTS_UPTO[] = "SELECT upto FROM search_state";
static const char SQL_FTS_ONE[] = "INSERT INTO messages_fts (rowid, search_text) VALUES (?, ?)";
static const char SQL_FTS_NEXT[] =
    "SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)";
static const char SQL_FTS_FILL[] =
    "INSERT INTO messages_fts (rowid, search_text) SELECT id, search_text FROM messages"
    " WHERE id > ? AND id <= ? AND search_text IS NOT NULL";
static const char SQL_FTS_MOVE[] = "UPDATE search_state SET upto = ?";

typedef struct {
    store_sql *s;
    int limit;
    int64_t done;
} reindex_ctx;

typedef struct {
    int64_t id;
    char *sender, *content, *metadata;
    size_t content_len;
} unindexed;

static char *col_dup_n(db_stmt *st, int i, size_t *len)
{
    size_t n = 0;
    const char *p = db_col_text(st, i, &n);
    if (len)
        *len = n;
    return p ? xstrndup(p, n) : NULL;
}

/* One int64 of a one-row query with up to two int64 parameters (0 for NULL). */
static err_code query_int(db_conn *c, const char *sql, int np, int64_t a, int64_t b, int64_t *out,
                          err_t *e)
{
    db_stmt *st;
    err_code rc = db_prepare(c, sql, &st, e);
    if (rc != ERR_OK)
        return rc;
    if (np >= 1)
        db_bind_int64(st, 1, a);
    if (np >= 2)
        db_bind_int64(st, 2, b);
    int r = db_step(st, e);
    *out = r == DB_ROW && !db_col_null(st, 0) ? db_col_int64(st, 0) : 0;
    db_stmt_done(st);
    return r == DB_ROW || r == DB_DONE ? ERR_OK : (err_code)r;
}

static err_code tx_reindex(db_conn *c, void *arg, err_t *e)
{
    reindex_ctx *x = arg;
    const store_sql_dialect *d = x->s->d;
    x->done = 0;
    /* 1. messages without index text (copied/imported without an index function,
     *    or from before 0002): read first, then update (one statement at a time) */
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_UNINDEXED, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_int64(st, 1, x->limit);
    unindexed *v = NULL;
    size_t n = 0, cap = 0;
    int r;
    while ((r = db_step(st, e)) == DB_ROW) {
        unindexed *u = store_list_push((void **)&v, &n, &cap, sizeof *v);
        u->id = db_col_int64(st, 0);
        u->sender = col_dup_n(st, 1, NULL);
        u->content = col_dup_n(st, 2, &u->content_len);
        size_t ml = 0;
        const char *md = db_col_json(st, 3, &ml);
        u->metadata = md ? xstrndup(md, ml) : NULL;
    }
    db_stmt_done(st);
    if (r != DB_DONE)
        rc = (err_code)r;
    int64_t upto = 0;
    if (rc == ERR_OK && d->search_fts_async)
        rc = query_int(c, SQL_FTS_UPTO, 0, 0, 0, &upto, e);
    for (size_t i = 0; i < n && rc == ERR_OK; i++) {
        unindexed *u = &v[i];
        char *text =
            ssql_index_text(&x->s->base, u->sender, u->content, u->content_len, u->metadata);
        char *grams = d->search_grams ? ssql_grams(text) : NULL;
        if ((rc = db_prepare(c, d->msg_set_search, &st, e)) == ERR_OK) {
            int k = 1;
            db_bind_text(st, k++, text, -1);
            if (grams)
                db_bind_text(st, k++, grams, -1);
            db_bind_int64(st, k, u->id);
            rc = ssql_exec_changes(st, NULL, e);
        }
        /* below the watermark the FTS5 table will not pick it up by itself */
        if (rc == ERR_OK && d->search_fts_async && u->id <= upto &&
            (rc = db_prepare(c, SQL_FTS_ONE, &st, e)) == ERR_OK) {
            db_bind_int64(st, 1, u->id);
            db_bind_text(st, 2, text, -1);
            rc = ssql_exec_changes(st, NULL, e);
        }
        free(grams);
        free(text);
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].sender);
        free(v[i].content);
        free(v[i].metadata);
    }
    free(v);
    x->done = (int64_t)n;
    if (rc != ERR_OK || !d->search_fts_async)
        return rc;
    /* 2. SQLite: the next `limit` messages above the watermark into FTS5 */
    int64_t next = 0;
    if ((rc = query_int(c, SQL_FTS_NEXT, 2, upto, x->limit, &next, e)) != ERR_OK || next <= upto)
        return rc;
    int64_t filled = 0;
    if ((rc = db_prepare(c, SQL_FTS_FILL, &st, e)) != ERR_OK)
        return rc;
    db_bind_int64(st, 1, upto);
    db_bind_int64(st, 2, next);
    if ((rc = ssql_exec_changes(st, &filled, e)) != ERR_OK)
        return rc;
    if ((rc = db_prepare(c, SQL_FTS_MOVE, &st, e)) != ERR_OK)
        return rc;
    db_bind_int64(st, 1, next);
    if ((rc = ssql_exec_changes(st, NULL, e)) != ERR_OK)
        return rc;
    x->done += filled > 0 ? filled : 1; /* the watermark moved: not complete yet */
    return ERR_OK;
}

err_code ssql_message_reindex(store_t *st, int limit, int64_t *done, err_t *e)
{
    ERR_LOCAL(e); /* arguments checked, *done zeroed by store_message_reindex (store.h) */
    reindex_ctx x = {S(st), limit, 0};
    err_code rc = ssql_run_write(S(st), tx_reindex, &x, e);
    if (rc == ERR_OK)
        *done = x.done;
    return rc;
}
