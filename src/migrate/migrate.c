/* migrate/migrate.c — the migration engine: builds the plan from a migration set
 * (the embedded one, or a test's), reads schema_migrations, refuses a database
 * newer than the binary / with an edited or unknown applied migration / with a
 * gap, and applies or reverts one migration per transaction together with its
 * schema_migrations row. Every step takes the write transaction first and then
 * re-reads the applied versions inside it, so concurrent migrators (threads or
 * processes) apply each migration exactly once.
 * Must not: contain ctxd table definitions (migrations/ has them) or dialect
 * specifics (dialect.c has them); must not change anything before validating. */
#include "migrate/migrate.h"
#include "migrate/migrate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"

#define MOD "migrate"

/* ---- the plan: known migrations of one dialect, sorted by version -------- */

typedef struct mig {
    int version;
    const char *name;
    const migrate_embedded_file *up;
    const migrate_embedded_file *down; /* NULL if the set has no down script */
    char checksum[65];
} mig;

typedef struct plan {
    const migrate_dialect *d;
    const char *dialect;
    mig *m;
    size_t n;
    int latest; /* highest known version, 0 if none */
} plan;

static void plan_free(plan *p)
{
    free(p->m);
    p->m = NULL;
    p->n = 0;
}

static int mig_cmp(const void *a, const void *b)
{
    int x = ((const mig *)a)->version, y = ((const mig *)b)->version;
    return (x > y) - (x < y);
}

static mig *plan_find(const plan *p, int version)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->m[i].version == version)
            return &p->m[i];
    return NULL;
}

/* Collects the set's files for `dialect`. Checksums are computed only when
 * with_checksums (migrate_latest does not need them). */
static err_code plan_build(const migrate_embedded_file *set, const char *dialect,
                           bool with_checksums, plan *p, err_t *e)
{
    memset(p, 0, sizeof *p);
    p->dialect = dialect;
    if (!set || !dialect)
        return err_set(e, ERR_INTERNAL, "migrate: no migration set or dialect");
    size_t cap = 0;
    for (const migrate_embedded_file *f = set; f->dialect; f++)
        cap++;
    p->m = xcalloc(cap ? cap : 1, sizeof *p->m);
    for (const migrate_embedded_file *f = set; f->dialect; f++) {
        if (!str_eq(f->dialect, dialect))
            continue;
        if (f->version <= 0 || !f->name || !f->sql ||
            (f->direction != MIGRATE_UP && f->direction != MIGRATE_DOWN)) {
            plan_free(p);
            return err_set(e, ERR_INTERNAL,
                           "migrate: malformed embedded migration entry (%s version %d)", dialect,
                           f->version);
        }
        mig *m = plan_find(p, f->version);
        if (!m) {
            m = &p->m[p->n++];
            m->version = f->version;
            m->name = f->name;
        } else if (!str_eq(m->name, f->name)) {
            plan_free(p);
            return err_set(e, ERR_INTERNAL, "migrate: two %s migrations numbered %04d (%s, %s)",
                           dialect, f->version, m->name, f->name);
        }
        const migrate_embedded_file **slot = f->direction == MIGRATE_UP ? &m->up : &m->down;
        if (*slot) {
            plan_free(p);
            return err_set(e, ERR_INTERNAL, "migrate: duplicate %s script for %s migration %04d_%s",
                           f->direction == MIGRATE_UP ? "up" : "down", dialect, f->version,
                           f->name);
        }
        *slot = f;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!p->m[i].up) {
            err_code rc = err_set(
                e, ERR_INTERNAL, "migrate: %s migration %04d_%s has a down script but no up script",
                dialect, p->m[i].version, p->m[i].name);
            plan_free(p);
            return rc;
        }
        if (with_checksums)
            migrate_sha256_hex(p->m[i].up->sql, p->m[i].up->len, p->m[i].checksum);
    }
    qsort(p->m, p->n, sizeof *p->m, mig_cmp);
    p->latest = p->n ? p->m[p->n - 1].version : 0;
    return ERR_OK;
}

/* The plan for db's dialect; ERR_INVALID if migrate/ does not support it. */
static err_code plan_for_db(db_t *db, const migrate_embedded_file *set, plan *p, err_t *e)
{
    const char *dialect = db_dialect(db);
    const migrate_dialect *d = migrate_dialect_find(dialect);
    if (!d)
        return err_set(e, ERR_INVALID, "migrations are not supported for database dialect '%s'",
                       dialect ? dialect : "(unknown)");
    err_code rc = plan_build(set, dialect, true, p, e);
    if (rc != ERR_OK)
        return rc;
    p->d = d;
    if (p->n == 0) {
        plan_free(p);
        return err_set(e, ERR_INVALID, "this ctxd has no %s migrations embedded", dialect);
    }
    return ERR_OK;
}

/* ---- what the database records ------------------------------------------ */

typedef struct applied_row {
    int version;
    char *name;
    char checksum[65];
    utc_us at;
} applied_row;

typedef struct applied {
    applied_row *r; /* sorted by version */
    size_t n, cap;
    int newest; /* highest recorded version, 0 if none */
} applied;

static void applied_free(applied *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->r[i].name);
    free(a->r);
    memset(a, 0, sizeof *a);
}

static applied_row *applied_find(const applied *a, int version)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->r[i].version == version)
            return &a->r[i];
    return NULL;
}

/* One schema_migrations row onto the list. */
static err_code read_applied(db_stmt *s, void *ud, err_t *e)
{
    (void)e;
    applied *out = ud;
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 8;
        out->r = xrealloc(out->r, out->cap * sizeof *out->r);
    }
    applied_row *row = &out->r[out->n++];
    memset(row, 0, sizeof *row);
    row->version = (int)db_col_int64(s, 0);
    const char *t = db_col_text(s, 1, NULL);
    row->name = xstrdup(t ? t : "");
    t = db_col_text(s, 2, NULL);
    snprintf(row->checksum, sizeof row->checksum, "%s", t ? t : "");
    row->at = db_col_time(s, 3);
    if (row->version > out->newest)
        out->newest = row->version;
    return ERR_OK;
}

/* Reads schema_migrations. create: make the table if absent (inside the caller's
 * write transaction); otherwise an absent table reads as no rows. */
static err_code applied_read(db_conn *c, const migrate_dialect *d, bool create, applied *out,
                             err_t *e)
{
    memset(out, 0, sizeof *out);
    err_code rc;
    if (create) {
        rc = db_exec(c, d->create_sql, e);
        if (rc != ERR_OK)
            return err_prefix(e, "creating schema_migrations");
    } else {
        bool exists = false;
        rc = db_query_one(c, d->exists_sql, NULL, 0, NULL, NULL, &exists, e);
        if (rc != ERR_OK)
            return err_prefix(e, "looking for schema_migrations");
        if (!exists)
            return ERR_OK;
    }
    rc = db_query_params(
        c, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
        NULL, 0, read_applied, out, e);
    if (rc != ERR_OK) {
        applied_free(out);
        return err_prefix(e, "reading schema_migrations");
    }
    return ERR_OK;
}

/* ---- validation ------------------------------------------------------------ */

/* The refusals shared by up, down and check: newer than the binary, unknown or
 * edited applied migrations, a gap in the applied history. */
static err_code validate(const plan *p, const applied *a, err_t *e)
{
    if (a->newest > p->latest)
        return err_set(
            e, ERR_SCHEMA,
            "database schema version %d is newer than this ctxd (knows up to %d): upgrade ctxd",
            a->newest, p->latest);
    for (size_t i = 0; i < a->n; i++) {
        const applied_row *r = &a->r[i];
        const mig *m = plan_find(p, r->version);
        if (!m)
            return err_set(e, ERR_SCHEMA,
                           "database has migration %04d_%s applied, which this ctxd does not know: "
                           "use the ctxd build that applied it or repair the database",
                           r->version, r->name);
        if (strcmp(r->checksum, m->checksum) != 0)
            return err_set(e, ERR_SCHEMA,
                           "migration %04d_%s was edited after it was applied (checksum differs): "
                           "restore the original file or repair the database",
                           m->version, m->name);
    }
    for (size_t i = 0; i < p->n; i++) {
        if (p->m[i].version < a->newest && !applied_find(a, p->m[i].version))
            return err_set(e, ERR_SCHEMA,
                           "migration %04d_%s is not applied but later migration %d is: "
                           "the database's migration history has a gap; repair the database",
                           p->m[i].version, p->m[i].name, a->newest);
    }
    return ERR_OK;
}

/* ---- one step per transaction -------------------------------------------- */

typedef struct step_ctx {
    const plan *p;
    int target;
    unsigned caps;
    bool up;         /* apply (else revert) */
    const mig *done; /* the migration this step applied/reverted, NULL if none */
} step_ctx;

/* Error messages are one line: a driver may quote the script, newlines and all. */
static void one_line(err_t *e)
{
    if (!e)
        return;
    char *w = e->msg;
    bool space = false;
    for (const char *r = e->msg; *r; r++) {
        if (*r == '\n' || *r == '\r' || *r == '\t' || *r == ' ') {
            space = true;
            continue;
        }
        if (space && w != e->msg)
            *w++ = ' ';
        space = false;
        *w++ = *r;
    }
    *w = '\0';
}

static err_code run_script(db_conn *c, const step_ctx *x, const mig *m, err_t *e)
{
    bool up = x->up;
    const migrate_embedded_file *f = up ? m->up : m->down;
    err_code rc = db_exec(c, f->sql, e);
    if (rc != ERR_OK) {
        one_line(e);
        if (!(x->caps & DB_CAP_TRANSACTIONAL_DDL))
            return err_prefix(
                e,
                "migration %04d_%s (%s) failed and this database cannot roll back DDL, "
                "so the schema may be partly changed",
                m->version, m->name, up ? "up" : "down");
        return err_prefix(e, "migration %04d_%s (%s) failed", m->version, m->name,
                          up ? "up" : "down");
    }
    return ERR_OK;
}

/* Reads and checks schema_migrations (up: creating it) and finds the migration
 * this step applies (up: the first one not applied, up to target) or reverts
 * (down: the newest applied one above target); *next NULL when none is left. */
static err_code next_step(db_conn *c, const step_ctx *x, const mig **next, err_t *e)
{
    *next = NULL;
    applied a;
    err_code rc = applied_read(c, x->p->d, x->up, &a, e);
    if (rc != ERR_OK)
        return rc;
    rc = validate(x->p, &a, e);
    for (size_t i = 0; rc == ERR_OK && x->up && i < x->p->n && x->p->m[i].version <= x->target;
         i++) {
        if (!applied_find(&a, x->p->m[i].version)) {
            *next = &x->p->m[i];
            break;
        }
    }
    if (rc == ERR_OK && !x->up && a.n > 0 && a.r[a.n - 1].version > x->target)
        *next = plan_find(x->p, a.r[a.n - 1].version); /* known: validate() checked */
    applied_free(&a);
    return rc;
}

/* One migration applied or reverted with its schema_migrations row, in the
 * caller's transaction. */
static err_code step(db_conn *c, void *arg, err_t *e)
{
    step_ctx *x = arg;
    x->done = NULL;
    const mig *next;
    err_code rc = next_step(c, x, &next, e);
    if (rc != ERR_OK || !next)
        return rc;
    if (!x->up && !next->down)
        return err_set(e, ERR_SCHEMA, "migration %04d_%s has no down script: it cannot be reverted",
                       next->version, next->name);
    if ((rc = run_script(c, x, next, e)) != ERR_OK)
        return rc;
    int64_t changed = 1;
    if (x->up)
        rc = db_exec_params(c,
                            "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                            " VALUES (?, ?, ?, ?)",
                            DB_ARGS(DB_INT(next->version), DB_TEXT(next->name),
                                    DB_TEXT(next->checksum), DB_TIME(utc_now())),
                            NULL, e);
    else
        rc = db_exec_params(c, "DELETE FROM schema_migrations WHERE version = ?",
                            DB_ARGS(DB_INT(next->version)), &changed, e);
    if (rc != ERR_OK)
        return err_prefix(e, "%s migration %04d_%s", x->up ? "recording" : "unrecording",
                          next->version, next->name);
    if (changed != 1)
        return err_set(e, ERR_INTERNAL, "unrecording migration %04d_%s: %lld rows deleted",
                       next->version, next->name, (long long)changed);
    x->done = next;
    return ERR_OK;
}

/* Runs step until it reports nothing done, under the dialect's session lock if
 * it has one. *count = how many migrations the steps applied or reverted. */
static err_code run_steps(db_t *db, const plan *p, int target, bool up, int *count, err_t *e)
{
    int n = 0;
    if (count)
        *count = 0;
    unsigned caps = db_caps(db);
    db_conn *lockc = NULL;
    err_code rc = ERR_OK;
    if (p->d->lock && (caps & DB_CAP_ADVISORY_LOCK)) {
        rc = db_acquire(db, DB_WRITE, &lockc, e);
        if (rc != ERR_OK)
            return err_prefix(e, "migration lock");
        rc = p->d->lock(lockc, e);
        if (rc != ERR_OK) {
            db_release(lockc);
            return rc;
        }
        LOG_D(MOD, "took the migration lock (%s)", p->d->lock_desc);
    }
    step_ctx x = {.p = p, .target = target, .caps = caps, .up = up, .done = NULL};
    for (;;) {
        int64_t t0 = utc_mono_us();
        rc = db_tx_run(db, DB_WRITE, step, &x, e);
        if (rc != ERR_OK || !x.done)
            break;
        n++;
        LOG_I(MOD, "%s migration %04d_%s (%s, %.1f ms)", up ? "applied" : "reverted",
              x.done->version, x.done->name, p->dialect, (double)(utc_mono_us() - t0) / 1000.0);
    }
    if (lockc) {
        p->d->unlock(lockc);
        db_release(lockc);
    }
    if (count)
        *count = n;
    return rc;
}

/* ---- public API (with an explicit set) ----------------------------------- */

int migrate_latest_with(const migrate_embedded_file *set, const char *dialect)
{
    plan p;
    err_t e;
    err_clear(&e);
    if (plan_build(set, dialect, false, &p, &e) != ERR_OK)
        return 0;
    int latest = p.latest;
    plan_free(&p);
    return latest;
}

/* Up or down to target (up: -1 = the latest) in one transaction per step. */
static err_code run_to(db_t *db, const migrate_embedded_file *set, int target, bool up, int *count,
                       err_t *e)
{
    if (count)
        *count = 0;
    plan p;
    err_code rc = plan_for_db(db, set, &p, e);
    if (rc != ERR_OK)
        return rc;
    if (up && target == -1)
        target = p.latest;
    if (target < 0 || target > p.latest) {
        rc = err_set(e, ERR_INVALID,
                     "target version %d is out of range: this ctxd knows versions 0..%d", target,
                     p.latest);
    } else {
        rc = run_steps(db, &p, target, up, count, e);
    }
    plan_free(&p);
    return rc;
}

err_code migrate_up_with(db_t *db, const migrate_embedded_file *set, int target, int *applied_n,
                         err_t *e)
{
    return run_to(db, set, target, true, applied_n, e);
}

err_code migrate_down_with(db_t *db, const migrate_embedded_file *set, int target, int *reverted,
                           err_t *e)
{
    return run_to(db, set, target, false, reverted, e);
}

err_code migrate_to_with(db_t *db, const migrate_embedded_file *set, int target, int *changed,
                         err_t *e)
{
    if (changed)
        *changed = 0;
    if (target < 0)
        return err_set(e, ERR_INVALID, "target version %d is out of range: it must be 0 or more",
                       target);
    /* Up to target applies nothing when the database is at or above it; down to
     * target reverts nothing when it is at or below it. Each re-reads the state
     * inside its own transactions, so no separate read is needed (or racy). */
    int a = 0, r = 0;
    err_code rc = migrate_up_with(db, set, target, &a, e);
    if (rc == ERR_OK)
        rc = migrate_down_with(db, set, target, &r, e);
    if (changed)
        *changed = a + r;
    return rc;
}

/* Reads plan + applied rows on a reader connection, without creating anything. */
static err_code read_state(db_t *db, const migrate_embedded_file *set, plan *p, applied *a,
                           err_t *e)
{
    err_code rc = plan_for_db(db, set, p, e);
    if (rc != ERR_OK)
        return rc;
    db_conn *c = NULL;
    rc = db_acquire(db, DB_READ, &c, e);
    if (rc == ERR_OK) {
        rc = applied_read(c, p->d, false, a, e);
        db_release(c);
    }
    if (rc != ERR_OK)
        plan_free(p);
    return rc;
}

err_code migrate_get_status_with(db_t *db, const migrate_embedded_file *set, migrate_status *out,
                                 err_t *e)
{
    memset(out, 0, sizeof *out);
    plan p;
    applied a;
    err_code rc = read_state(db, set, &p, &a, e);
    if (rc != ERR_OK)
        return rc;

    out->latest = p.latest;
    out->db_newest = a.newest;
    size_t unknown = 0;
    for (size_t i = 0; i < a.n; i++)
        if (!plan_find(&p, a.r[i].version))
            unknown++;
    out->n = p.n + unknown;
    out->entries = xcalloc(out->n ? out->n : 1, sizeof *out->entries);
    size_t k = 0;
    for (size_t i = 0; i < p.n; i++) {
        migrate_entry *en = &out->entries[k++];
        const mig *m = &p.m[i];
        const applied_row *r = applied_find(&a, m->version);
        en->version = m->version;
        en->name = xstrdup(m->name);
        memcpy(en->checksum, m->checksum, sizeof en->checksum);
        if (r) {
            en->applied = true;
            en->applied_at = r->at;
            memcpy(en->applied_checksum, r->checksum, sizeof en->applied_checksum);
            en->checksum_mismatch = strcmp(r->checksum, m->checksum) != 0;
            if (m->version > out->current)
                out->current = m->version;
        }
    }
    for (size_t i = 0; i < a.n; i++) {
        const applied_row *r = &a.r[i];
        if (plan_find(&p, r->version))
            continue;
        migrate_entry *en = &out->entries[k++];
        en->version = r->version;
        en->name = xstrdup(r->name);
        en->checksum[0] = '\0';
        en->applied = true;
        en->applied_at = r->at;
        memcpy(en->applied_checksum, r->checksum, sizeof en->applied_checksum);
        en->checksum_mismatch = false;
    }
    /* entries sorted by version: known ones are, unknown ones are too; merge. */
    for (size_t i = 1; i < out->n; i++) {
        migrate_entry t = out->entries[i];
        size_t j = i;
        while (j > 0 && out->entries[j - 1].version > t.version) {
            out->entries[j] = out->entries[j - 1];
            j--;
        }
        out->entries[j] = t;
    }
    applied_free(&a);
    plan_free(&p);
    return ERR_OK;
}

err_code migrate_check_with(db_t *db, const migrate_embedded_file *set, err_t *e)
{
    plan p;
    applied a;
    err_code rc = read_state(db, set, &p, &a, e);
    if (rc != ERR_OK)
        return rc;
    rc = validate(&p, &a, e);
    if (rc == ERR_OK && a.newest != p.latest)
        rc =
            err_set(e, ERR_SCHEMA,
                    "database schema is at version %d, this ctxd expects %d: run `ctxd migrate up`",
                    a.newest, p.latest);
    applied_free(&a);
    plan_free(&p);
    return rc;
}

/* ---- public API (embedded set) ------------------------------------------- */

int migrate_latest(const char *dialect)
{
    return migrate_latest_with(migrate_embedded, dialect);
}

err_code migrate_get_status(db_t *db, migrate_status *out, err_t *e)
{
    return migrate_get_status_with(db, migrate_embedded, out, e);
}

void migrate_status_free(migrate_status *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->entries[i].name);
    free(s->entries);
    memset(s, 0, sizeof *s);
}

err_code migrate_up(db_t *db, int target, int *applied_n, err_t *e)
{
    return migrate_up_with(db, migrate_embedded, target, applied_n, e);
}

err_code migrate_down(db_t *db, int target, int *reverted, err_t *e)
{
    return migrate_down_with(db, migrate_embedded, target, reverted, e);
}

err_code migrate_to(db_t *db, int target, int *changed, err_t *e)
{
    return migrate_to_with(db, migrate_embedded, target, changed, e);
}

err_code migrate_check(db_t *db, err_t *e)
{
    return migrate_check_with(db, migrate_embedded, e);
}
