/* xfer/xfer.c — copy, export and import (see xfer.h): opening and migrating the
 * target, the "only rows identical to the source" rule for non-empty targets
 * (a set of SHA-256 digests of canonical rows), batched inserts through
 * store_import_rows, per-table checksums, and the JSON Lines dump reader and
 * writer with line-numbered errors; protected tokens only when asked (include_tokens), and
 * dumps of older schema versions brought to this one. Every row read from a source passes the row check
 * import applies: export never writes a line import refuses, and copy stops at such a
 * row naming it (source_row_check).
 * Copy and import record the load in the target until it is complete, and stop at a batch
 * boundary when xfer_opts.cancel asks (load_begin, load_end, batch_flush).
 * Must not: print (progress goes to the callback), contain SQL, or put an
 * unmasked URL into a message. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "xfer/xfer.h"
#include "base/hash.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "db/url.h"

/* ---- checksums ------------------------------------------------------------------------ */

typedef struct sums_acc {
    EVP_MD_CTX *md[XFER_MAX_TABLES];
    xfer_sums s;
} sums_acc;

static void acc_init(sums_acc *a)
{
    memset(a, 0, sizeof *a);
    size_t nt;
    const store_table *t = store_tables(&nt);
    a->s.n = nt;
    for (size_t i = 0; i < nt; i++) {
        a->s.t[i].table = t[i].name;
        a->md[i] = EVP_MD_CTX_new();
        if (!a->md[i] || !EVP_DigestInit_ex(a->md[i], EVP_sha256(), NULL))
            abort(); /* libcrypto out of memory: nothing sensible to do */
    }
}

static void acc_add(sums_acc *a, size_t k, const char *canon)
{
    EVP_DigestUpdate(a->md[k], canon, strlen(canon));
    EVP_DigestUpdate(a->md[k], "\n", 1);
    a->s.t[k].rows++;
}

/* Finishes the digests into a->s and frees the contexts. */
static void acc_done(sums_acc *a)
{
    for (size_t i = 0; i < a->s.n; i++) {
        if (!a->md[i])
            continue;
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_DigestFinal_ex(a->md[i], d, &n);
        str_hex(d, 32, a->s.t[i].sha256);
        EVP_MD_CTX_free(a->md[i]);
        a->md[i] = NULL;
    }
}

/* The canonical text of a row of `table` (caller frees) and the table's index in
 * *k; NULL with *e filled for an unknown table or a malformed row. */
static char *canon_row(const char *table, json_t *row, int *k, err_t *e)
{
    *k = store_table_index(table);
    if (*k < 0) {
        err_set(e, ERR_INTERNAL, "xfer: unknown table %s", table);
        return NULL;
    }
    size_t nt;
    return store_row_canonical(&store_tables(&nt)[*k], row, e);
}

/* A row read from a source must be one that import and every target accept
 * (store_row_check), so export and copy never write what would be refused later (a
 * value an older ctxd stored with a NUL character, say). Else the error names the row
 * by its identity (a protected token's id, a credential, stays hidden) and what to do. */
static err_code source_row_check(int k, const json_t *row, err_t *e)
{
    size_t nt;
    const store_table *t = &store_tables(&nt)[k];
    err_t ce;
    if (store_row_check(t, row, &ce) == ERR_OK)
        return ERR_OK;
    sbuf_t b = SBUF_INIT;
    for (size_t i = 0; i < t->nkey; i++) {
        const json_t *v = json_object_get(row, t->key[i]);
        char *txt = v && strcmp(t->key[i], "token_hash") != 0
                        ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
                        : NULL;
        sbuf_printf(&b, "%s%s %.80s", i ? ", " : "", t->key[i], txt ? txt : "(hidden)");
        free(txt);
    }
    err_set(e, ERR_INVALID,
            "%s row (%s): %s: rewrite or delete that row in the source database, then run "
            "again",
            t->name, sbuf_cstr(&b), ce.msg);
    sbuf_free(&b);
    return ERR_INVALID;
}

/* SHA-256 of "<table index>\n<canonical>": the identity of a row's content. */
static void row_digest(size_t k, const char *canon, unsigned char out[32])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char kb = (unsigned char)k;
    unsigned int n = 0;
    if (!m || !EVP_DigestInit_ex(m, EVP_sha256(), NULL))
        abort();
    EVP_DigestUpdate(m, &kb, 1);
    EVP_DigestUpdate(m, canon, strlen(canon));
    EVP_DigestFinal_ex(m, out, &n);
    EVP_MD_CTX_free(m);
}

/* The digest of a row (row_digest of its canonical text) and its table index. */
static err_code digest_row(const char *table, json_t *row, int *k, unsigned char d[32], err_t *e)
{
    char *c = canon_row(table, row, k, e);
    if (!c)
        return e->code;
    row_digest((size_t)*k, c, d);
    free(c);
    return ERR_OK;
}

/* Adds a row to the table sums; returns its canonical text (caller frees) and its
 * table index in *k, or NULL with *e filled as canon_row. */
static char *acc_row(sums_acc *a, const char *table, json_t *row, int *k, err_t *e)
{
    char *c = canon_row(table, row, k, e);
    if (c)
        acc_add(a, (size_t)*k, c);
    return c;
}

static err_code sums_cb(void *ud, const char *table, json_t *row, err_t *e)
{
    int k;
    char *c = acc_row(ud, table, row, &k, e);
    err_code rc = c ? ERR_OK : e->code;
    free(c);
    return rc;
}

err_code xfer_checksums(store_t *st, xfer_sums *out, err_t *e)
{
    sums_acc acc;
    acc_init(&acc);
    err_code rc = store_iterate(st, sums_cb, &acc, e);
    acc_done(&acc);
    *out = acc.s;
    return rc;
}

/* ---- a set of row digests (target rows, to compare with the source) ------------------- */

/* One target row: its digest (the key in the table), its table, and how many
 * source rows were found identical to it. */
typedef struct dig_ent {
    unsigned char d[32];
    unsigned char table;
    int64_t matched;
} dig_ent;

typedef struct dig_set {
    hash_t *h; /* digest -> dig_ent; NULL until the first row */
} dig_set;

static void dig_free(dig_set *s)
{
    hash_iter it = HASH_ITER_INIT;
    for (dig_ent *x; s->h && (x = hash_next(s->h, &it, NULL, NULL)) != NULL;)
        free(x);
    hash_free(s->h);
    s->h = NULL;
}

/* Adds a target row. */
static void dig_add(dig_set *s, const unsigned char d[32], unsigned char table)
{
    if (!s->h)
        s->h = hash_new(1024);
    if (hash_get(s->h, (const char *)d, 32))
        return; /* cannot happen: a table's rows are distinct by key */
    dig_ent *x = xcalloc(1, sizeof *x);
    memcpy(x->d, d, 32);
    x->table = table;
    hash_put(s->h, (const char *)x->d, 32, x);
}

/* Counts a source row against the target row it is identical to, if any. */
static void dig_match(dig_set *s, const unsigned char d[32], unsigned char table)
{
    (void)table; /* part of the digest */
    dig_ent *x = s->h ? hash_get(s->h, (const char *)d, 32) : NULL;
    if (x)
        x->matched++;
}

/* A store_iterate callback: the digest of every row goes to `op` (dig_add for
 * the target's rows, dig_match for the source's). */
typedef struct dig_feed {
    dig_set *set;
    void (*op)(dig_set *s, const unsigned char d[32], unsigned char table);
} dig_feed;

static err_code dig_feed_cb(void *ud, const char *table, json_t *row, err_t *e)
{
    dig_feed *f = ud;
    int k;
    unsigned char d[32];
    err_code rc = digest_row(table, row, &k, d, e);
    if (rc == ERR_OK)
        f->op(f->set, d, (unsigned char)k);
    return rc;
}

/* ---- reports and progress -------------------------------------------------------------- */

static void report_init(xfer_report *r)
{
    memset(r, 0, sizeof *r);
    size_t nt;
    const store_table *t = store_tables(&nt);
    r->n = nt;
    for (size_t i = 0; i < nt; i++) {
        r->t[i].table = t[i].name;
        r->t[i].target_before = -1;
    }
}

static void emit(const xfer_opts *o, xfer_ev_kind kind, const char *table, int64_t done,
                 int64_t total, int64_t inserted, const char *text)
{
    if (!o->progress)
        return;
    xfer_event ev = {kind, table, done, total, inserted, text};
    o->progress(o->progress_ud, &ev);
}

static void note(const xfer_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const xfer_opts *o, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(o, XFER_EV_NOTE, NULL, 0, 0, 0, buf);
}

/* Does the caller want the load to stop here (xfer.h, "Interruption")? */
static bool cancelled(const xfer_opts *o)
{
    return o->cancel && o->cancel(o->cancel_ud);
}

/* The table protected tokens are kept in: carried by copy and export only when asked. */
static int tokens_table(void)
{
    return store_table_index("secure_tokens");
}

/* Does this copy or export carry the rows of table k? */
static bool carried(const xfer_opts *o, int k)
{
    return o->include_tokens || k != tokens_table();
}

/* Compares two sets of checksums into the report (secure_tokens only when `tokens`); true
 * when all agree. */
static bool compare_sums(xfer_report *r, const xfer_sums *src, const xfer_sums *dst, bool tokens)
{
    bool same = true;
    for (size_t i = 0; i < r->n; i++) {
        xfer_table_report *t = &r->t[i];
        if (!tokens && (int)i == tokens_table())
            continue;
        t->verified = true;
        t->src = src->t[i];
        t->dst = dst->t[i];
        t->differs =
            src->t[i].rows != dst->t[i].rows || strcmp(src->t[i].sha256, dst->t[i].sha256) != 0;
        if (t->differs)
            same = false;
    }
    r->verify_failed = !same;
    return same;
}

/* ---- the target database ---------------------------------------------------------------- */

typedef struct target {
    store_t *st; /* NULL in a dry run on an unmigrated target */
    char *masked;
} target;

static void target_close(target *t)
{
    store_close(t->st);
    free(t->masked);
    memset(t, 0, sizeof *t);
}

/* Opens the target's store without looking at its schema. */
static err_code target_connect(const char *url, const xfer_opts *o, target *t, err_t *e)
{
    memset(t, 0, sizeof *t);
    t->masked = db_url_masked(url);
    err_code rc = store_open_with(url, o->conf, STORE_OPEN_ANY, &t->st, e);
    if (rc != ERR_OK)
        err_prefix(e, "target database %s", t->masked);
    return rc;
}

/* Refuses a target newer than the binary, migrates it up (not in a dry run:
 * there an unmigrated target is empty, and its store is closed) and checks that
 * its schema is current. */
static err_code target_prepare(target *t, const xfer_opts *o, bool migrate, xfer_report *r,
                               err_t *e)
{
    store_schema s;
    err_code rc = store_schema_status(t->st, &s, e);
    if (rc != ERR_OK)
        return err_prefix(e, "target database %s", t->masked);
    int current = s.current, latest = s.latest, newest = s.db_newest;
    store_schema_clear(&s);
    r->schema_before = r->schema_after = current;
    if (newest > latest)
        return err_set(e, ERR_SCHEMA,
                       "target database %s is at schema version %d, newer than this ctxd "
                       "(knows up to %d): upgrade ctxd",
                       t->masked, newest, latest);
    if (current < latest) {
        r->schema_after = latest; /* would be */
        if (!migrate) {
            store_close(t->st);
            t->st = NULL;
            return ERR_OK;
        }
        if ((rc = store_migrate_up(t->st, NULL, e)) != ERR_OK)
            return err_prefix(e, "migrating target database %s", t->masked);
        note(o, "target %s: schema migrated from version %d to %d", t->masked, current, latest);
    }
    if ((rc = store_schema_check(t->st, e)) != ERR_OK)
        return err_prefix(e, "target database %s", t->masked);
    return ERR_OK;
}

/* Opens the target and prepares it (target_prepare). */
static err_code target_open(const char *url, const xfer_opts *o, bool migrate, target *t,
                            xfer_report *r, err_t *e)
{
    err_code rc = target_connect(url, o, t, e);
    return rc != ERR_OK ? rc : target_prepare(t, o, migrate, r, e);
}

/* Counts the target's rows; if any, collects their digests into *set. */
static err_code target_scan(target *t, xfer_report *r, dig_set *set, err_t *e)
{
    if (!t->st)
        return ERR_OK;
    for (size_t i = 0; i < r->n; i++) {
        int64_t n = 0;
        err_code rc = store_count_rows(t->st, r->t[i].table, &n, e);
        if (rc != ERR_OK)
            return err_prefix(e, "target database %s", t->masked);
        r->t[i].target_before = n;
        if (n > 0)
            r->target_had_rows = true;
    }
    if (!r->target_had_rows)
        return ERR_OK;
    err_code rc = store_iterate(t->st, dig_feed_cb, &(dig_feed){set, dig_add}, e);
    if (rc != ERR_OK)
        return err_prefix(e, "reading target database %s", t->masked);
    return ERR_OK;
}

/* After the source was matched against *set: source rows identical to target rows
 * are present, target rows never matched are "other data". Fills the report;
 * ERR_EXISTS unless allowed. */
static err_code target_judge(dig_set *set, xfer_report *r, const xfer_opts *o, const char *masked,
                             err_t *e)
{
    hash_iter it = HASH_ITER_INIT;
    for (dig_ent *x; set->h && (x = hash_next(set->h, &it, NULL, NULL)) != NULL;) {
        r->t[x->table].present += x->matched;
        if (!x->matched)
            r->t[x->table].foreign++;
    }
    const char *first = NULL;
    int64_t total = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->t[i].foreign && !first)
            first = r->t[i].table;
        total += r->t[i].foreign;
    }
    r->target_foreign = total > 0;
    if (!total)
        return ERR_OK;
    if (o->dry_run)
        return ERR_OK; /* reported, not refused: nothing is written anyway */
    if (o->allow_nonempty) {
        note(o,
             "target %s holds %lld row(s) that are not in the source (first in table %s); "
             "merging because of --allow-nonempty",
             masked, (long long)total, first);
        return ERR_OK;
    }
    return err_set(e, ERR_EXISTS,
                   "target database %s is not empty: %lld row(s) (first in table %s) are not "
                   "identical to rows of the source; use an empty database, or pass "
                   "--allow-nonempty to merge (rows whose key exists in the target are kept)",
                   masked, (long long)total, first);
}

/* ---- the record of the load in the target (xfer.h, "Unfinished loads") --------------------- */

/* Records the load before its first row; when o->cancel already says stop, nothing is
 * recorded and r->interrupted is set instead. */
static err_code load_begin(const target *t, const xfer_opts *o, const char *command,
                           const char *source, xfer_report *r, err_t *e)
{
    if (cancelled(o)) {
        r->interrupted = true;
        return ERR_OK;
    }
    store_load l = {(char *)(o->load_command ? o->load_command : command),
                    (char *)(o->load_source ? o->load_source : source), utc_now()};
    err_code rc = store_load_mark(t->st, &l, e);
    return rc != ERR_OK ? err_prefix(e, "target database %s: recording the load", t->masked)
                        : ERR_OK;
}

/* Removes the record once the load is complete. */
static err_code load_end(const target *t, err_t *e)
{
    err_code rc = store_load_unmark(t->st, e);
    return rc != ERR_OK
               ? err_prefix(e, "target database %s: removing the record of the load", t->masked)
               : ERR_OK;
}

/* ---- batches ------------------------------------------------------------------------------ */

typedef struct batcher {
    store_t *st;
    const xfer_opts *o;
    xfer_report *r;
    size_t batch;
    int k; /* table of the rows held, -1 none */
    json_t **rows;
    size_t n;
    int64_t done;  /* rows of table k processed */
    int64_t total; /* rows of every table processed */
    bool stopped;  /* o->cancel said stop before a batch */
} batcher;

static err_code batch_flush(batcher *b, err_t *e)
{
    if (b->k < 0 || b->n == 0)
        return ERR_OK;
    xfer_table_report *t = &b->r->t[b->k];
    if (cancelled(b->o)) { /* a batch boundary: what is written are whole batches */
        b->stopped = true;
        return err_set(e, ERR_FATAL, "interrupted");
    }
    int64_t ins = 0;
    size_t n = b->n;
    err_code rc = store_import_rows(b->st, t->table, b->rows, n, &ins, e);
    for (size_t i = 0; i < n; i++)
        json_decref(b->rows[i]);
    b->n = 0;
    if (rc != ERR_OK)
        return rc;
    b->done += (int64_t)n;
    b->total += (int64_t)n;
    t->inserted += ins;
    emit(b->o, XFER_EV_ROWS, t->table, b->done, t->source_rows, t->inserted, NULL);
    return ERR_OK;
}

static err_code batch_end_table(batcher *b, err_t *e)
{
    if (b->k < 0)
        return ERR_OK;
    err_code rc = batch_flush(b, e);
    if (rc != ERR_OK)
        return rc;
    xfer_table_report *t = &b->r->t[b->k];
    /* Exact on every backend (MySQL reports a skipped duplicate as a changed row). */
    int64_t now = 0;
    if ((rc = store_count_rows(b->st, t->table, &now, e)) != ERR_OK)
        return rc;
    if (t->target_before >= 0)
        t->inserted = now - t->target_before;
    emit(b->o, XFER_EV_TABLE_END, t->table, b->done, t->source_rows, t->inserted, NULL);
    return ERR_OK;
}

/* Tables are visited in order; empty ones get their begin/end events too. */
static err_code batch_goto(batcher *b, int k, err_t *e)
{
    while (b->k < k) {
        err_code rc = batch_end_table(b, e);
        if (rc != ERR_OK)
            return rc;
        b->k++;
        b->done = 0;
        emit(b->o, XFER_EV_TABLE_BEGIN, b->r->t[b->k].table, 0, b->r->t[b->k].source_rows, 0, NULL);
    }
    return ERR_OK;
}

static err_code batch_add(batcher *b, int k, json_t *row, err_t *e)
{
    err_code rc = batch_goto(b, k, e);
    if (rc != ERR_OK)
        return rc;
    b->rows[b->n++] = json_incref(row);
    if (b->n >= b->batch)
        return batch_flush(b, e);
    return ERR_OK;
}

static err_code batch_finish(batcher *b, err_t *e)
{
    err_code rc = batch_goto(b, (int)b->r->n - 1, e);
    return rc != ERR_OK ? rc : batch_end_table(b, e);
}

static void batch_init(batcher *b, store_t *st, const xfer_opts *o, xfer_report *r)
{
    memset(b, 0, sizeof *b);
    b->st = st;
    b->o = o;
    b->r = r;
    b->batch = o->batch > 0 ? (size_t)o->batch : XFER_DEFAULT_BATCH;
    b->k = -1;
    b->rows = xcalloc(b->batch, sizeof *b->rows);
}

static void batch_free(batcher *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->rows[i]);
    free(b->rows);
    b->rows = NULL;
    b->n = 0;
}

/* After the batches (rc): frees the batcher, makes a stop asked for no error but
 * r->interrupted, and moves the target's sequences on (after a stop too, so ids given on
 * the target never collide with rows copied later). */
static err_code batch_done(batcher *b, err_code rc, const target *tg, err_t *e)
{
    b->r->rows_done = b->total;
    if (b->stopped) {
        b->r->interrupted = true;
        b->r->stopped_table = b->r->t[b->k].table;
        err_clear(e);
        rc = ERR_OK;
    }
    batch_free(b);
    if (rc == ERR_OK && (rc = store_import_finish(tg->st, e)) != ERR_OK)
        err_prefix(e, "target database %s: moving sequences on", tg->masked);
    return rc;
}

/* ---- copy ------------------------------------------------------------------------------------ */

static err_code copy_cb(void *ud, const char *table, json_t *row, err_t *e)
{
    batcher *b = ud;
    int k = store_table_index(table);
    if (k < 0)
        return err_set(e, ERR_INTERNAL, "xfer: unknown table %s", table);
    if (!carried(b->o, k))
        return ERR_OK; /* counted in left_out */
    if (source_row_check(k, row, e) != ERR_OK)
        return e->code;
    return batch_add(b, k, row, e);
}

/* A source must exist: opening a SQLite path that does not would create an
 * empty file (and then fail on its schema with a less helpful message). */
static err_code source_exists(const char *url, const char *masked, err_t *e)
{
    err_code rc = store_check_exists(url, e);
    if (rc != ERR_OK)
        err_prefix(e, "source database %s", masked);
    return rc;
}

err_code xfer_copy(const char *from_url, const char *to_url, const xfer_opts *o, xfer_report *r,
                   err_t *e)
{
    report_init(r);
    if (!from_url || !*from_url || !to_url || !*to_url)
        return err_set(e, ERR_INVALID, "copy needs a source and a target URL");
    if (strcmp(from_url, to_url) == 0)
        return err_set(e, ERR_INVALID, "the source and the target are the same database");
    char *src_masked = db_url_masked(from_url);
    store_t *src = NULL;
    target tg = {0};
    dig_set set = {0};
    err_code rc = source_exists(from_url, src_masked, e);
    if (rc != ERR_OK)
        goto out;
    if ((rc = store_open(from_url, o->conf, &src, e)) != ERR_OK) {
        err_prefix(e, "source database %s", src_masked);
        goto out;
    }
    for (size_t i = 0; i < r->n; i++) {
        if ((rc = store_count_rows(src, r->t[i].table, &r->t[i].source_rows, e)) != ERR_OK) {
            err_prefix(e, "source database %s", src_masked);
            goto out;
        }
        if (!carried(o, (int)i))
            r->t[i].left_out = r->t[i].source_rows;
    }
    if ((rc = target_open(to_url, o, !o->dry_run, &tg, r, e)) != ERR_OK)
        goto out;
    if ((rc = target_scan(&tg, r, &set, e)) != ERR_OK)
        goto out;
    if (r->target_had_rows) {
        if ((rc = store_iterate(src, dig_feed_cb, &(dig_feed){&set, dig_match}, e)) != ERR_OK) {
            err_prefix(e, "reading source database %s", src_masked);
            goto out;
        }
        if ((rc = target_judge(&set, r, o, tg.masked, e)) != ERR_OK)
            goto out;
    } else {
        for (size_t i = 0; i < r->n; i++)
            if (r->t[i].target_before < 0 && tg.st == NULL && r->schema_before == 0)
                r->t[i].target_before = 0; /* no schema yet: empty */
    }
    dig_free(&set);
    if (o->dry_run) {
        for (size_t i = 0; i < r->n; i++)
            r->t[i].inserted = r->t[i].left_out ? 0 : r->t[i].source_rows - r->t[i].present;
        goto out;
    }

    if ((rc = load_begin(&tg, o, "copy", src_masked, r, e)) != ERR_OK || r->interrupted)
        goto out;
    batcher b;
    batch_init(&b, tg.st, o, r);
    rc = store_iterate(src, copy_cb, &b, e);
    if (rc == ERR_OK)
        rc = batch_finish(&b, e);
    if (rc != ERR_OK && !b.stopped)
        err_prefix(e, "copy %s -> %s", src_masked, tg.masked);
    if ((rc = batch_done(&b, rc, &tg, e)) != ERR_OK || r->interrupted)
        goto out;
    if (o->verify) {
        xfer_sums a, c;
        if ((rc = xfer_checksums(src, &a, e)) != ERR_OK) {
            err_prefix(e, "verify: source database %s", src_masked);
            goto out;
        }
        if ((rc = xfer_checksums(tg.st, &c, e)) != ERR_OK) {
            err_prefix(e, "verify: target database %s", tg.masked);
            goto out;
        }
        compare_sums(r, &a, &c, o->include_tokens);
    }
    rc = load_end(&tg, e);
out:
    dig_free(&set);
    target_close(&tg);
    store_close(src);
    free(src_masked);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------------ */

typedef struct export_ctx {
    FILE *out;
    sums_acc acc;
    xfer_report *r;
    const xfer_opts *o;
    int last; /* table index of the previous row */
    sbuf_t line;
} export_ctx;

static err_code export_cb(void *ud, const char *table, json_t *row, err_t *e)
{
    export_ctx *x = ud;
    int k = store_table_index(table);
    if (k >= 0 && !carried(x->o, k)) {
        x->r->t[k].left_out++;
        return ERR_OK;
    }
    if (k >= 0 && source_row_check(k, row, e) != ERR_OK)
        return e->code;
    char *c = acc_row(&x->acc, table, row, &k, e);
    if (!c)
        return e->code;
    sbuf_reset(&x->line);
    sbuf_printf(&x->line, "{\"table\":\"%s\",\"row\":%s}\n", table, c);
    free(c);
    if (fwrite(x->line.p, 1, x->line.len, x->out) != x->line.len)
        return err_set(e, ERR_IO, "writing the dump: %s", strerror(errno));
    x->r->t[k].source_rows++;
    if (k != x->last) {
        if (x->last >= 0)
            emit(x->o, XFER_EV_TABLE_END, x->r->t[x->last].table, x->r->t[x->last].source_rows,
                 x->r->t[x->last].source_rows, x->r->t[x->last].source_rows, NULL);
        x->last = k;
    }
    return ERR_OK;
}

static char *trailer_text(const xfer_sums *s)
{
    json_t *t = json_object();
    json_t *tables = json_object();
    int64_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        json_t *one = json_object();
        json_object_set_new(one, "rows", json_integer(s->t[i].rows));
        json_object_set_new(one, "sha256", json_string(s->t[i].sha256));
        json_object_set_new(tables, s->t[i].table, one);
        total += s->t[i].rows;
    }
    json_object_set_new(t, "end", json_string(XFER_FORMAT));
    json_object_set_new(t, "rows", json_integer(total));
    json_object_set_new(t, "tables", tables);
    char *txt = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(t);
    return txt;
}

err_code xfer_export(const char *url, const xfer_opts *o, FILE *out, xfer_report *r, err_t *e)
{
    report_init(r);
    char *masked = db_url_masked(url);
    store_t *st = NULL;
    err_code rc = source_exists(url, masked, e);
    if (rc != ERR_OK) {
        free(masked);
        return rc;
    }
    store_schema sch = {0};
    if ((rc = store_open(url, o->conf, &st, e)) == ERR_OK &&
        (rc = store_schema_status(st, &sch, e)) != ERR_OK)
        store_close(st);
    if (rc != ERR_OK) {
        err_prefix(e, "database %s", masked);
        free(masked);
        return rc;
    }
    store_stats ss;
    store_get_stats(st, &ss);
    json_t *h = json_object();
    char iso[UTC_ISO_LEN];
    json_object_set_new(h, "format", json_string(XFER_FORMAT));
    json_object_set_new(h, "format_version", json_integer(XFER_FORMAT_VERSION));
    json_object_set_new(h, "ctxd_version",
                        json_string(o->ctxd_version ? o->ctxd_version : "unknown"));
    /* the version of the schema the data is in, on the backend it came from */
    json_object_set_new(h, "schema_version", json_integer(sch.current));
    store_schema_clear(&sch);
    json_object_set_new(h, "source_backend", json_string(ss.backend));
    json_object_set_new(h, "exported_at", json_string(utc_format(utc_now(), iso)));
    char *ht = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    export_ctx x = {.out = out, .r = r, .o = o, .last = -1, .line = SBUF_INIT};
    acc_init(&x.acc);
    if (fprintf(out, "%s\n", ht) < 0)
        rc = err_set(e, ERR_IO, "writing the dump: %s", strerror(errno));
    free(ht);
    if (rc == ERR_OK)
        rc = store_iterate(st, export_cb, &x, e);
    acc_done(&x.acc);
    sbuf_free(&x.line);
    if (rc == ERR_OK && x.last >= 0)
        emit(o, XFER_EV_TABLE_END, r->t[x.last].table, r->t[x.last].source_rows,
             r->t[x.last].source_rows, r->t[x.last].source_rows, NULL);
    if (rc == ERR_OK) {
        char *tt = trailer_text(&x.acc.s);
        if (fprintf(out, "%s\n", tt) < 0 || fflush(out) != 0 || ferror(out))
            rc = err_set(e, ERR_IO, "writing the dump: %s", strerror(errno));
        free(tt);
        for (size_t i = 0; i < r->n; i++)
            r->t[i].src = x.acc.s.t[i];
    } else if (e->code != ERR_IO) {
        err_prefix(e, "exporting %s", masked);
    }
    store_close(st);
    free(masked);
    return rc;
}

/* ---- import -------------------------------------------------------------------------------------- */

typedef struct dump_reader {
    FILE *in;
    const char *name;
    char *buf;
    size_t cap;
    long line;    /* number of the line in buf */
    bool newline; /* the line ended with '\n' */
} dump_reader;

/* Next line into r->buf (without the newline); 0 at EOF, 1 a line, -1 error. */
static int rd_next(dump_reader *r, err_t *e)
{
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->in);
    if (n < 0) {
        if (ferror(r->in))
            return err_set(e, ERR_IO, "%s: read error after line %ld: %s", r->name, r->line,
                           strerror(errno)),
                   -1;
        return 0;
    }
    r->line++;
    r->newline = n > 0 && r->buf[n - 1] == '\n';
    if (r->newline)
        r->buf[--n] = 0;
    if (n > 0 && r->buf[n - 1] == '\r')
        r->buf[--n] = 0;
    return 1;
}

static err_code line_err(const dump_reader *r, err_t *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static err_code line_err(const dump_reader *r, err_t *e, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(e, ERR_INVALID, "%s: line %ld: %s", r->name, r->line, msg);
}

/* Parses the current line as a JSON object. */
static err_code rd_json(const dump_reader *r, json_t **out, err_t *e)
{
    json_error_t je;
    *out = json_loads(r->buf, JSON_REJECT_DUPLICATES, &je);
    if (!*out) {
        if (!r->newline)
            return line_err(r, e,
                            "incomplete line at the end of the file: the dump is "
                            "truncated (%s)",
                            je.text);
        return line_err(r, e, "not valid JSON: %s (column %d)", je.text, je.column);
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return line_err(r, e, "expected a JSON object");
    }
    return ERR_OK;
}

typedef struct dump_header {
    int schema_version;
    char backend[32];
} dump_header;

/* A version number of the header (key): a whole number from 1 to `known`, the
 * newest this ctxd reads; what: its name in the message when it is newer. */
static err_code header_version(const dump_reader *r, json_t *header, const char *key,
                               const char *what, int known, err_t *e)
{
    json_t *v = json_object_get(header, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return line_err(r, e, "the header has no valid \"%s\"", key);
    if (json_integer_value(v) > known)
        return line_err(r, e,
                        "the dump's %s %lld is newer than this ctxd (knows up to %d): upgrade "
                        "ctxd to import it",
                        what, (long long)json_integer_value(v), known);
    return ERR_OK;
}

static err_code rd_header(dump_reader *r, int latest, dump_header *h, err_t *e)
{
    int got = rd_next(r, e);
    if (got < 0)
        return e->code;
    if (got == 0)
        return err_set(e, ERR_INVALID, "%s: the file is empty (not a ctxd export)", r->name);
    json_t *j = NULL;
    err_code rc = rd_json(r, &j, e);
    if (rc != ERR_OK)
        return err_prefix(e, "not a ctxd export");
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!fmt || strcmp(fmt, XFER_FORMAT) != 0)
        rc = line_err(r, e, "not a ctxd export (the header's \"format\" is not \"%s\")",
                      XFER_FORMAT);
    else if ((rc = header_version(r, j, "format_version", "export format version",
                                  XFER_FORMAT_VERSION, e)) == ERR_OK)
        rc = header_version(r, j, "schema_version", "schema version", latest, e);
    if (rc == ERR_OK) {
        h->schema_version = (int)json_integer_value(json_object_get(j, "schema_version"));
        const char *b = json_string_value(json_object_get(j, "source_backend"));
        snprintf(h->backend, sizeof h->backend, "%s", b ? b : "unknown");
    }
    json_decref(j);
    return rc;
}

/* One row line: {"table":..., "row":{...}} -> table index and the row as the dump holds
 * it (new ref). */
static err_code rd_row(const dump_reader *r, json_t *j, int *k, json_t **row, err_t *e)
{
    json_t *t = json_object_get(j, "table");
    json_t *rw = json_object_get(j, "row");
    if (!json_is_string(t) || !rw || json_object_size(j) != 2)
        return line_err(r, e, "expected {\"table\": ..., \"row\": {...}}");
    *k = store_table_index(json_string_value(t));
    if (*k < 0)
        return line_err(r, e, "unknown table '%.64s'", json_string_value(t));
    *row = json_incref(rw);
    return ERR_OK;
}

/* The schema version from which the tables have their present shape: sessions.access,
 * agent_credentials, protected tokens kept as digests. */
#define XFER_SHAPE_VERSION 3

/* A row of a dump at schema `version` in this version's shape (stolen; see xfer.h): a
 * session of an older dump gets "access": null (open); a protected token it kept in
 * clear (token_id) is not imported: NULL. */
static json_t *upgrade_row(int version, int k, json_t *row)
{
    if (version >= XFER_SHAPE_VERSION)
        return row;
    if (k == tokens_table() && json_object_get(row, "token_id")) {
        json_decref(row);
        return NULL;
    }
    if (k == store_table_index("sessions") && !json_object_get(row, "access"))
        json_object_set_new(row, "access", json_null());
    return row;
}

/* Checks the trailer against what was read (got: the rows as the dump holds them). A dump
 * older than XFER_SHAPE_VERSION has no entry for agent_credentials (none). */
static err_code rd_trailer(const dump_reader *r, json_t *j, int version, const xfer_sums *got,
                           xfer_sums *want, err_t *e)
{
    json_t *tables = json_object_get(j, "tables");
    if (!json_is_object(tables))
        return line_err(r, e, "the trailer has no \"tables\" object");
    *want = *got;
    const char *name;
    json_t *v;
    json_object_foreach (tables, name, v) {
        if (store_table_index(name) < 0)
            return line_err(r, e, "the trailer names an unknown table '%.64s'", name);
    }
    for (size_t i = 0; i < got->n; i++) {
        json_t *t = json_object_get(tables, got->t[i].table);
        if (!t && version < XFER_SHAPE_VERSION && strcmp(got->t[i].table, "agent_credentials") == 0)
            continue; /* *want = *got: none in the file, none in the trailer */
        json_t *n = json_object_get(t, "rows");
        const char *sha = json_string_value(json_object_get(t, "sha256"));
        if (!json_is_integer(n) || !sha || strlen(sha) != 64)
            return line_err(r, e, "the trailer has no valid count and sha256 for table %s",
                            got->t[i].table);
        want->t[i].rows = json_integer_value(n);
        snprintf(want->t[i].sha256, sizeof want->t[i].sha256, "%s", sha);
        if (want->t[i].rows != got->t[i].rows)
            return line_err(r, e,
                            "table %s: the file holds %lld row(s) but the trailer says %lld: "
                            "the dump is damaged",
                            got->t[i].table, (long long)got->t[i].rows, (long long)want->t[i].rows);
        if (strcmp(want->t[i].sha256, got->t[i].sha256) != 0)
            return line_err(r, e,
                            "table %s: the rows' checksum differs from the trailer's: the "
                            "dump is damaged",
                            got->t[i].table);
    }
    return ERR_OK;
}

/* Pass 1 (check = true): validates the whole file, computes checksums, marks the
 * target's digests. Pass 2: inserts through the batcher. */
typedef struct pass_ctx {
    dump_reader rd;
    int latest;
    dump_header h;
    xfer_sums got, want; /* the rows as the file holds them; what its trailer says */
    xfer_sums expect;    /* the rows to import, in this version's shape (pass 1) */
    int64_t legacy;      /* old protected tokens left out (pass 1) */
    dig_set *set;
    batcher *b;
    const xfer_opts *o;
    bool stopped; /* o->cancel said stop while checking */
} pass_ctx;

/* Pass 1's sums: of the file's own rows, and (an older dump) of the rows upgraded. */
typedef struct pass_sums {
    sums_acc file, now;
    bool upgraded; /* `now` is in use */
} pass_sums;

static void pass_sums_done(pass_ctx *p, pass_sums *ps)
{
    acc_done(&ps->file);
    p->got = ps->file.s;
    if (ps->upgraded)
        acc_done(&ps->now);
    p->expect = ps->upgraded ? ps->now.s : ps->file.s;
}

/* Pass 1 on one row of table k: checksums and the target's matching digests. */
static err_code check_row(pass_ctx *p, pass_sums *ps, int k, const json_t *row, err_t *e)
{
    size_t nt;
    char *c = store_row_canonical(&store_tables(&nt)[k], row, e);
    if (!c)
        return line_err(&p->rd, e, "%s", e->msg);
    acc_add(ps->upgraded ? &ps->now : &ps->file, (size_t)k, c);
    if (p->set->h) {
        unsigned char d[32];
        row_digest((size_t)k, c, d);
        dig_match(p->set, d, (unsigned char)k);
    }
    free(c);
    return ERR_OK;
}

/* The file's own text of a row of an older dump into its checksum (what its trailer sums:
 * the rows were written canonical). */
static void sum_as_written(pass_sums *ps, int k, const json_t *row)
{
    char *c = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    acc_add(&ps->file, (size_t)k, c ? c : "");
    free(c);
}

static err_code run_pass(pass_ctx *p, bool check, err_t *e)
{
    p->rd.line = 0;
    if (fseek(p->rd.in, 0, SEEK_SET) != 0)
        return err_set(e, ERR_IO, "%s: cannot read the file twice (not seekable): %s", p->rd.name,
                       strerror(errno));
    clearerr(p->rd.in);
    err_code rc = rd_header(&p->rd, p->latest, &p->h, e);
    if (rc != ERR_OK)
        return rc;
    pass_sums ps = {.upgraded = p->h.schema_version < XFER_SHAPE_VERSION};
    if (check) {
        acc_init(&ps.file);
        if (ps.upgraded)
            acc_init(&ps.now);
        p->legacy = 0;
    }
    int last = 0;
    bool trailer = false;
    int got;
    while ((got = rd_next(&p->rd, e)) == 1) {
        if (trailer) {
            rc = line_err(&p->rd, e, "unexpected line after the trailer");
            break;
        }
        if (check && p->rd.line % 1024 == 0 && cancelled(p->o)) { /* nothing written yet */
            p->stopped = true;
            rc = err_set(e, ERR_FATAL, "interrupted");
            break;
        }
        json_t *j = NULL;
        if ((rc = rd_json(&p->rd, &j, e)) != ERR_OK)
            break;
        if (json_object_get(j, "end")) {
            if (!check) {
                json_decref(j);
                trailer = true;
                continue;
            }
            pass_sums_done(p, &ps);
            const char *end = json_string_value(json_object_get(j, "end"));
            if (!end || strcmp(end, XFER_FORMAT) != 0)
                rc = line_err(&p->rd, e, "the trailer's \"end\" is not \"%s\"", XFER_FORMAT);
            else
                rc = rd_trailer(&p->rd, j, p->h.schema_version, &p->got, &p->want, e);
            json_decref(j);
            if (rc != ERR_OK)
                return rc;
            trailer = true;
            continue;
        }
        int k = -1;
        json_t *row = NULL;
        rc = rd_row(&p->rd, j, &k, &row, e);
        json_decref(j);
        if (rc != ERR_OK)
            break;
        if (k < last) {
            json_decref(row);
            rc = line_err(&p->rd, e,
                          "table %s after %s: rows must come in foreign-key order "
                          "(%s first)",
                          store_tables(&(size_t){0})[k].name, store_tables(&(size_t){0})[last].name,
                          store_tables(&(size_t){0})[k].name);
            break;
        }
        last = k;
        if (check && ps.upgraded)
            sum_as_written(&ps, k, row);
        if (!(row = upgrade_row(p->h.schema_version, k, row))) {
            p->legacy += check;
            continue;
        }
        err_t ce;
        if (store_row_check(&store_tables(&(size_t){0})[k], row, &ce) != ERR_OK)
            rc = line_err(&p->rd, e, "%s", ce.msg);
        else if (check)
            rc = check_row(p, &ps, k, row, e);
        else if ((rc = batch_add(p->b, k, row, e)) != ERR_OK)
            err_prefix(e, "%s: line %ld", p->rd.name, p->rd.line);
        json_decref(row);
        if (rc != ERR_OK)
            break;
    }
    if (got < 0)
        rc = e->code;
    if (check && !trailer) {
        pass_sums_done(p, &ps);
        if (rc == ERR_OK)
            rc = err_set(e, ERR_INVALID,
                         "%s: the file ends at line %ld without the trailer "
                         "line: the dump is truncated",
                         p->rd.name, p->rd.line);
    }
    return rc;
}

err_code xfer_import(const char *url, FILE *in, const char *name, const xfer_opts *o,
                     xfer_report *r, err_t *e)
{
    report_init(r);
    target tg = {0};
    dig_set set = {0};
    pass_ctx p = {.rd = {.in = in, .name = name ? name : "dump"}, .set = &set, .o = o};
    /* The header first: a dump newer than this binary changes nothing. Its
     * schema_version is compared with the newest the target's backend knows
     * (every backend numbers the versions of the same logical tables). */
    store_schema sch;
    err_code rc = target_connect(url, o, &tg, e);
    if (rc != ERR_OK)
        goto out;
    if ((rc = store_schema_status(tg.st, &sch, e)) != ERR_OK) {
        err_prefix(e, "target database %s", tg.masked);
        goto out;
    }
    p.latest = sch.latest;
    store_schema_clear(&sch);
    if ((rc = rd_header(&p.rd, p.latest, &p.h, e)) != ERR_OK)
        goto out;
    snprintf(r->source_backend, sizeof r->source_backend, "%s", p.h.backend);

    if ((rc = target_prepare(&tg, o, true, r, e)) != ERR_OK)
        goto out;
    if ((rc = target_scan(&tg, r, &set, e)) != ERR_OK)
        goto out;
    if ((rc = run_pass(&p, true, e)) != ERR_OK) {
        if (p.stopped) {
            r->interrupted = true;
            err_clear(e);
            rc = ERR_OK;
        }
        goto out;
    }
    for (size_t i = 0; i < r->n; i++)
        r->t[i].source_rows = p.expect.t[i].rows;
    if ((r->legacy_tokens = p.legacy) > 0)
        note(o,
             "%lld protected token(s) of this dump (schema version %d) are not imported: "
             "ctxd kept them in clear then, and keeps only digests now (their agents "
             "authenticate again)",
             (long long)p.legacy, p.h.schema_version);
    if (r->target_had_rows && (rc = target_judge(&set, r, o, tg.masked, e)) != ERR_OK)
        goto out;
    dig_free(&set);

    if ((rc = load_begin(&tg, o, "import", p.rd.name, r, e)) != ERR_OK || r->interrupted)
        goto out;
    batcher b;
    batch_init(&b, tg.st, o, r);
    p.b = &b;
    rc = run_pass(&p, false, e);
    if (rc == ERR_OK)
        rc = batch_finish(&b, e);
    if ((rc = batch_done(&b, rc, &tg, e)) != ERR_OK || r->interrupted)
        goto out;
    if (!r->target_foreign) {
        xfer_sums now;
        if ((rc = xfer_checksums(tg.st, &now, e)) != ERR_OK) {
            err_prefix(e, "verify: target database %s", tg.masked);
            goto out;
        }
        compare_sums(r, &p.expect, &now, true);
    }
    rc = load_end(&tg, e);
out:
    dig_free(&set);
    free(p.rd.buf);
    target_close(&tg);
    return rc;
}
