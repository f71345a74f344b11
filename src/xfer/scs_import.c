/* xfer/scs_import.c — `ctxd import-scs` end to end (see scs.h): the staging database the
 * converted rows are written to (a private SQLite file in a fresh directory under TMPDIR,
 * written through store_import_rows, removed afterwards), the read of the source into it
 * (scs_read.c), and the move into the target by xfer_copy with verification, so the
 * target is written exactly as `ctxd copy` writes it (migration, the non-empty rule,
 * batches, resuming, checksums, the record of an unfinished load naming the SCS database,
 * interruption at batch boundaries through o->cancel).
 * Must not: write to the source, print, or write the target other than through xfer_copy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "db/url.h"
#include "xfer/scs_int.h"

const char *scs_kind_name(scs_kind k)
{
    static const char *const names[SCS_NKINDS] = {"sessions", "messages", "agent_memory",
                                                  "audit_log", "secure_tokens"};
    return (unsigned)k < SCS_NKINDS ? names[k] : "?";
}

static void emit(const scs_ctx *c, xfer_ev_kind kind, int64_t done, int64_t total, const char *text)
{
    if (!c->o->progress)
        return;
    xfer_event ev = {kind, scs_kind_name(c->kind), done, total, 0, text};
    c->o->progress(c->o->progress_ud, &ev);
}

void scs_progress(scs_ctx *c, int64_t done, int64_t total)
{
    emit(c, XFER_EV_ROWS, done, total, NULL);
}

/* ---- the staging sink -------------------------------------------------------------------- */

static err_code stage_flush(scs_ctx *c, err_t *e)
{
    if (!c->n)
        return ERR_OK;
    int64_t ins = 0;
    err_code rc = store_import_rows(c->stage, scs_kind_name(c->kind), c->rows, c->n, &ins, e);
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->rows[i]);
    c->n = 0;
    c->inserted += ins;
    return rc;
}

err_code scs_stage_row(scs_ctx *c, json_t *row, err_t *e)
{
    c->rows[c->n++] = row;
    c->staged++;
    return c->n >= c->batch ? stage_flush(c, e) : ERR_OK;
}

err_code scs_stage_end(scs_ctx *c, err_t *e)
{
    err_code rc = stage_flush(c, e);
    if (rc != ERR_OK)
        return rc;
    scs_count *k = &c->r->k[c->kind];
    int64_t dup = c->staged - c->inserted; /* memory: the same agent, session and key */
    k->converted = c->inserted;
    k->skipped += dup;
    c->r->duplicates += dup;
    char line[300];
    if (dup > 0) {
        snprintf(line, sizeof line,
                 "warning: %lld %s entr(y/ies) had the agent, session and key of a newer "
                 "one; the newest kept",
                 (long long)dup, scs_kind_name(c->kind));
        emit(c, XFER_EV_NOTE, 0, 0, line);
    }
    if (c->warnings[c->kind] > SCS_WARN_SHOWN) {
        snprintf(line, sizeof line, "warning: %lld more warning(s) about %s not shown",
                 (long long)(c->warnings[c->kind] - SCS_WARN_SHOWN), scs_kind_name(c->kind));
        emit(c, XFER_EV_NOTE, 0, 0, line);
    }
    c->staged = c->inserted = 0;
    return ERR_OK;
}

/* ---- the staging database ---------------------------------------------------------------- */

typedef struct stage_dir {
    char *dir, *url, *file;
} stage_dir;

static err_code stage_create(stage_dir *d, err_t *e)
{
    const char *tmp = getenv("TMPDIR");
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s/ctxd-import-scs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    d->dir = sbuf_detach(&b);
    if (!mkdtemp(d->dir)) {
        err_set(e, ERR_IO, "cannot create a staging directory %s: %s", d->dir, strerror(errno));
        free(d->dir);
        d->dir = NULL;
        return ERR_IO;
    }
    sbuf_printf(&b, "%s/staged.db", d->dir);
    d->file = sbuf_detach(&b);
    sbuf_printf(&b, "sqlite:///%s", d->file);
    d->url = sbuf_detach(&b);
    return ERR_OK;
}

static void stage_remove(stage_dir *d)
{
    if (d->dir) {
        static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
            sbuf_t b = SBUF_INIT;
            sbuf_printf(&b, "%s%s", d->file, ext[i]);
            unlink(sbuf_cstr(&b));
            sbuf_free(&b);
        }
        rmdir(d->dir);
    }
    free(d->dir);
    free(d->file);
    free(d->url);
}

/* ---- the import ---------------------------------------------------------------------------- */

/* The SQLite file a source (a path or URL) or target URL names, or NULL. */
static char *sqlite_file(const char *url)
{
    if (!strstr(url, "://"))
        return xstrdup(url);
    db_url *u = NULL;
    err_t e;
    char *p = NULL;
    if (db_url_parse(url, &u, &e) == ERR_OK && u->backend == DB_BACKEND_SQLITE && !u->memory)
        p = xstrdup(u->path);
    db_url_free(u);
    return p;
}

/* ERR_INVALID when the target is the source's file (migrating it would change it). */
static err_code not_same_file(const char *source, const char *target, err_t *e)
{
    char *a = sqlite_file(source), *b = sqlite_file(target);
    struct stat sa, sb;
    bool same = a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
                sa.st_ino == sb.st_ino;
    free(a);
    free(b);
    if (same)
        return err_set(e, ERR_INVALID,
                       "the target database is the shared-context-server file itself: import "
                       "into a new ctxd database (DATABASE_URL / --database-url) and keep the "
                       "source as it is");
    return ERR_OK;
}

/* Reads the source into the staging database at `url`. */
static err_code stage_source(scs_ctx *c, const char *source, const char *url, err_t *e)
{
    log_level was = log_get_level(); /* the staging file's migrations are no news */
    if (was < LOG_WARN)
        log_set_level(LOG_WARN);
    err_code rc = store_open_with(url, c->o->conf, STORE_OPEN_MIGRATE, &c->stage, e);
    log_set_level(was);
    if (rc != ERR_OK)
        return err_prefix(e, "staging database");
    c->batch = c->o->batch > 0 ? (size_t)c->o->batch : XFER_DEFAULT_BATCH;
    c->rows = xcalloc(c->batch, sizeof *c->rows);
    rc = scs_read(c, source, e);
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->rows[i]);
    free(c->rows);
    c->rows = NULL;
    if (rc == ERR_OK && (rc = store_import_finish(c->stage, e)) != ERR_OK)
        err_prefix(e, "staging database");
    store_close(c->stage);
    c->stage = NULL;
    return rc;
}

err_code scs_import(const char *source, const char *target, const xfer_opts *o, scs_report *r,
                    err_t *e)
{
    memset(r, 0, sizeof *r);
    if (!source || !*source || !target || !*target)
        return err_set(e, ERR_INVALID, "import-scs needs a source and a target database");
    err_code rc = not_same_file(source, target, e);
    if (rc != ERR_OK)
        return rc;
    scs_ctx c = {.o = o, .r = r, .now = utc_now()};
    stage_dir d = {0};
    if ((rc = stage_create(&d, e)) == ERR_OK &&
        (rc = stage_source(&c, source, d.url, e)) == ERR_OK) {
        xfer_opts co = *o;
        co.verify = true;
        co.include_tokens = false;
        /* the target's record of the load names the SCS database, not the staging file */
        char *ms = strstr(source, "://") ? db_url_masked(source) : NULL;
        co.load_command = "import-scs";
        co.load_source = ms ? ms : source;
        rc = xfer_copy(d.url, target, &co, &r->copy, e);
        free(ms);
    }
    stage_remove(&d);
    return rc;
}
