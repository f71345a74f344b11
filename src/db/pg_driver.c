/* db/pg_driver.c — the PostgreSQL driver (libpq) behind driver.h.
 *
 * Connections: PQconnectStartParams from the URL parts (host, port, user,
 * password, dbname) plus every URL query option that is a libpq keyword
 * (sslmode, sslrootcert, connect_timeout, keepalives*, target_session_attrs,
 * options, ...; checked against PQconndefaults, anything else that ctxd does not
 * consume itself is ERR_INVALID naming the option). Defaults added when absent:
 * fallback_application_name=ctxd, client_encoding=UTF8, connect_timeout=10 (a
 * deadline for the whole connect). The connect runs with verbose errors so the
 * server's SQLSTATE of a refused login is known (28P01 wrong password -> ERR_AUTH,
 * 3D000 unknown database -> ERR_INVALID); no SQLSTATE (refused, unreachable,
 * TLS) -> ERR_CONN. libpq's multi-line message is flattened to one line that
 * names the URL with the password masked.
 *
 * Session: one round trip after connecting sets TimeZone=UTC and DateStyle=ISO
 * (both tracked by PgBouncer, so they survive transaction pooling), and from URL
 * options statement_timeout, idle_in_transaction_session_timeout and `schema`
 * (-> search_path "<schema>", public; the schema must exist). With
 * prepared_statements=false (transaction-pooling proxies: PgBouncer, Supabase's
 * pooler on 6543) the untracked settings are also re-applied with SET LOCAL in
 * the same round trip as each BEGIN (so db_tx_run_one keeps its BEGIN there:
 * autocommit_ok).
 *
 * Statements: `?` is rewritten to `$n` (sqltok). Statements the core caches are
 * prepared once per connection as named server-side statements and run with
 * PQexecPrepared; others, and every statement when prepared_statements=false, go
 * through PQexecParams (the unnamed statement). Parameters are sent as text
 * (untyped: the server infers the type from the context) except blobs (binary);
 * results come back as text: int8/bool ('t'/'f')/float8 are parsed, TIMESTAMPTZ
 * ("2026-01-31 12:00:00.123456+00") goes through utc_parse, JSONB is returned as
 * the server prints it (key order and spacing normalised, types kept), bytea hex
 * is decoded. Parameter scratch space is kept per statement and only grows, so
 * binding does not allocate once a statement has been used.
 *
 * Errors: classes from SQLSTATE (db_errclass_sqlstate); a connection that libpq
 * reports as CONNECTION_BAD is ERR_CONN whatever the SQLSTATE, and the driver
 * reports it dead (conn_dead) so the core drops it. A named statement missing or
 * duplicated on the server (26000 / 42P05: a transaction pooler moved the session)
 * is ERR_INVALID telling the user to add ?prepared_statements=false. Statement
 * names carry a random tag per connection, so behind such a proxy a statement
 * can never run another connection's statement of the same name.
 * Must not: retry or reconnect (the core does), log parameter values or the
 * password, keep state outside a connection, or know any ctxd table. */
#include "db/driver.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "base/ids.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "db/sqltok.h"

#define PG_CONNECT_TIMEOUT_S 10 /* default deadline for one connect */
#define PG_SMALL 48             /* inline scratch per parameter (numbers, times) */

typedef struct pg_conn {
    PGconn *h;
    bool named;   /* named server-side prepared statements */
    bool dead;    /* the connection is known to be unusable */
    uint32_t tag; /* random per connection: statement names ctxd_<tag>_<n> */
    unsigned next_name;
    char *where;     /* the URL without password, for messages */
    char *begin_sql; /* "BEGIN" or "BEGIN; SET LOCAL ..." (pooler mode) */
} pg_conn;

typedef struct pg_param {
    char *buf; /* grown on demand for text/JSON longer than small */
    size_t cap;
    char small[PG_SMALL];
} pg_param;

typedef enum pg_state {
    PG_IDLE = 0,
    PG_ROWS,
    PG_DONE
} pg_state;

typedef struct pg_stmt {
    pg_conn *c;
    char *sql;     /* with $n placeholders */
    char name[40]; /* server-side name, "" when unnamed */
    int np;
    const char **vals;
    int *lens, *fmts;
    pg_param *pp;
    PGresult *res;
    int row, nrows;
    int64_t changes;
    pg_state state;
    unsigned char *blob; /* decoded bytea of the current column */
    size_t blob_cap;
} pg_stmt;

static pg_conn *PC(db_drv_conn *c)
{
    return (pg_conn *)(void *)c;
}
static pg_stmt *PS(db_drv_stmt *s)
{
    return (pg_stmt *)(void *)s;
}

/* ---- messages ------------------------------------------------------------- */

static bool is_sqlstate_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
}

/* libpq's multi-line (possibly repeated: sslmode=prefer tries twice) message as
 * one line: LOCATION lines dropped, duplicates dropped, white space collapsed,
 * the verbose "FATAL:  28P01: " code taken out into sqlstate (if not NULL). */
static void flatten(const char *msg, sbuf_t *out, char sqlstate[6])
{
    if (sqlstate)
        sqlstate[0] = '\0';
    size_t start = out->len;
    const char *p = msg ? msg : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, n);
        p += n + (nl ? 1 : 0);
        char *t = str_trim(line);
        if (!*t || str_starts_with(t, "LOCATION:")) {
            free(line);
            continue;
        }
        /* "SEVERITY:  XXXXX: text" -> "SEVERITY: text", remembering XXXXX */
        sbuf_t l = SBUF_INIT;
        for (const char *q = t; *q;) {
            static const char *const sev[] = {"FATAL:", "ERROR:", "PANIC:"};
            bool took = false;
            for (size_t k = 0; k < 3 && !took; k++) {
                size_t sl = strlen(sev[k]);
                if (strncmp(q, sev[k], sl) != 0)
                    continue;
                const char *r = q + sl;
                while (*r == ' ')
                    r++;
                sbuf_append(&l, q, sl);
                sbuf_putc(&l, ' ');
                if (strlen(r) > 6 && is_sqlstate_char(r[0]) && is_sqlstate_char(r[1]) &&
                    is_sqlstate_char(r[2]) && is_sqlstate_char(r[3]) && is_sqlstate_char(r[4]) &&
                    r[5] == ':' && r[6] == ' ') {
                    if (sqlstate && !sqlstate[0]) {
                        memcpy(sqlstate, r, 5);
                        sqlstate[5] = '\0';
                    }
                    r += 7;
                }
                q = r;
                took = true;
            }
            if (took)
                continue;
            if (*q == '\t' || (*q == ' ' && q[1] == ' ')) { /* collapse runs */
                while (*q == ' ' || *q == '\t')
                    q++;
                sbuf_putc(&l, ' ');
                continue;
            }
            sbuf_putc(&l, *q++);
        }
        const char *ls = sbuf_cstr(&l);
        if (!strstr(sbuf_cstr(out) + start, ls)) {
            if (out->len > start)
                sbuf_puts(out, "; ");
            sbuf_puts(out, ls);
        }
        sbuf_free(&l);
        free(line);
    }
    if (out->len == start)
        sbuf_puts(out, "unknown error");
}

/* PostgreSQL's own packing of a SQLSTATE into an int (for err_t.native). */
static int pack_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return 0;
    int v = 0;
    for (int i = 0; i < 5; i++)
        v |= ((st[i] - '0') & 0x3F) << (6 * i);
    return v;
}

/* Quotes the statement of a script that contains the 1-based character position. */
static void quote_stmt_at(const char *sql, long charpos, char out[201])
{
    out[0] = '\0';
    if (!sql)
        return;
    size_t bytepos = 0, len = strlen(sql);
    for (long ch = 1; bytepos < len; bytepos++) { /* characters -> bytes (UTF-8) */
        if (((unsigned char)sql[bytepos] & 0xC0) != 0x80) {
            if (ch == charpos)
                break;
            ch++;
        }
    }
    size_t pos = 0, st = 0, n = 0;
    while (sqltok_next_stmt(sql, &pos, &st, &n)) {
        if (charpos <= 0 || bytepos < st + n + 1)
            break;
    }
    if (n == 0) {
        st = 0;
        n = len;
    }
    if (n > 200)
        n = 200;
    memcpy(out, sql + st, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
            out[i] = ' ';
}

/* Fills e from a failed result (or the connection's state when r is NULL).
 * sql: quoted for syntax-class errors; script: the statement is located by the
 * server's error position. */
static err_code pg_fail(pg_conn *c, const PGresult *r, err_t *e, const char *what, const char *sql,
                        bool script)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    err_code cls = st ? db_errclass_sqlstate(st) : ERR_FATAL;
    if (PQstatus(c->h) == CONNECTION_BAD) {
        cls = ERR_CONN;
        c->dead = true;
    }
    if (cls == ERR_OK)
        cls = ERR_FATAL;
    sbuf_t m = SBUF_INIT;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary)
        sbuf_puts(&m, primary);
    else
        flatten(r ? PQresultErrorMessage(r) : PQerrorMessage(c->h), &m, NULL);
    if (m.len == 0 || str_eq(sbuf_cstr(&m), "unknown error")) {
        sbuf_reset(&m);
        flatten(PQerrorMessage(c->h), &m, NULL);
    }
    if (c->named && st && (strcmp(st, "26000") == 0 || strcmp(st, "42P05") == 0)) {
        err_set(e, ERR_INVALID,
                "%s (SQLSTATE %s): the PostgreSQL session changed under a prepared statement, "
                "which happens behind a transaction-pooling proxy (PgBouncer in transaction "
                "mode, Supabase's pooler on port 6543); add ?prepared_statements=false to the "
                "database URL (%s)",
                sbuf_cstr(&m), st, c->where);
        if (e)
            e->native = pack_sqlstate(st);
        sbuf_free(&m);
        return ERR_INVALID;
    }
    char quoted[201] = "";
    if (sql && (cls == ERR_SYNTAX || cls == ERR_INTERNAL || script)) {
        const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
        if (script)
            quote_stmt_at(sql, pos ? atol(pos) : 0, quoted);
        else
            snprintf(quoted, sizeof quoted, "%.200s", sql);
    }
    err_set(e, cls, "%s%s%s%s%s%s%s%s", what ? what : "", what ? ": " : "", sbuf_cstr(&m),
            st ? " (SQLSTATE " : "", st ? st : "", st ? ")" : "", quoted[0] ? " in: " : "", quoted);
    if (e)
        e->native = pack_sqlstate(st);
    sbuf_free(&m);
    return cls;
}

static void pg_notice(void *arg, const char *msg)
{
    (void)arg;
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    LOG_D("db", "postgresql: %.*s", (int)n, msg);
}

/* ---- connecting ------------------------------------------------------------ */

/* URL options ctxd consumes itself (the core's and this driver's); never sent
 * to libpq. */
static const char *const CTXD_OPTS[] = {"prepared_statements", "statement_timeout",
                                        "idle_in_transaction_session_timeout", "schema", NULL};

static bool is_ctxd_opt(const char *k)
{
    for (size_t i = 0; CTXD_OPTS[i]; i++)
        if (strcmp(CTXD_OPTS[i], k) == 0)
            return true;
    return db_opt_is_core(k);
}

static bool is_libpq_keyword(const PQconninfoOption *defs, const char *k)
{
    for (const PQconninfoOption *d = defs; d && d->keyword; d++)
        if (strcmp(d->keyword, k) == 0)
            return true;
    return false;
}

/* Waits for PQconnectPoll's socket condition until the deadline. */
static PostgresPollingStatusType connect_poll(PGconn *h, int64_t deadline_us, bool *timed_out)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    *timed_out = false;
    for (;;) {
        if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED)
            return st;
        int64_t left = deadline_us - utc_mono_us();
        if (left <= 0) {
            *timed_out = true;
            return PGRES_POLLING_FAILED;
        }
        struct pollfd pf = {.fd = PQsocket(h),
                            .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        if (pf.fd < 0)
            return PQconnectPoll(h);
        int pr = poll(&pf, 1, (int)((left + 999) / 1000));
        if (pr < 0 && errno != EINTR)
            return PGRES_POLLING_FAILED;
        if (pr == 0) {
            *timed_out = true;
            return PGRES_POLLING_FAILED;
        }
        st = PQconnectPoll(h);
    }
}

static void pg_free(pg_conn *c)
{
    if (!c)
        return;
    if (c->h)
        PQfinish(c->h);
    free(c->where);
    free(c->begin_sql);
    free(c);
}

/* The session settings round trip (and, in pooler mode, the BEGIN text). */
static err_code pg_session(pg_conn *c, const db_url *u, err_t *e)
{
    const char *names[] = {"statement_timeout", "idle_in_transaction_session_timeout"};
    const char *vals[4];
    int n = 0;
    sbuf_t q = SBUF_INIT;
    sbuf_puts(
        &q,
        "SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false)");
    for (size_t i = 0; i < 2; i++) {
        const char *v = db_url_opt_get(u, names[i]);
        if (!v)
            continue;
        vals[n++] = v;
        sbuf_printf(&q, ", set_config('%s', $%d, false)", names[i], n);
    }
    const char *schema = db_url_opt_get(u, "schema");
    if (schema) {
        if (!*schema) {
            sbuf_free(&q);
            return err_set(e, ERR_INVALID, "database URL option schema= is empty (%s)", c->where);
        }
        vals[n++] = schema;
        sbuf_printf(&q,
                    ", set_config('search_path', quote_ident($%d) || ', public', false),"
                    " (SELECT count(*) FROM pg_namespace WHERE nspname = $%d)",
                    n, n);
    }
    PGresult *r = PQexecParams(c->h, sbuf_cstr(&q), n, NULL, vals, NULL, NULL, 0);
    sbuf_free(&q);
    err_code rc = ERR_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(c, r, e, "setting up the session", NULL, false);
        if (rc == ERR_SYNTAX)
            rc = e ? (e->code = ERR_INVALID) : ERR_INVALID;
    } else if (schema && PQntuples(r) == 1 &&
               strcmp(PQgetvalue(r, 0, PQnfields(r) - 1), "0") == 0) {
        rc = err_set(e, ERR_INVALID,
                     "schema \"%s\" (URL option schema=) does not exist in database %s; create it "
                     "(CREATE SCHEMA) or remove the option",
                     schema, u->database ? u->database : "?");
    }
    PQclear(r);
    if (rc != ERR_OK)
        return rc;

    sbuf_t b = SBUF_INIT;
    sbuf_puts(&b, "BEGIN");
    if (!c->named) {
        for (size_t i = 0; i < 2; i++) {
            const char *v = db_url_opt_get(u, names[i]);
            if (!v)
                continue;
            char *lit = PQescapeLiteral(c->h, v, strlen(v));
            if (lit)
                sbuf_printf(&b, "; SET LOCAL %s = %s", names[i], lit);
            PQfreemem(lit);
        }
        if (schema) {
            char *id = PQescapeIdentifier(c->h, schema, strlen(schema));
            if (id)
                sbuf_printf(&b, "; SET LOCAL search_path = %s, public", id);
            PQfreemem(id);
        }
    }
    c->begin_sql = sbuf_detach(&b);
    return ERR_OK;
}

static err_code pg_connect(const db_url *u, const db_opts *o, db_role role, db_drv_conn **out,
                           err_t *e)
{
    (void)o;
    (void)role;
    *out = NULL;
    pg_conn *c = xcalloc(1, sizeof *c);
    c->where = db_url_where(u, NULL, 0);
    c->named = true;
    ids_random(&c->tag, sizeof c->tag);
    const char *ps = db_url_opt_get(u, "prepared_statements");
    if (ps && !str_to_bool(ps, &c->named)) {
        err_code rc =
            err_set(e, ERR_INVALID,
                    "database URL option prepared_statements=%s: expected true or false (%s)", ps,
                    c->where);
        pg_free(c);
        return rc;
    }

    PQconninfoOption *defs = PQconndefaults();
    size_t cap = u->nopts + 12, n = 0;
    const char **keys = xcalloc(cap, sizeof *keys);
    const char **vals = xcalloc(cap, sizeof *vals);
    char port[16];
    if (u->host) {
        keys[n] = "host";
        vals[n++] = u->host;
    }
    if (u->port) {
        snprintf(port, sizeof port, "%d", u->port);
        keys[n] = "port";
        vals[n++] = port;
    }
    if (u->user) {
        keys[n] = "user";
        vals[n++] = u->user;
    }
    if (u->password) {
        keys[n] = "password";
        vals[n++] = u->password;
    }
    if (u->database) {
        keys[n] = "dbname";
        vals[n++] = u->database;
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "ctxd";
    if (!db_url_opt_get(u, "client_encoding")) {
        keys[n] = "client_encoding";
        vals[n++] = "UTF8";
    }
    const char *ct = db_url_opt_get(u, "connect_timeout");
    long timeout_s = PG_CONNECT_TIMEOUT_S;
    if (ct && (!str_to_long(ct, 0, 86400, &timeout_s)))
        timeout_s = -1;
    if (!ct) {
        keys[n] = "connect_timeout";
        vals[n++] = "10";
    }
    err_code rc = ERR_OK;
    if (timeout_s < 0)
        rc = err_set(e, ERR_INVALID,
                     "database URL option connect_timeout=%s: expected seconds (%s)", ct, c->where);
    for (size_t i = 0; rc == ERR_OK && i < u->nopts; i++) {
        const char *k = u->opts[i].key;
        if (is_ctxd_opt(k))
            continue;
        if (!is_libpq_keyword(defs, k)) {
            rc = err_set(e, ERR_INVALID,
                         "database URL option '%s' is neither a ctxd option nor a libpq connection "
                         "parameter (%s)",
                         k, c->where);
            break;
        }
        keys[n] = k;
        vals[n++] = u->opts[i].value;
    }
    keys[n] = NULL;
    vals[n] = NULL;
    PQconninfoFree(defs);
    if (rc != ERR_OK) {
        free(keys);
        free(vals);
        pg_free(c);
        return rc;
    }

    c->h = PQconnectStartParams(keys, vals, 0);
    free(keys);
    free(vals);
    if (!c->h) {
        pg_free(c);
        return err_set(e, ERR_NOMEM, "cannot connect to PostgreSQL: out of memory");
    }
    bool bad_params = PQstatus(c->h) == CONNECTION_BAD;
    bool timed_out = false;
    if (!bad_params) {
        PQsetErrorVerbosity(c->h, PQERRORS_VERBOSE);
        int64_t deadline = utc_mono_us() + (timeout_s > 0 ? timeout_s : 86400L) * 1000000LL;
        connect_poll(c->h, deadline, &timed_out);
    }
    if (bad_params || timed_out || PQstatus(c->h) != CONNECTION_OK) {
        char st[6];
        sbuf_t m = SBUF_INIT;
        err_code cls;
        if (timed_out) {
            sbuf_printf(&m, "no answer within connect_timeout=%ld s", timeout_s);
            st[0] = '\0';
            cls = ERR_CONN;
        } else {
            flatten(PQerrorMessage(c->h), &m, st);
            cls = bad_params ? ERR_INVALID : st[0] ? db_errclass_sqlstate(st) : ERR_CONN;
            if (cls == ERR_OK || cls == ERR_FATAL || cls == ERR_SYNTAX)
                cls = ERR_INVALID;
        }
        const char *hint = "";
        if (st[0] && strcmp(st, "3D000") == 0)
            hint = " (create the database, or fix its name in the URL)";
        else if (cls == ERR_AUTH)
            hint = " (check the user name and password in the URL)";
        err_set(e, cls, "cannot connect to PostgreSQL at %s: %s%s", c->where, sbuf_cstr(&m), hint);
        if (e)
            e->native = pack_sqlstate(st[0] ? st : NULL);
        sbuf_free(&m);
        pg_free(c);
        return cls;
    }
    PQsetErrorVerbosity(c->h, PQERRORS_DEFAULT);
    PQsetNoticeProcessor(c->h, pg_notice, NULL);
    if ((rc = pg_session(c, u, e)) != ERR_OK) {
        err_prefix(e, "PostgreSQL at %s", c->where);
        pg_free(c);
        return rc;
    }
    *out = (db_drv_conn *)(void *)c;
    return ERR_OK;
}

static void pg_disconnect(db_drv_conn *dc)
{
    pg_free(PC(dc));
}

static bool pg_conn_dead(db_drv_conn *dc)
{
    pg_conn *c = PC(dc);
    if (!c->dead && PQstatus(c->h) == CONNECTION_BAD)
        c->dead = true;
    return c->dead;
}

/* Runs a parameterless command; ERR_OK on COMMAND_OK/TUPLES_OK/EMPTY_QUERY. */
static err_code pg_simple(pg_conn *c, const char *sql, err_t *e, const char *what, bool script,
                          PGresult **keep)
{
    if (pg_conn_dead((db_drv_conn *)(void *)c))
        return err_set(e, ERR_CONN, "%s%sthe connection to PostgreSQL at %s is lost",
                       what ? what : "", what ? ": " : "", c->where);
    PGresult *r = PQexec(c->h, sql);
    ExecStatusType s = PQresultStatus(r);
    if (r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY)) {
        if (keep)
            *keep = r;
        else
            PQclear(r);
        return ERR_OK;
    }
    err_code rc = pg_fail(c, r, e, what, sql, script);
    PQclear(r);
    return rc;
}

static err_code pg_ping(db_drv_conn *dc, err_t *e)
{
    return pg_simple(PC(dc), "SELECT 1", e, "ping", false, NULL);
}

static unsigned pg_caps(db_drv_conn *dc)
{
    (void)dc;
    return DB_CAP_RETURNING | DB_CAP_UPSERT_ON_CONFLICT | DB_CAP_ADVISORY_LOCK | DB_CAP_JSON |
           DB_CAP_PARTIAL_INDEX | DB_CAP_TRANSACTIONAL_DDL;
}

static err_code pg_server_version(db_drv_conn *dc, char *buf, size_t n, err_t *e)
{
    (void)e;
    const char *v = PQparameterStatus(PC(dc)->h, "server_version");
    if (v) {
        size_t l = strcspn(v, " ");
        snprintf(buf, n, "PostgreSQL %.*s", (int)l, v);
    } else {
        int sv = PQserverVersion(PC(dc)->h);
        snprintf(buf, n, "PostgreSQL %d.%d", sv / 10000, sv % 10000);
    }
    return ERR_OK;
}

static err_code pg_exec(db_drv_conn *dc, const char *sql, err_t *e)
{
    return pg_simple(PC(dc), sql, e, NULL, true, NULL);
}

static err_code pg_begin(db_drv_conn *dc, bool write, err_t *e)
{
    (void)write;
    pg_conn *c = PC(dc);
    return pg_simple(c, c->begin_sql, e, "BEGIN", false, NULL);
}

static err_code pg_commit(db_drv_conn *dc, err_t *e)
{
    pg_conn *c = PC(dc);
    PGresult *r = NULL;
    err_code rc = pg_simple(c, "COMMIT", e, "COMMIT", false, &r);
    if (rc != ERR_OK)
        return rc;
    /* COMMIT of a transaction that already failed answers "ROLLBACK". */
    bool rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back)
        return err_set(e, ERR_FATAL,
                       "COMMIT: the transaction had failed earlier and was rolled back instead");
    return ERR_OK;
}

static bool pg_in_transaction(db_drv_conn *dc)
{
    pg_conn *c = PC(dc);
    if (c->dead)
        return false;
    PGTransactionStatusType t = PQtransactionStatus(c->h);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Behind a transaction pooler (prepared_statements=false) with session settings to
 * re-apply (SET LOCAL in begin_sql), a statement needs its BEGIN. */
static bool pg_autocommit_ok(db_drv_conn *dc)
{
    return strcmp(PC(dc)->begin_sql, "BEGIN") == 0;
}

static err_code pg_rollback(db_drv_conn *dc, err_t *e)
{
    if (!pg_in_transaction(dc))
        return ERR_OK;
    return pg_simple(PC(dc), "ROLLBACK", e, "ROLLBACK", false, NULL);
}

static int64_t pg_last_insert_id(db_drv_conn *dc)
{
    (void)dc;
    return 0; /* not supported: the store uses RETURNING on PostgreSQL */
}

/* ---- statements ------------------------------------------------------------ */

static void pg_stmt_free(pg_stmt *s)
{
    if (!s)
        return;
    PQclear(s->res);
    for (int i = 0; i < s->np; i++)
        free(s->pp[i].buf);
    free(s->pp);
    free(s->vals);
    free(s->lens);
    free(s->fmts);
    free(s->blob);
    free(s->sql);
    free(s);
}

static err_code pg_prepare(db_drv_conn *dc, const char *sql, size_t len, bool persistent,
                           db_drv_stmt **out, err_t *e)
{
    pg_conn *c = PC(dc);
    *out = NULL;
    if (len >= INT_MAX)
        return err_set(e, ERR_INVALID, "SQL statement too long (%zu bytes)", len);
    size_t nst = sqltok_count_stmts(sql);
    if (nst == 0)
        return err_set(e, ERR_INVALID, "empty SQL statement");
    if (nst > 1)
        return err_set(e, ERR_INVALID,
                       "db_prepare takes one statement; use db_exec for scripts (in: %.200s)", sql);
    if (pg_conn_dead(dc))
        return err_set(e, ERR_CONN, "the connection to PostgreSQL at %s is lost", c->where);
    pg_stmt *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->sql = sqltok_rewrite_dollar(sql, &s->np);
    if (s->np > 0) {
        s->vals = xcalloc((size_t)s->np, sizeof *s->vals);
        s->lens = xcalloc((size_t)s->np, sizeof *s->lens);
        s->fmts = xcalloc((size_t)s->np, sizeof *s->fmts);
        s->pp = xcalloc((size_t)s->np, sizeof *s->pp);
    }
    if (c->named && persistent) {
        snprintf(s->name, sizeof s->name, "ctxd_%08x_%u", (unsigned)c->tag, ++c->next_name);
        PGresult *r = PQprepare(c->h, s->name, s->sql, s->np, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            err_code rc = pg_fail(c, r, e, NULL, sql, false);
            PQclear(r);
            pg_stmt_free(s);
            return rc;
        }
        PQclear(r);
    }
    *out = (db_drv_stmt *)(void *)s;
    return ERR_OK;
}

static void pg_reset(db_drv_stmt *ds)
{
    pg_stmt *s = PS(ds);
    if (s->res) {
        PQclear(s->res);
        s->res = NULL;
    }
    s->state = PG_IDLE;
    s->row = s->nrows = 0;
    for (int i = 0; i < s->np; i++) {
        s->vals[i] = NULL;
        s->lens[i] = 0;
        s->fmts[i] = 0;
    }
}

static void pg_finalize(db_drv_stmt *ds)
{
    /* A named statement stays on the server until the connection closes: the
     * core only finalizes cached statements when it closes their connection. */
    pg_stmt_free(PS(ds));
}

static int pg_param_count(db_drv_stmt *ds)
{
    return PS(ds)->np;
}

static inline bool idx_ok(pg_stmt *s, int i)
{
    return i >= 1 && i <= s->np;
}

/* Parameter i's inline scratch, NULL when i is out of range. */
static char *scratch(pg_stmt *s, int i)
{
    return idx_ok(s, i) ? s->pp[i - 1].small : NULL;
}

/* Parameter i is v[0..n) in format fmt (0 text, 1 binary); v NULL is SQL NULL. */
static err_code put(pg_stmt *s, int i, const char *v, size_t n, int fmt)
{
    if (!idx_ok(s, i))
        return ERR_INTERNAL;
    if (n >= INT_MAX)
        return ERR_INVALID;
    s->vals[i - 1] = v;
    s->lens[i - 1] = (int)n;
    s->fmts[i - 1] = fmt;
    return ERR_OK;
}

static err_code pg_bind_null(db_drv_stmt *ds, int i)
{
    return put(PS(ds), i, NULL, 0, 0);
}

/* A text parameter in the statement's own scratch (NUL-terminated for libpq). */
static err_code put_text(pg_stmt *s, int i, const char *v, size_t n)
{
    if (!idx_ok(s, i))
        return ERR_INTERNAL;
    if (n >= INT_MAX)
        return ERR_INVALID;
    if (memchr(v, 0, n))
        return ERR_INVALID; /* PostgreSQL text cannot hold NUL */
    pg_param *p = &s->pp[i - 1];
    char *dst = p->small;
    if (n >= sizeof p->small) {
        if (p->cap <= n) {
            size_t cap = p->cap ? p->cap : 256;
            while (cap <= n)
                cap *= 2;
            char *nb = realloc(p->buf, cap);
            if (!nb)
                return ERR_NOMEM;
            p->buf = nb;
            p->cap = cap;
        }
        dst = p->buf;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return put(s, i, dst, n, 0);
}

static err_code pg_bind_int64(db_drv_stmt *ds, int i, int64_t v)
{
    char *start = scratch(PS(ds), i);
    if (!start)
        return ERR_INTERNAL;
    char *end = start + PG_SMALL - 1, *p = end;
    *p = '\0';
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return put(PS(ds), i, p, (size_t)(end - p), 0);
}

static err_code pg_bind_double(db_drv_stmt *ds, int i, double v)
{
    char *p = scratch(PS(ds), i);
    if (!p)
        return ERR_INTERNAL;
    if (isnan(v))
        snprintf(p, PG_SMALL, "NaN");
    else if (isinf(v))
        snprintf(p, PG_SMALL, v > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(p, PG_SMALL, "%.17g", v);
    return put(PS(ds), i, p, strlen(p), 0);
}

static err_code pg_bind_text(db_drv_stmt *ds, int i, const char *v, size_t n)
{
    return put_text(PS(ds), i, v, n);
}

static err_code pg_bind_time(db_drv_stmt *ds, int i, utc_us t)
{
    char *p = scratch(PS(ds), i);
    return p ? put(PS(ds), i, utc_format(t, p), strlen(p), 0) : ERR_INTERNAL;
}

static err_code pg_bind_blob(db_drv_stmt *ds, int i, const void *v, size_t n)
{
    return put(PS(ds), i, n ? (const char *)v : "", n, 1); /* binary: bytea as is */
}

static int64_t parse_i64(const char *p)
{
    if (p[0] == 't' && p[1] == '\0')
        return 1;
    if (p[0] == 'f' && p[1] == '\0')
        return 0;
    return strtoll(p, NULL, 10);
}

static int pg_step(db_drv_stmt *ds, err_t *e)
{
    pg_stmt *s = PS(ds);
    if (s->state == PG_ROWS) {
        if (++s->row < s->nrows)
            return DB_ROW;
        s->state = PG_DONE;
        return DB_DONE;
    }
    if (s->res) { /* stepped again after DONE: run again */
        PQclear(s->res);
        s->res = NULL;
    }
    pg_conn *c = s->c;
    if (pg_conn_dead((db_drv_conn *)(void *)c))
        return err_set(e, ERR_CONN, "the connection to PostgreSQL at %s is lost", c->where);
    PGresult *r = s->name[0]
                      ? PQexecPrepared(c->h, s->name, s->np, s->vals, s->lens, s->fmts, 0)
                      : PQexecParams(c->h, s->sql, s->np, NULL, s->vals, s->lens, s->fmts, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        s->res = r;
        const char *tag = PQcmdStatus(r);
        s->changes = str_starts_with(tag, "SELECT") ? 0 : parse_i64(PQcmdTuples(r));
        s->nrows = PQntuples(r);
        s->row = 0;
        if (s->nrows > 0) {
            s->state = PG_ROWS;
            return DB_ROW;
        }
        s->state = PG_DONE;
        return DB_DONE;
    }
    err_code rc = pg_fail(c, r, e, NULL, s->sql, false);
    PQclear(r);
    s->state = PG_DONE;
    return (int)rc;
}

static int64_t pg_changes(db_drv_stmt *ds)
{
    return PS(ds)->changes;
}

static inline bool has_row(pg_stmt *s, int i)
{
    return s->res && s->state == PG_ROWS && i >= 0 && i < PQnfields(s->res);
}

static int pg_col_count(db_drv_stmt *ds)
{
    pg_stmt *s = PS(ds);
    return s->res ? PQnfields(s->res) : 0;
}
static const char *pg_col_name(db_drv_stmt *ds, int i)
{
    pg_stmt *s = PS(ds);
    return s->res && i >= 0 && i < PQnfields(s->res) ? PQfname(s->res, i) : NULL;
}
static bool pg_col_null(db_drv_stmt *ds, int i)
{
    pg_stmt *s = PS(ds);
    return !has_row(s, i) || PQgetisnull(s->res, s->row, i);
}
static int64_t pg_col_int64(db_drv_stmt *ds, int i)
{
    pg_stmt *s = PS(ds);
    if (pg_col_null(ds, i))
        return 0;
    return parse_i64(PQgetvalue(s->res, s->row, i));
}
static double pg_col_double(db_drv_stmt *ds, int i)
{
    pg_stmt *s = PS(ds);
    if (pg_col_null(ds, i))
        return 0;
    const char *p = PQgetvalue(s->res, s->row, i);
    if ((p[0] == 't' || p[0] == 'f') && p[1] == '\0')
        return p[0] == 't';
    return strtod(p, NULL);
}
static const char *pg_col_text(db_drv_stmt *ds, int i, size_t *len)
{
    pg_stmt *s = PS(ds);
    if (pg_col_null(ds, i)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = (size_t)PQgetlength(s->res, s->row, i);
    return PQgetvalue(s->res, s->row, i);
}
static utc_us pg_col_time(db_drv_stmt *ds, int i)
{
    pg_stmt *s = PS(ds);
    if (pg_col_null(ds, i))
        return 0;
    utc_us v = 0;
    if (utc_parse(PQgetvalue(s->res, s->row, i), &v, NULL) != ERR_OK)
        return 0;
    return v;
}
static const void *pg_col_blob(db_drv_stmt *ds, int i, size_t *len)
{
    pg_stmt *s = PS(ds);
    size_t n = 0;
    const char *p = pg_col_text(ds, i, &n);
    if (!p || n < 2 || p[0] != '\\' || p[1] != 'x' || (n - 2) % 2 != 0) {
        if (len)
            *len = n; /* not bytea hex output: the text bytes */
        return p;
    }
    size_t m = (n - 2) / 2;
    if (s->blob_cap < m + 1) {
        unsigned char *nb = realloc(s->blob, m + 1);
        if (!nb) {
            if (len)
                *len = 0;
            return NULL;
        }
        s->blob = nb;
        s->blob_cap = m + 1;
    }
    for (size_t k = 0; k < m; k++) {
        int hi = str_hex_digit((unsigned char)p[2 + 2 * k]),
            lo = str_hex_digit((unsigned char)p[3 + 2 * k]);
        if (hi < 0 || lo < 0) {
            if (len)
                *len = n;
            return p;
        }
        s->blob[k] = (unsigned char)(hi << 4 | lo);
    }
    if (len)
        *len = m;
    return s->blob;
}

const db_driver db_driver_postgres = {
    .name = "postgres",
    .dialect = "postgresql",
    .backend = DB_BACKEND_POSTGRES,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .ping = pg_ping,
    .conn_dead = pg_conn_dead,
    .caps = pg_caps,
    .server_version = pg_server_version,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .autocommit_ok = pg_autocommit_ok,
    .last_insert_id = pg_last_insert_id,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .param_count = pg_param_count,
    .bind_null = pg_bind_null,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .bind_json = pg_bind_text,
    .bind_time = pg_bind_time,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .changes = pg_changes,
    .col_count = pg_col_count,
    .col_name = pg_col_name,
    .col_null = pg_col_null,
    .col_int64 = pg_col_int64,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .col_json = pg_col_text,
    .col_time = pg_col_time,
    .col_blob = pg_col_blob,
};
