/* xfer/scs_read.c — reading a shared-context-server database for `ctxd import-scs`: opens
 * the SQLite file read-only (?mode=ro through db/), recognises it by its tables and
 * columns (a ctxd database and anything else are refused, naming what was expected),
 * and reads sessions, messages, agent memory and audit records in one snapshot, each
 * row turned into a row of ctxd's logical tables (store.h) and handed to the staging
 * sink. Decides what is left out: messages and memory of a session the source does not
 * hold, memory already expired; protected tokens are only counted.
 * Must not: write to the source, or convert a value itself (scs_conv.c does). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/sbuf.h"
#include "xfer/scs_int.h"

/* The tables read, and the columns without which a database is not SCS's. The other
 * columns SCS's schema has are read when present (NULL otherwise). */
enum {
    T_SESSIONS,
    T_MESSAGES,
    T_MEMORY,
    T_AUDIT,
    T_COUNT
};
static const struct {
    const char *table, *alias, *required;
} src_tables[T_COUNT] = {
    {"sessions", "ss", " id purpose created_by created_at "},
    {"messages", "mm", " id session_id sender content timestamp "},
    {"agent_memory", "am", " agent_id key value created_at "},
    {"audit_log", "al", " id timestamp event_type agent_id "},
};

typedef struct scs_src {
    db_t *db;
    db_conn *c;
    char *masked;
    sbuf_t cols[T_COUNT]; /* " name name ... " of each table */
    bool tokens;          /* a secure_tokens table exists */
} scs_src;

/* ---- recognising the database ------------------------------------------------------------ */

static err_code text_cb(db_stmt *s, void *ud, err_t *e)
{
    (void)e;
    const char *t = db_col_text(s, 0, NULL);
    sbuf_printf(ud, "%s ", t ? t : "");
    return ERR_OK;
}

static bool has_table(scs_src *src, const char *name, err_t *e, err_code *rc)
{
    bool found = false;
    *rc = db_query_one(
        src->c, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
        DB_ARGS(DB_TEXT(name)), NULL, NULL, &found, e);
    return found;
}

/* ERR_INVALID: src is not SCS's, saying what was expected. */
static err_code not_scs(scs_src *src, err_t *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static err_code not_scs(scs_src *src, err_t *e, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(e, ERR_INVALID,
                   "%s is not a shared-context-server database: %s (expected its "
                   "chat_history.db: tables sessions, messages, agent_memory and audit_log, "
                   "messages with a timestamp column)",
                   src->masked, what);
}

static err_code recognise(scs_src *src, scs_ctx *c, err_t *e)
{
    err_code rc;
    if (has_table(src, "schema_migrations", e, &rc) || rc != ERR_OK)
        return rc != ERR_OK ? rc
                            : err_set(e, ERR_INVALID,
                                      "%s is a ctxd database (it has schema_migrations), not a "
                                      "shared-context-server one: use `ctxd copy --from URL` to "
                                      "move a ctxd database",
                                      src->masked);
    for (int t = 0; t < T_COUNT; t++) {
        sbuf_t *b = &src->cols[t];
        sbuf_putc(b, ' ');
        rc = db_query_params(src->c, "SELECT name FROM pragma_table_info(?)",
                             DB_ARGS(DB_TEXT(src_tables[t].table)), text_cb, b, e);
        if (rc != ERR_OK)
            return rc;
        if (b->len == 1)
            return not_scs(src, e, "it has no table %s", src_tables[t].table);
        sbuf_t missing = SBUF_INIT;
        char col[64];
        int off = 0;
        for (const char *p = src_tables[t].required; sscanf(p, " %63s%n", col, &off) == 1;
             p += off) {
            char key[70];
            snprintf(key, sizeof key, " %s ", col);
            if (!strstr(sbuf_cstr(b), key))
                sbuf_printf(&missing, "%s%s", missing.len ? ", " : "", col);
        }
        if (missing.len) {
            rc = not_scs(src, e, "table %s has no column %s", src_tables[t].table,
                         sbuf_cstr(&missing));
            sbuf_free(&missing);
            return rc;
        }
    }
    src->tokens = has_table(src, "secure_tokens", e, &rc);
    if (rc == ERR_OK && has_table(src, "schema_version", e, &rc)) {
        int64_t v = 0;
        err_t ve; /* a damaged schema_version says nothing the import needs */
        if (db_query_int64(src->c, "SELECT max(version) FROM schema_version", NULL, 0, &v, &ve) ==
            ERR_OK)
            c->r->scs_version = (int)v;
    }
    if (rc == ERR_OK && src->tokens) {
        int64_t n = 0;
        rc = db_query_int64(src->c, "SELECT count(*) FROM secure_tokens", NULL, 0, &n, e);
        c->r->k[SCS_TOKENS].read = c->r->k[SCS_TOKENS].skipped = c->r->tokens_dropped = n;
    }
    return rc;
}

/* ---- statements --------------------------------------------------------------------------- */

static int table_of_alias(const char *a, size_t n)
{
    static const struct {
        const char *alias;
        int t;
    } more[] = {{"mp", T_MESSAGES}, {"ps", T_SESSIONS}};
    for (int t = 0; t < T_COUNT; t++)
        if (strlen(src_tables[t].alias) == n && strncmp(src_tables[t].alias, a, n) == 0)
            return t;
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
        if (strlen(more[k].alias) == n && strncmp(more[k].alias, a, n) == 0)
            return more[k].t;
    return -1;
}

/* The SQL of a template: "{al.action}" is the column, or NULL when the table has no
 * such column; "{T al.timestamp}" is "typeof(al.timestamp), al.timestamp" (a time,
 * see scs_time_at), or "'null', NULL". Caller frees. */
static char *expand(const scs_src *src, const char *tpl)
{
    sbuf_t b = SBUF_INIT;
    for (const char *p = tpl; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            sbuf_puts(&b, p);
            break;
        }
        sbuf_append(&b, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        bool time = strncmp(open + 1, "T ", 2) == 0;
        const char *ref = open + 1 + (time ? 2 : 0);
        const char *dot = strchr(ref, '.');
        int t = table_of_alias(ref, (size_t)(dot - ref));
        char key[70];
        snprintf(key, sizeof key, " %.*s ", (int)(close - dot - 1), dot + 1);
        bool present = t >= 0 && strstr(src->cols[t].p ? src->cols[t].p : "", key);
        int n = (int)(close - ref);
        if (time && present)
            sbuf_printf(&b, "typeof(%.*s), %.*s", n, ref, n, ref);
        else if (time)
            sbuf_puts(&b, "'null', NULL");
        else if (present)
            sbuf_append(&b, ref, (size_t)n);
        else
            sbuf_puts(&b, "NULL");
        p = close + 1;
    }
    return sbuf_detach(&b);
}

/* ---- rows ----------------------------------------------------------------------------------- */

typedef struct reader reader;
/* Converts the row s is on (of rd's kind) and stages it, or skips it. */
typedef err_code (*row_fn)(reader *rd, scs_ctx *c, db_stmt *s, err_t *e);
struct reader {
    scs_ctx *c;
    row_fn fn;
    int64_t done, total;
};

static err_code reader_row(db_stmt *s, void *ud, err_t *e)
{
    reader *rd = ud;
    return rd->fn(rd, rd->c, s, e);
}

/* Starts a row: its name for warnings. */
static void row_begin(scs_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_begin(scs_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->row, sizeof c->row, fmt, ap);
    va_end(ap);
    c->row_warned = false;
}

static void row_skip(reader *rd, int64_t *why)
{
    rd->c->r->k[rd->c->kind].skipped++;
    if (why)
        (*why)++;
}

/* The converted row goes to the stage (row stolen). */
static err_code row_done(reader *rd, json_t *row, err_t *e)
{
    scs_ctx *c = rd->c;
    if (c->row_warned)
        c->r->k[c->kind].warned++;
    err_code rc = scs_stage_row(c, row, e);
    if (++rd->done % 500 == 0)
        scs_progress(c, rd->done, rd->total);
    return rc;
}

static void set(json_t *row, const char *k, json_t *v)
{
    json_object_set_new(row, k, v);
}

/* 0 id, 1 purpose, 2 created_by, 3 metadata, 4 is_active, 5-6 created_at, 7-8 updated_at */
static const char sql_sessions[] =
    "SELECT ss.id, ss.purpose, ss.created_by, {ss.metadata}, "
    "CASE WHEN lower(trim(CAST({ss.is_active} AS TEXT))) IN ('0', 'false', 'f', 'no') THEN 0 "
    "ELSE 1 END, {T ss.created_at}, {T ss.updated_at} FROM sessions ss ORDER BY ss.id";

static err_code session_row(reader *rd, scs_ctx *c, db_stmt *s, err_t *e)
{
    const char *id = db_col_text(s, 0, NULL);
    row_begin(c, "%.60s", id ? id : "(NULL id)");
    if (!id) {
        scs_warn(c, "a session without an id cannot be imported; skipped");
        row_skip(rd, NULL);
        return ERR_OK;
    }
    if (!ids_is_session(id))
        scs_warn(c, "the id is not session_ + 16 lowercase hex digits, as ctxd makes them; "
                    "kept, but ctxd's tools refuse such an id");
    json_t *row = json_object();
    set(row, "id", scs_text(c, s, 0, "id", ""));
    set(row, "purpose", scs_text(c, s, 1, "purpose", ""));
    set(row, "created_by", scs_text(c, s, 2, "created_by", "unknown"));
    set(row, "metadata", scs_json(c, s, 3, "metadata", true));
    set(row, "is_active", json_boolean(db_col_int64(s, 4) != 0));
    set(row, "created_at", scs_time_req(c, s, 5, "created_at", 7, "updated_at"));
    set(row, "updated_at", scs_time_req(c, s, 7, "updated_at", 5, "created_at"));
    set(row, "access", json_null());
    return row_done(rd, row, e);
}

/* 0 id, 1 session_id, 2 its session, 3 sender, 4 sender_type, 5 content, 6 visibility,
 * 7 message_type, 8 metadata, 9 parent_message_id, 10 the parent's session, 11-12
 * timestamp, 13-14 the session's created_at. A parent counts when it is older and in a
 * session that is imported. */
static const char sql_messages[] =
    "SELECT mm.id, mm.session_id, ss.id, mm.sender, {mm.sender_type}, mm.content, "
    "{mm.visibility}, {mm.message_type}, {mm.metadata}, {mm.parent_message_id}, ps.id, "
    "{T mm.timestamp}, {T ss.created_at} FROM messages mm "
    "LEFT JOIN sessions ss ON ss.id = mm.session_id "
    "LEFT JOIN messages mp ON mp.id = {mm.parent_message_id} AND mp.id < mm.id "
    "LEFT JOIN sessions ps ON ps.id = mp.session_id ORDER BY mm.id";

static json_t *visibility(scs_ctx *c, db_stmt *s, int i)
{
    const char *v = db_col_text(s, i, NULL);
    store_visibility vis;
    if (!v)
        return json_string("public");
    if (store_visibility_parse(v, &vis))
        return json_string(v);
    scs_warn(c,
             "visibility '%.40s' is none of public, private, agent_only, admin_only; "
             "imported as private (only its sender and admins read it)",
             v);
    return json_string("private");
}

static err_code message_row(reader *rd, scs_ctx *c, db_stmt *s, err_t *e)
{
    int64_t id = db_col_int64(s, 0);
    row_begin(c, "id %lld", (long long)id);
    if (db_col_null(s, 2)) {
        scs_warn(c, "its session %.60s is not in the database; skipped",
                 db_col_null(s, 1) ? "(NULL)" : db_col_text(s, 1, NULL));
        row_skip(rd, &c->r->orphans);
        return ERR_OK;
    }
    json_t *row = json_object();
    set(row, "id", json_integer(id));
    set(row, "session_id", scs_text(c, s, 1, "session_id", ""));
    set(row, "sender", scs_text(c, s, 3, "sender", "unknown"));
    set(row, "sender_type", scs_text(c, s, 4, "sender_type", "generic"));
    set(row, "content", scs_text(c, s, 5, "content", ""));
    set(row, "visibility", visibility(c, s, 6));
    set(row, "message_type", scs_text(c, s, 7, "message_type", "agent_response"));
    set(row, "metadata", scs_json(c, s, 8, "metadata", true));
    json_t *parent = json_null();
    if (!db_col_null(s, 9)) {
        if (db_col_null(s, 10))
            scs_warn(c,
                     "its parent message %lld is not imported (missing, newer, or in a "
                     "missing session); imported without a parent",
                     (long long)db_col_int64(s, 9));
        else
            parent = json_integer(db_col_int64(s, 9));
    }
    set(row, "parent_message_id", parent);
    set(row, "created_at", scs_time_req(c, s, 11, "timestamp", 13, "its session's created_at"));
    return row_done(rd, row, e);
}

/* 0 rowid, 1 agent_id, 2 session_id, 3 its session, 4 key, 5 value, 6 metadata,
 * 7-8 created_at, 9-10 updated_at, 11-12 expires_at. Newest first: of entries with the
 * same agent, session and key, the newest is kept (the stage skips the others). */
static const char sql_memory[] =
    "SELECT am.rowid, am.agent_id, {am.session_id}, ss.id, am.key, am.value, {am.metadata}, "
    "{T am.created_at}, {T am.updated_at}, {T am.expires_at} FROM agent_memory am "
    "LEFT JOIN sessions ss ON ss.id = {am.session_id} ORDER BY am.rowid DESC";

static err_code memory_row(reader *rd, scs_ctx *c, db_stmt *s, err_t *e)
{
    const char *agent = db_col_text(s, 1, NULL), *key = db_col_text(s, 4, NULL);
    row_begin(c, "id %lld (agent %.30s, key %.40s)", (long long)db_col_int64(s, 0),
              agent ? agent : "NULL", key ? key : "NULL");
    if (!db_col_null(s, 2) && db_col_null(s, 3)) {
        scs_warn(c, "its session %.60s is not in the database; skipped", db_col_text(s, 2, NULL));
        row_skip(rd, &c->r->orphans);
        return ERR_OK;
    }
    utc_us exp = 0;
    err_t te;
    err_code trc = scs_time_at(s, 11, &exp, &te);
    if (trc == ERR_OK && exp <= c->now) {
        row_skip(rd, &c->r->expired);
        return ERR_OK;
    }
    json_t *row = json_object();
    set(row, "agent_id", scs_text(c, s, 1, "agent_id", "unknown"));
    set(row, "session_id", scs_text(c, s, 2, "session_id", NULL));
    set(row, "key", scs_text(c, s, 4, "key", ""));
    set(row, "value", scs_value(c, s, 5));
    set(row, "metadata", scs_json(c, s, 6, "metadata", true));
    set(row, "created_at", scs_time_req(c, s, 7, "created_at", 9, "updated_at"));
    set(row, "updated_at", scs_time_req(c, s, 9, "updated_at", 7, "created_at"));
    if (trc == ERR_OK) {
        char iso[UTC_ISO_LEN];
        set(row, "expires_at", json_string(utc_format(exp, iso)));
    } else {
        if (trc != ERR_NOTFOUND)
            scs_warn(c, "expires_at %s; imported without an expiry", te.msg);
        set(row, "expires_at", json_null());
    }
    return row_done(rd, row, e);
}

/* 0 id, 1-2 timestamp, 3 event_type, 4 agent_id, 5 session_id, 6 resource, 7 action,
 * 8 result, 9 metadata */
static const char sql_audit[] =
    "SELECT al.id, {T al.timestamp}, al.event_type, al.agent_id, {al.session_id}, "
    "{al.resource}, {al.action}, {al.result}, {al.metadata} FROM audit_log al ORDER BY al.id";

static err_code audit_row(reader *rd, scs_ctx *c, db_stmt *s, err_t *e)
{
    row_begin(c, "id %lld", (long long)db_col_int64(s, 0));
    json_t *row = json_object();
    set(row, "id", json_integer(db_col_int64(s, 0)));
    set(row, "created_at", scs_time_req(c, s, 1, "timestamp", -1, NULL));
    set(row, "event_type", scs_text(c, s, 3, "event_type", "unknown"));
    set(row, "agent_id", scs_text(c, s, 4, "agent_id", "unknown"));
    set(row, "session_id", scs_text(c, s, 5, "session_id", NULL));
    set(row, "resource", scs_text(c, s, 6, "resource", NULL));
    /* ctxd's audit record has no action and result: they join the metadata */
    json_t *meta = scs_json(c, s, 9, "metadata", false);
    static const struct {
        int col;
        const char *name;
    } extra[] = {{7, "action"}, {8, "result"}};
    for (size_t k = 0; k < 2; k++) {
        if (db_col_null(s, extra[k].col))
            continue;
        if (!json_is_object(meta)) {
            json_t *o = json_object();
            if (!json_is_null(meta))
                json_object_set(o, SCS_META_KEY, meta);
            json_decref(meta);
            meta = o;
        }
        if (!json_object_get(meta, extra[k].name))
            json_object_set_new(meta, extra[k].name,
                                scs_text(c, s, extra[k].col, extra[k].name, NULL));
    }
    set(row, "metadata", meta);
    return row_done(rd, row, e);
}

/* ---- reading ------------------------------------------------------------------------------ */

static const struct {
    scs_kind kind;
    int table;
    const char *sql;
    row_fn fn;
} kinds[] = {
    {SCS_SESSIONS, T_SESSIONS, sql_sessions, session_row},
    {SCS_MESSAGES, T_MESSAGES, sql_messages, message_row},
    {SCS_MEMORY, T_MEMORY, sql_memory, memory_row},
    {SCS_AUDIT, T_AUDIT, sql_audit, audit_row},
};

static err_code read_kinds(scs_src *src, scs_ctx *c, err_t *e)
{
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        c->kind = kinds[k].kind;
        reader rd = {.c = c, .fn = kinds[k].fn};
        char count[80];
        snprintf(count, sizeof count, "SELECT count(*) FROM %s", src_tables[kinds[k].table].table);
        err_code rc = db_query_int64(src->c, count, NULL, 0, &rd.total, e);
        char *sql = rc == ERR_OK ? expand(src, kinds[k].sql) : NULL;
        if (rc == ERR_OK)
            rc = db_query_params(src->c, sql, NULL, 0, reader_row, &rd, e);
        free(sql);
        c->r->k[c->kind].read = rd.total;
        if (rc == ERR_OK)
            rc = scs_stage_end(c, e);
        if (rc != ERR_OK)
            return err_prefix(e, "reading %s", src_tables[kinds[k].table].table);
        scs_progress(c, rd.total, rd.total);
    }
    return ERR_OK;
}

/* The source's URL opened read-only: a path becomes a sqlite:/// URL; mode=ro is added
 * (another mode is refused). Caller frees. */
static char *source_url(const char *source, err_t *e)
{
    sbuf_t b = SBUF_INIT;
    if (!strstr(source, "://"))
        sbuf_printf(&b, "sqlite:///%s", source);
    else
        sbuf_puts(&b, source);
    db_url *u = NULL;
    if (db_url_parse(sbuf_cstr(&b), &u, e) != ERR_OK) {
        sbuf_free(&b);
        return NULL;
    }
    const char *mode = db_url_opt_get(u, "mode");
    bool ok = false;
    if (u->backend != DB_BACKEND_SQLITE || u->memory)
        err_set(e, ERR_INVALID,
                "the source must be shared-context-server's SQLite file (a path or a "
                "sqlite:/// URL); importing from its %s schema is not supported",
                u->memory ? "in-memory" : db_backend_name(u->backend));
    else if (mode && strcmp(mode, "ro") != 0)
        err_set(e, ERR_INVALID, "the source is opened read-only: drop ?mode=%s from its URL", mode);
    else
        ok = true;
    if (ok && !mode)
        sbuf_puts(&b, u->nopts ? "&mode=ro" : "?mode=ro");
    db_url_free(u);
    if (!ok)
        sbuf_free(&b);
    return ok ? sbuf_detach(&b) : NULL;
}

/* SQLite makes `-wal` and `-shm` files beside a WAL database even for a read-only
 * connection, and only a writer removes them at close. Those this import made (absent
 * before, the WAL empty after) are removed again, so the source's directory is left as
 * it was. */
typedef struct side_files {
    char *wal, *shm;
    bool existed;
} side_files;

static void side_note(side_files *f, const char *url)
{
    db_url *u = NULL;
    err_t e;
    memset(f, 0, sizeof *f);
    if (db_url_parse(url, &u, &e) == ERR_OK && u->path && !u->memory) {
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%s-wal", u->path);
        f->wal = sbuf_detach(&b);
        sbuf_printf(&b, "%s-shm", u->path);
        f->shm = sbuf_detach(&b);
        struct stat st;
        f->existed = lstat(f->wal, &st) == 0 || lstat(f->shm, &st) == 0;
    }
    db_url_free(u);
}

static void side_clean(side_files *f)
{
    struct stat st;
    if (f->wal && !f->existed && lstat(f->wal, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == 0) {
        unlink(f->wal);
        unlink(f->shm);
    }
    free(f->wal);
    free(f->shm);
}

err_code scs_read(scs_ctx *c, const char *url, err_t *e)
{
    scs_src src = {0};
    for (int t = 0; t < T_COUNT; t++)
        sbuf_init(&src.cols[t]);
    char *ro = source_url(url, e);
    if (!ro)
        return e->code;
    src.masked = db_url_masked(ro);
    side_files side;
    side_note(&side, ro);
    err_code rc = db_open_conf(ro, c->o->conf, &src.db, e);
    if (rc == ERR_OK)
        rc = db_acquire(src.db, DB_READ, &src.c, e);
    if (rc == ERR_OK)
        rc = db_begin(src.c, e); /* one snapshot of everything */
    if (rc != ERR_OK)
        err_prefix(e, "source database %s", src.masked);
    else if ((rc = recognise(&src, c, e)) == ERR_OK)
        rc = read_kinds(&src, c, e);
    if (src.c) {
        if (db_in_tx(src.c))
            db_rollback(src.c);
        db_release(src.c);
    }
    db_close(src.db);
    side_clean(&side);
    for (int t = 0; t < T_COUNT; t++)
        sbuf_free(&src.cols[t]);
    free(src.masked);
    free(ro);
    return rc;
}
