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

/* ---- message_search -------------------------------------------------------------- */

static void build_msg_search(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "SELECT " MSG_COLS " FROM messages WHERE session_id = ?");
    if (m & MS_SINCE)
        sbuf_puts(b, " AND id > ?");
    ssql_put_vis(s, b, m & (V_N - 1));
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

err_code ssql_message_search(store_t *st, const store_search_query *q, store_messages *out,
                             err_t *e)
{
    store_sql *s = S(st);
    unsigned m = ssql_vis_mask(&q->vis) | (q->since_id > 0 ? MS_SINCE : 0);
    char *param = search_param_text(s->d, q->terms, q->nterms);
    db_param p[4 + SSQL_VIS_PARAMS];
    size_t n = 0;
    p[n++] = DB_TEXT(q->session_id);
    if (m & MS_SINCE)
        p[n++] = DB_INT(q->since_id);
    n += ssql_vis_params(p + n, &q->vis, m);
    p[n++] = DB_TEXT(param);
    p[n++] = DB_INT(q->limit);
    err_code rc = ssql_read_list(s, ssql_shape(s, &s->msg_search[m], build_msg_search, m), p, n,
                                 &ssql_message_rec, (void **)&out->v, &out->n, e);
    free(param);
    /* Nothing found: tell an empty session from a missing one. */
    if (rc == ERR_OK && out->n == 0)
        rc = ssql_need_session(s, NULL, q->session_id, e);
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

/* A message stored without index text. */
typedef struct {
    int64_t id;
    char *sender, *content, *metadata;
    size_t content_len;
} unindexed;

static void read_unindexed(db_stmt *st, void *rec)
{
    unindexed *u = rec;
    u->id = db_col_int64(st, 0);
    u->sender = ssql_col_text(st, 1);
    const char *content = db_col_text(st, 2, &u->content_len); /* may hold NUL bytes */
    u->content = content ? xstrndup(content, u->content_len) : NULL;
    u->metadata = ssql_col_json(st, 3);
}

/* what clear frees (the columns are read by read_unindexed) */
static const ssql_field unindexed_fields[] = {
    SSQL_FIELD(unindexed, id, INT), SSQL_FIELD(unindexed, sender, TEXT),
    SSQL_FIELD(unindexed, content, TEXT), SSQL_FIELD(unindexed, metadata, JSON)};
static const ssql_rec unindexed_rec = {sizeof(unindexed), unindexed_fields, 4, read_unindexed,
                                       NULL};

/* Gives u its index text; below SQLite's FTS5 watermark `upto` the FTS5 table
 * will not pick it up by itself, so it goes in there too. */
static err_code index_one(db_conn *c, store_sql *s, const unindexed *u, int64_t upto, err_t *e)
{
    const store_sql_dialect *d = s->d;
    char *text = store_index_text(&s->base, u->sender, u->content, u->content_len, u->metadata);
    char *grams = d->search_grams ? ssql_grams(text) : NULL;
    db_param p[3];
    size_t n = 0;
    p[n++] = DB_TEXT(text);
    if (grams)
        p[n++] = DB_TEXT(grams);
    p[n++] = DB_INT(u->id);
    err_code rc = db_exec_params(c, d->msg_set_search, p, n, NULL, e);
    if (rc == ERR_OK && d->search_fts_async && u->id <= upto)
        rc = db_exec_params(c, SQL_FTS_ONE, DB_ARGS(DB_INT(u->id), DB_TEXT(text)), NULL, e);
    free(grams);
    free(text);
    return rc;
}

static err_code tx_reindex(db_conn *c, void *arg, err_t *e)
{
    reindex_ctx *x = arg;
    const store_sql_dialect *d = x->s->d;
    /* 1. messages without index text (copied/imported without an index function,
     *    or from before 0002): read first, then update (one statement at a time) */
    unindexed *v = NULL;
    size_t n = 0;
    int64_t upto = 0, next = 0, filled = 0;
    bool found = false;
    err_code rc = ssql_get_list(c, SQL_UNINDEXED, DB_ARGS(DB_INT(x->limit)), &unindexed_rec,
                                (void **)&v, &n, e);
    if (rc == ERR_OK && d->search_fts_async)
        rc = ssql_get_one(c, SQL_FTS_UPTO, NULL, 0, &ssql_int_rec, &upto, &found, e);
    for (size_t i = 0; i < n && rc == ERR_OK; i++)
        rc = index_one(c, x->s, &v[i], upto, e);
    x->done = (int64_t)n;
    ssql_list_free(&unindexed_rec, (void **)&v, &n);
    if (rc != ERR_OK || !d->search_fts_async)
        return rc;
    /* 2. SQLite: the next `limit` messages above the watermark into FTS5 */
    rc = ssql_get_one(c, SQL_FTS_NEXT, DB_ARGS(DB_INT(upto), DB_INT(x->limit)), &ssql_int_rec,
                      &next, &found, e);
    if (rc != ERR_OK || next <= upto)
        return rc;
    rc = db_exec_params(c, SQL_FTS_FILL, DB_ARGS(DB_INT(upto), DB_INT(next)), &filled, e);
    if (rc == ERR_OK)
        rc = db_exec_params(c, SQL_FTS_MOVE, DB_ARGS(DB_INT(next)), NULL, e);
    if (rc == ERR_OK)
        x->done += filled > 0 ? filled : 1; /* the watermark moved: not complete yet */
    return rc;
}

err_code ssql_message_reindex(store_t *st, int limit, int64_t *done, err_t *e)
{
    reindex_ctx x = {S(st), limit, 0};
    err_code rc = ssql_run_write(S(st), tx_reindex, &x, e);
    if (rc == ERR_OK)
        *done = x.done;
    return rc;
}
