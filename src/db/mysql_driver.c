/* db/mysql_driver.c — the MySQL/MariaDB driver (MariaDB Connector/C, <mysql.h>)
 * behind driver.h, for `mysql://` and `mariadb://` URLs.
 *
 * Connections: utf8mb4 (MYSQL_SET_CHARSET_NAME, then SET NAMES utf8mb4 COLLATE
 * utf8mb4_nopad_bin, byte-wise like SQLite's BINARY; tested on MariaDB 10.11 —
 * migrations/mysql uses MariaDB's collation names), strict sql_mode
 * (STRICT_ALL_TABLES, NO_ZERO_DATE, ..., NO_BACKSLASH_ESCAPES so string literals
 * follow the SQL standard and sqltok splits scripts correctly), time_zone
 * '+00:00', innodb_lock_wait_timeout from busy_timeout, max_statement_time from
 * ?statement_timeout= (ms), CLIENT_FOUND_ROWS (UPDATE counts matched rows, which
 * the store uses to detect a missing session). MYSQL_OPT_RECONNECT is off: a
 * lost connection is ERR_CONN, the core closes it and db_tx_run retries the
 * whole transaction on a fresh one (a silent reconnect would lose the open
 * transaction in the middle).
 *
 * URL options: connect_timeout, read_timeout, write_timeout (seconds),
 * ssl_mode|ssl-mode (disabled, preferred, required, verify_ca,
 * verify_identity), ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher,
 * tls_version, unix_socket, charset (utf8mb4 only), statement_timeout,
 * prepared_statements (false: server statements are closed after each use and
 * prepared again on the next); the core's pool options are accepted here and
 * applied by db.c; anything else is ERR_INVALID naming the option.
 *
 * Statements: server-side prepared statements (the core caches them per
 * connection), parameters bound with MYSQL_BIND from per-statement slots,
 * results buffered client-side (mysql_stmt_store_result, so another statement
 * can run on the connection while a result is open, as on SQLite) and fetched
 * into per-statement column buffers that grow when a value does not fit — no
 * allocation per row. Times are DATETIME(6) bound and read as MYSQL_TIME with
 * microseconds, UTC; DATETIME holds years 1000..9999 only, so other instants are
 * refused at bind time (ERR_INVALID). JSON is bound and read as text.
 *
 * Must not: keep state outside a connection (except the one-time library
 * initialisation), retry or reconnect (the core does), log or print parameter
 * values or the password, or know any ctxd table. */
#include "db/driver.h"

#include <limits.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/sbuf.h"
#include "db/sqltok.h"

#define MY_DEFAULT_PORT 3306
#define MY_DEFAULT_CONNECT_TIMEOUT_S 10
#define MY_COL_INIT_CAP 64 /* first buffer of a text column; grows on demand */
#define MY_SQL_MODE \
    "STRICT_ALL_TABLES,STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE," \
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES"

typedef struct my_conn {
    MYSQL *h;
    char *where;     /* "mysql://user:***@host:port/db": for messages */
    int64_t last_id; /* the last auto id an INSERT on this connection made */
    bool ephemeral;  /* prepared_statements=false */
} my_conn;

enum {
    MY_STR = 0,
    MY_INT,
    MY_DBL,
    MY_TIME
};

typedef struct my_col {
    int kind;
    int64_t i;
    double d;
    MYSQL_TIME t;
    char *buf; /* MY_STR: value + NUL */
    size_t cap;
    unsigned long len;
    my_bool is_null, error;
    char scratch[UTC_ISO_LEN]; /* text form of a non-text value */
} my_col;

typedef union my_param {
    int64_t i;
    double d;
    MYSQL_TIME t;
} my_param;

typedef struct my_stmt {
    my_conn *c;
    MYSQL_STMT *st; /* NULL between uses in ephemeral mode */
    char *sql;      /* for messages and ephemeral re-prepare */
    size_t sql_len;
    int nparams;
    MYSQL_BIND *pb;
    my_param *pv;
    int ncols;
    MYSQL_BIND *rb;
    my_col *cols;
    char **names;
    bool executed, has_result;
    int64_t changes;
} my_stmt;

static my_conn *MC(db_drv_conn *c)
{
    return (my_conn *)(void *)c;
}
static my_stmt *MS(db_drv_stmt *s)
{
    return (my_stmt *)(void *)s;
}

static pthread_once_t my_lib_once = PTHREAD_ONCE_INIT;
static int my_lib_rc;
static void my_lib_init(void)
{
    my_lib_rc = mysql_library_init(0, NULL, NULL);
}

/* ---- errors ---------------------------------------------------------------- */

static err_code my_class(unsigned n)
{
    err_code cls = db_errclass_mysql(n);
    return cls == ERR_OK ? ERR_FATAL : cls;
}

static err_code my_set(err_t *e, unsigned n, const char *msg, const char *what, const char *sql)
{
    err_code cls = my_class(n);
    if (sql && (cls == ERR_SYNTAX || cls == ERR_INTERNAL))
        err_set(e, cls, "%s%s%s (MariaDB error %u) (in: %.200s)", what ? what : "",
                what ? ": " : "", msg, n, sql);
    else
        err_set(e, cls, "%s%s%s (MariaDB error %u)", what ? what : "", what ? ": " : "", msg, n);
    if (e)
        e->native = (int)n;
    return cls;
}

static err_code my_conn_err(my_conn *c, err_t *e, const char *what, const char *sql)
{
    return my_set(e, mysql_errno(c->h), mysql_error(c->h), what, sql);
}

static err_code my_stmt_err(my_stmt *s, err_t *e)
{
    return my_set(e, mysql_stmt_errno(s->st), mysql_stmt_error(s->st), NULL, s->sql);
}

/* ---- time -------------------------------------------------------------------- */

/* false when t is outside DATETIME's range (years 1000..9999). */
static bool my_time_from_us(utc_us t, MYSQL_TIME *mt)
{
    utc_civil c;
    utc_to_civil(t, &c);
    if (c.year < 1000 || c.year > 9999)
        return false;
    memset(mt, 0, sizeof *mt);
    mt->year = (unsigned)c.year;
    mt->month = c.month;
    mt->day = c.day;
    mt->hour = c.hour;
    mt->minute = c.minute;
    mt->second = c.second;
    mt->second_part = c.usec;
    mt->time_type = MYSQL_TIMESTAMP_DATETIME;
    return true;
}

static utc_us my_us_from_time(const MYSQL_TIME *mt)
{
    if (mt->year == 0 && mt->month == 0 && mt->day == 0 && mt->time_type != MYSQL_TIMESTAMP_TIME)
        return 0;
    bool tod = mt->time_type == MYSQL_TIMESTAMP_TIME; /* a duration: from 1970-01-01 */
    utc_civil c = {tod ? 1970 : mt->year,
                   tod || !mt->month ? 1 : mt->month,
                   tod || !mt->day ? 1 : mt->day,
                   mt->hour,
                   mt->minute,
                   mt->second,
                   (unsigned)mt->second_part};
    utc_us us = utc_from_civil(&c);
    return mt->neg ? -us : us;
}

/* ---- options ------------------------------------------------------------------- */

static bool opt_is(const char *k, const char *a, const char *b)
{
    return str_eq_ci(k, a) || (b && str_eq_ci(k, b));
}

static err_code opt_uint(const char *k, const char *v, long max, unsigned *out, err_t *e)
{
    long n;
    if (!str_to_long(v, 0, max, &n))
        return err_set(e, ERR_INVALID,
                       "database URL option %s=%s: expected an integer between 0 and %ld", k, v,
                       max);
    *out = (unsigned)n;
    return ERR_OK;
}

static err_code opt_bool(const char *k, const char *v, bool *out, err_t *e)
{
    if (!*v) { /* `?flag` alone */
        *out = true;
        return ERR_OK;
    }
    if (str_to_bool(v, out))
        return ERR_OK;
    return err_set(e, ERR_INVALID, "database URL option %s=%s: expected true or false", k, v);
}

/* statement_timeout: milliseconds ("5000", "5000ms") or seconds ("5s"). */
static err_code opt_ms(const char *k, const char *v, long *ms, err_t *e)
{
    char num[32];
    size_t n = strlen(v);
    long scale = 1;
    if (n > 2 && str_eq_ci(v + n - 2, "ms"))
        n -= 2;
    else if (n > 1 && (v[n - 1] == 's' || v[n - 1] == 'S')) {
        n -= 1;
        scale = 1000;
    }
    if (n == 0 || n >= sizeof num ||
        (memcpy(num, v, n), num[n] = '\0', !str_to_long(num, 0, 86400000L / scale, ms)))
        return err_set(
            e, ERR_INVALID,
            "database URL option %s=%s: expected milliseconds (e.g. 5000 or 5s), 0 = none", k, v);
    *ms *= scale;
    return ERR_OK;
}

typedef struct my_cfg {
    unsigned connect_timeout, read_timeout, write_timeout;
    bool has_read_timeout, has_write_timeout;
    const char *ssl_mode;
    const char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key, *ssl_cipher, *tls_version;
    const char *unix_socket;
    long statement_timeout_ms;
    bool ephemeral;
} my_cfg;

/* Options passed through as text: their two spellings and their my_cfg field. */
static const struct str_opt {
    const char *name, *alias;
    size_t off;
} STR_OPTS[] = {
    {"ssl_ca", "ssl-ca", offsetof(my_cfg, ssl_ca)},
    {"ssl_capath", "ssl-capath", offsetof(my_cfg, ssl_capath)},
    {"ssl_cert", "ssl-cert", offsetof(my_cfg, ssl_cert)},
    {"ssl_key", "ssl-key", offsetof(my_cfg, ssl_key)},
    {"ssl_cipher", "ssl-cipher", offsetof(my_cfg, ssl_cipher)},
    {"tls_version", "tls-version", offsetof(my_cfg, tls_version)},
    {"unix_socket", "socket", offsetof(my_cfg, unix_socket)},
};

static const struct str_opt *str_opt(const char *k)
{
    for (size_t i = 0; i < sizeof STR_OPTS / sizeof STR_OPTS[0]; i++)
        if (opt_is(k, STR_OPTS[i].name, STR_OPTS[i].alias))
            return &STR_OPTS[i];
    return NULL;
}

static err_code my_cfg_from(const db_url *u, my_cfg *g, err_t *e)
{
    memset(g, 0, sizeof *g);
    g->connect_timeout = MY_DEFAULT_CONNECT_TIMEOUT_S;
    const struct str_opt *so;
    err_code rc;
    for (size_t i = 0; i < u->nopts; i++) {
        const char *k = u->opts[i].key, *v = u->opts[i].value;
        if (db_opt_is_core(k)) /* the core applies it */
            continue;
        if (opt_is(k, "connect_timeout", "connect-timeout")) {
            if ((rc = opt_uint(k, v, 3600, &g->connect_timeout, e)))
                return rc;
        } else if (opt_is(k, "read_timeout", "read-timeout")) {
            if ((rc = opt_uint(k, v, 86400, &g->read_timeout, e)))
                return rc;
            g->has_read_timeout = true;
        } else if (opt_is(k, "write_timeout", "write-timeout")) {
            if ((rc = opt_uint(k, v, 86400, &g->write_timeout, e)))
                return rc;
            g->has_write_timeout = true;
        } else if (opt_is(k, "ssl_mode", "ssl-mode") || opt_is(k, "sslmode", NULL)) {
            static const char *const modes[] = {"disabled",  "preferred",       "required",
                                                "verify_ca", "verify_identity", NULL};
            const char *const *m = modes;
            for (; *m; m++)
                if (str_eq_ci(v, *m))
                    break;
            if (!*m)
                return err_set(e, ERR_INVALID,
                               "database URL option %s=%s: expected disabled, preferred, required, "
                               "verify_ca or verify_identity",
                               k, v);
            g->ssl_mode = *m;
        } else if ((so = str_opt(k)) != NULL) {
            *(const char **)((char *)g + so->off) = v;
        } else if (opt_is(k, "charset", "character_set")) {
            if (!str_eq_ci(v, "utf8mb4"))
                return err_set(e, ERR_INVALID,
                               "database URL option %s=%s: ctxd stores 4-byte UTF-8 (emoji); only "
                               "utf8mb4 is supported",
                               k, v);
        } else if (opt_is(k, "statement_timeout", "max_statement_time")) {
            if ((rc = opt_ms(k, v, &g->statement_timeout_ms, e)))
                return rc;
        } else if (opt_is(k, "prepared_statements", NULL)) {
            bool b = true;
            if ((rc = opt_bool(k, v, &b, e)))
                return rc;
            g->ephemeral = !b;
        } else {
            return err_set(
                e, ERR_INVALID,
                "unknown database URL option '%s' for MySQL/MariaDB (known: connect_timeout, "
                "read_timeout, write_timeout, ssl_mode, ssl_ca, ssl_capath, ssl_cert, ssl_key, "
                "ssl_cipher, tls_version, unix_socket, charset, statement_timeout, "
                "prepared_statements, pool_size, max_overflow, pool_timeout, pool_recycle, "
                "pool_idle_timeout, "
                "pool_pre_ping_idle_ms, busy_timeout)",
                k);
        }
    }
    return ERR_OK;
}

/* ---- connecting ---------------------------------------------------------------- */

static void my_free(my_conn *c)
{
    if (!c)
        return;
    mysql_close(c->h); /* NULL is fine */
    free(c->where);
    free(c);
}

/* What to check after a refusal at connect time the user can act on; NULL for others. */
static const char *my_connect_hint(unsigned n)
{
    switch (n) {
    case ER_ACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_ACCESS_DENIED_NO_PASSWORD_ERROR: return "check the user name, password and grants";
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_LOST:
    case CR_SERVER_GONE_ERROR: return "is the server running and reachable?";
    default: return NULL;
    }
}

static err_code my_connect_error(my_conn *c, const db_url *u, err_t *e)
{
    unsigned n = mysql_errno(c->h);
    const char *msg = mysql_error(c->h);
    err_code cls = my_class(n); /* ERR_AUTH and ERR_CONN for the hinted ones */
    const char *hint = my_connect_hint(n);
    if (n == ER_BAD_DB_ERROR)
        err_set(e, ERR_INVALID,
                "cannot connect to %s: database '%s' does not exist on the server; create it "
                "(CREATE DATABASE ... CHARACTER SET utf8mb4) or fix the URL",
                c->where, u->database ? u->database : "");
    else if (hint)
        err_set(e, cls, "cannot connect to %s: %s: %s", c->where, msg, hint);
    else
        err_set(e, cls, "cannot connect to %s: %s (MariaDB error %u)", c->where, msg, n);
    if (e)
        e->native = (int)n;
    return e ? e->code : cls;
}

static err_code my_connect(const db_url *u, const db_opts *o, db_role role, db_drv_conn **out,
                           err_t *e)
{
    (void)role;
    my_cfg g;
    err_code rc = my_cfg_from(u, &g, e);
    if (rc != ERR_OK)
        return rc;
    pthread_once(&my_lib_once, my_lib_init);
    if (my_lib_rc != 0)
        return err_set(e, ERR_FATAL, "MariaDB Connector/C failed to initialise");

    my_conn *c = xcalloc(1, sizeof *c);
    c->where = db_url_where(u, "localhost", MY_DEFAULT_PORT);
    c->ephemeral = g.ephemeral;
    c->h = mysql_init(NULL);
    if (!c->h) {
        my_free(c);
        return err_set(e, ERR_NOMEM, "mysql_init failed");
    }
    my_bool off = 0, on = 1;
    unsigned proto = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(c->h, MYSQL_OPT_RECONNECT, &off);
    mysql_optionsv(c->h, MYSQL_OPT_LOCAL_INFILE, &off);
    mysql_optionsv(c->h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(c->h, MYSQL_OPT_CONNECT_TIMEOUT, &g.connect_timeout);
    if (g.has_read_timeout)
        mysql_optionsv(c->h, MYSQL_OPT_READ_TIMEOUT, &g.read_timeout);
    if (g.has_write_timeout)
        mysql_optionsv(c->h, MYSQL_OPT_WRITE_TIMEOUT, &g.write_timeout);
    if (!g.unix_socket && u->host && *u->host && !str_eq_ci(u->host, "localhost"))
        mysql_optionsv(c->h, MYSQL_OPT_PROTOCOL, &proto);
    const struct {
        enum mysql_option opt;
        const char *value; /* from the URL; NULL: not given */
    } tls[] = {{MYSQL_OPT_SSL_CA, g.ssl_ca},         {MYSQL_OPT_SSL_CAPATH, g.ssl_capath},
               {MYSQL_OPT_SSL_CERT, g.ssl_cert},     {MYSQL_OPT_SSL_KEY, g.ssl_key},
               {MYSQL_OPT_SSL_CIPHER, g.ssl_cipher}, {MARIADB_OPT_TLS_VERSION, g.tls_version}};
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++)
        if (tls[i].value)
            mysql_optionsv(c->h, tls[i].opt, tls[i].value);
    if (g.ssl_mode && !str_eq(g.ssl_mode, "disabled") && !str_eq(g.ssl_mode, "preferred")) {
        mysql_optionsv(c->h, MYSQL_OPT_SSL_ENFORCE, &on);
        my_bool verify = str_eq(g.ssl_mode, "verify_ca") || str_eq(g.ssl_mode, "verify_identity");
        mysql_optionsv(c->h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    } else if (g.ssl_mode && str_eq(g.ssl_mode, "disabled")) {
        mysql_optionsv(c->h, MYSQL_OPT_SSL_ENFORCE, &off);
        mysql_optionsv(c->h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    }

    if (!mysql_real_connect(c->h, u->host && *u->host ? u->host : "localhost", u->user, u->password,
                            u->database, (unsigned)(u->port ? u->port : MY_DEFAULT_PORT),
                            g.unix_socket, CLIENT_FOUND_ROWS)) {
        rc = my_connect_error(c, u, e);
        my_free(c);
        return rc;
    }

    /* Connector/C 3.3 falls back to plain text when the server has no TLS unless
     * the certificate is verified: ssl_mode=required must not. */
    if (g.ssl_mode && !str_eq(g.ssl_mode, "disabled") && !str_eq(g.ssl_mode, "preferred") &&
        !mysql_get_ssl_cipher(c->h)) {
        rc = err_set(e, ERR_CONN,
                     "cannot connect to %s: ssl_mode=%s but the server does not offer TLS "
                     "(enable TLS on the server or change ssl_mode)",
                     c->where, g.ssl_mode);
        my_free(c);
        return rc;
    }

    /* Session settings in one round trip. MariaDB is what ctxd is tested on; an
     * Oracle MySQL 8 server gets its spelling of the same settings (its NO PAD
     * binary collation, max_execution_time in ms, which covers SELECTs only). */
    const char *info = mysql_get_server_info(c->h);
    bool maria = info && strstr(info, "MariaDB");
    sbuf_t sql = SBUF_INIT;
    long lock_s = o->busy_timeout_ms > 0 ? (o->busy_timeout_ms + 999) / 1000 : 1;
    sbuf_printf(&sql,
                "SET NAMES utf8mb4 COLLATE %s, sql_mode = '" MY_SQL_MODE "',"
                " time_zone = '+00:00', innodb_lock_wait_timeout = %ld",
                maria ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin", lock_s);
    if (g.statement_timeout_ms > 0 && maria)
        sbuf_printf(&sql, ", max_statement_time = %ld.%03ld", g.statement_timeout_ms / 1000,
                    g.statement_timeout_ms % 1000);
    else if (g.statement_timeout_ms > 0)
        sbuf_printf(&sql, ", max_execution_time = %ld", g.statement_timeout_ms);
    if (mysql_real_query(c->h, sbuf_cstr(&sql), (unsigned long)sql.len) != 0) {
        rc = my_conn_err(c, e, NULL, NULL);
        err_prefix(e, "cannot configure the session on %s", c->where);
        sbuf_free(&sql);
        my_free(c);
        return rc;
    }
    sbuf_free(&sql);
    *out = (db_drv_conn *)(void *)c;
    return ERR_OK;
}

static void my_disconnect(db_drv_conn *dc)
{
    my_free(MC(dc));
}

static err_code my_ping(db_drv_conn *dc, err_t *e)
{
    my_conn *c = MC(dc);
    if (mysql_ping(c->h) == 0)
        return ERR_OK;
    my_conn_err(c, e, "ping", NULL);
    /* Whatever the server said, a connection that fails a ping is not usable. */
    if (e)
        e->code = ERR_CONN;
    return ERR_CONN;
}

static unsigned my_caps(db_drv_conn *dc)
{
    (void)dc;
    return DB_CAP_UPSERT_DUPLICATE | DB_CAP_ADVISORY_LOCK | DB_CAP_JSON;
}

static err_code my_server_version(db_drv_conn *dc, char *buf, size_t n, err_t *e)
{
    (void)e;
    const char *v = mysql_get_server_info(MC(dc)->h);
    if (!v)
        v = "";
    if (strncmp(v, "5.5.5-", 6) == 0)
        v += 6; /* MariaDB's replication prefix */
    size_t len = strcspn(v, "-");
    bool maria = strstr(v, "MariaDB") != NULL;
    snprintf(buf, n, "%s %.*s", maria ? "MariaDB" : "MySQL", (int)len, v);
    return ERR_OK;
}

/* ---- scripts and transactions ------------------------------------------------------ */

/* Runs one statement as text; any result is read and dropped. */
static err_code my_query(my_conn *c, const char *sql, size_t n, err_t *e, const char *what)
{
    if (mysql_real_query(c->h, sql, (unsigned long)n) != 0) {
        char quoted[201];
        size_t q = n > 200 ? 200 : n;
        memcpy(quoted, sql, q);
        quoted[q] = '\0';
        for (size_t i = 0; i < q; i++)
            if (quoted[i] == '\n' || quoted[i] == '\r' || quoted[i] == '\t')
                quoted[i] = ' ';
        unsigned num = mysql_errno(c->h);
        err_code cls = my_class(num);
        err_set(e, cls, "%s%s%s (MariaDB error %u) (in: %s)", what ? what : "", what ? ": " : "",
                mysql_error(c->h), num, quoted);
        if (e)
            e->native = (int)num;
        return cls;
    }
    if (mysql_field_count(c->h) > 0) {
        MYSQL_RES *r = mysql_store_result(c->h);
        if (!r)
            return my_conn_err(c, e, what, NULL);
        mysql_free_result(r);
    }
    return ERR_OK;
}

static err_code my_exec(db_drv_conn *dc, const char *sql, err_t *e)
{
    my_conn *c = MC(dc);
    size_t pos = 0, start, len;
    while (sqltok_next_stmt(sql, &pos, &start, &len)) {
        err_code rc = my_query(c, sql + start, len, e, NULL);
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

static err_code my_begin(db_drv_conn *dc, bool write, err_t *e)
{
    (void)write;
    static const char q[] = "START TRANSACTION";
    return my_query(MC(dc), q, sizeof q - 1, e, "begin");
}
static err_code my_commit(db_drv_conn *dc, err_t *e)
{
    static const char q[] = "COMMIT";
    return my_query(MC(dc), q, sizeof q - 1, e, "commit");
}
static err_code my_rollback(db_drv_conn *dc, err_t *e)
{
    static const char q[] = "ROLLBACK";
    return my_query(MC(dc), q, sizeof q - 1, e, "rollback");
}
/* The server's own flag: DDL commits implicitly, and the status says so. */
static bool my_in_transaction(db_drv_conn *dc)
{
    return (MC(dc)->h->server_status & SERVER_STATUS_IN_TRANS) != 0;
}
static int64_t my_last_insert_id(db_drv_conn *dc)
{
    return MC(dc)->last_id;
}

/* ---- statements ------------------------------------------------------------------ */

static void my_cols_free(my_stmt *s)
{
    for (int i = 0; i < s->ncols; i++)
        free(s->cols[i].buf);
    free(s->cols);
    free(s->rb);
    if (s->names && s->ncols > 0)
        free(s->names[0]); /* one block for all names */
    free(s->names);
    s->cols = NULL;
    s->rb = NULL;
    s->names = NULL;
    s->ncols = 0;
}

static int my_kind(enum enum_field_types t)
{
    switch (t) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_YEAR: return MY_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE: return MY_DBL;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_DATETIME2:
    case MYSQL_TYPE_TIMESTAMP2:
    case MYSQL_TYPE_NEWDATE: return MY_TIME;
    default: return MY_STR;
    }
}

/* Column names, kinds and result bindings from the statement's metadata. */
static err_code my_cols_setup(my_stmt *s, err_t *e)
{
    my_cols_free(s);
    unsigned n = mysql_stmt_field_count(s->st);
    if (n == 0)
        return ERR_OK;
    MYSQL_RES *meta = mysql_stmt_result_metadata(s->st);
    if (!meta)
        return my_stmt_err(s, e);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    size_t names_len = 0;
    for (unsigned i = 0; i < n; i++)
        names_len += strlen(f[i].name) + 1;
    s->ncols = (int)n;
    s->cols = xcalloc(n, sizeof *s->cols);
    s->rb = xcalloc(n, sizeof *s->rb);
    s->names = xcalloc(n, sizeof *s->names);
    char *block = xmalloc(names_len);
    for (unsigned i = 0; i < n; i++) {
        size_t l = strlen(f[i].name);
        memcpy(block, f[i].name, l + 1);
        s->names[i] = block;
        block += l + 1;
        my_col *col = &s->cols[i];
        MYSQL_BIND *b = &s->rb[i];
        col->kind = my_kind(f[i].type);
        b->is_null = &col->is_null;
        b->error = &col->error;
        b->length = &col->len;
        switch (col->kind) {
        case MY_INT:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &col->i;
            b->buffer_length = sizeof col->i;
            break;
        case MY_DBL:
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &col->d;
            b->buffer_length = sizeof col->d;
            break;
        case MY_TIME:
            b->buffer_type = MYSQL_TYPE_DATETIME;
            b->buffer = &col->t;
            b->buffer_length = sizeof col->t;
            break;
        default:
            col->cap = MY_COL_INIT_CAP;
            col->buf = xmalloc(col->cap);
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = col->buf;
            b->buffer_length = col->cap - 1; /* room for our NUL */
            break;
        }
    }
    mysql_free_result(meta);
    return ERR_OK;
}

static err_code my_stmt_prepare_server(my_stmt *s, err_t *e)
{
    s->st = mysql_stmt_init(s->c->h);
    if (!s->st)
        return err_set(e, ERR_NOMEM, "mysql_stmt_init failed");
    if (mysql_stmt_prepare(s->st, s->sql, (unsigned long)s->sql_len) != 0) {
        err_code rc = my_stmt_err(s, e);
        mysql_stmt_close(s->st);
        s->st = NULL;
        return rc;
    }
    return ERR_OK;
}

static void my_stmt_free(my_stmt *s)
{
    if (!s)
        return;
    if (s->st)
        mysql_stmt_close(s->st);
    my_cols_free(s);
    free(s->pb);
    free(s->pv);
    free(s->sql);
    free(s);
}

static err_code my_prepare(db_drv_conn *dc, const char *sql, size_t len, bool persistent,
                           db_drv_stmt **out, err_t *e)
{
    (void)persistent;
    my_conn *c = MC(dc);
    if (len >= ULONG_MAX / 2)
        return err_set(e, ERR_INVALID, "SQL statement too long (%zu bytes)", len);
    size_t start = 0, n = 0, pos = 0;
    if (!sqltok_next_stmt(sql, &pos, &start, &n))
        return err_set(e, ERR_INVALID, "empty SQL statement");
    if (!sqltok_is_blank(sql + pos, len > pos ? len - pos : 0))
        return err_set(e, ERR_INVALID,
                       "db_prepare takes one statement; use db_exec for scripts (in: %.200s)", sql);
    my_stmt *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->sql = xstrndup(sql, len);
    s->sql_len = len;
    err_code rc = my_stmt_prepare_server(s, e);
    if (rc == ERR_OK)
        rc = my_cols_setup(s, e);
    if (rc != ERR_OK) {
        my_stmt_free(s);
        return rc;
    }
    s->nparams = (int)mysql_stmt_param_count(s->st);
    if (s->nparams > 0) {
        s->pb = xcalloc((size_t)s->nparams, sizeof *s->pb);
        s->pv = xcalloc((size_t)s->nparams, sizeof *s->pv);
        for (int i = 0; i < s->nparams; i++)
            s->pb[i].buffer_type = MYSQL_TYPE_NULL;
    }
    if (c->ephemeral) {
        mysql_stmt_close(s->st);
        s->st = NULL;
    }
    *out = (db_drv_stmt *)(void *)s;
    return ERR_OK;
}

static void my_finalize(db_drv_stmt *ds)
{
    my_stmt_free(MS(ds));
}

static void my_reset(db_drv_stmt *ds)
{
    my_stmt *s = MS(ds);
    if (s->st) {
        if (s->has_result)
            mysql_stmt_free_result(s->st);
        if (s->c->ephemeral) {
            mysql_stmt_close(s->st);
            s->st = NULL;
        }
    }
    for (int i = 0; i < s->nparams; i++) {
        MYSQL_BIND *b = &s->pb[i];
        memset(b, 0, sizeof *b);
        b->buffer_type = MYSQL_TYPE_NULL;
    }
    s->executed = s->has_result = false;
    s->changes = 0;
}

static int my_param_count(db_drv_stmt *ds)
{
    return MS(ds)->nparams;
}

static MYSQL_BIND *my_slot(my_stmt *s, int i)
{
    if (i < 1 || i > s->nparams)
        return NULL;
    MYSQL_BIND *b = &s->pb[i - 1];
    memset(b, 0, sizeof *b);
    return b;
}

static err_code my_bind_null(db_drv_stmt *ds, int i)
{
    MYSQL_BIND *b = my_slot(MS(ds), i);
    if (!b)
        return ERR_INTERNAL;
    b->buffer_type = MYSQL_TYPE_NULL;
    return ERR_OK;
}
static err_code my_bind_bytes(db_drv_stmt *ds, int i, const void *v, size_t n,
                              enum enum_field_types t)
{
    MYSQL_BIND *b = my_slot(MS(ds), i);
    if (!b)
        return ERR_INTERNAL;
    if (n > 0xffffffffUL)
        return ERR_INVALID;
    b->buffer_type = t;
    b->buffer = (void *)(uintptr_t)v;
    b->buffer_length = (unsigned long)n;
    return ERR_OK;
}
/* A fixed-size value (n bytes at v) kept in the statement's parameter storage. */
static err_code my_bind_copy(db_drv_stmt *ds, int i, const void *v, size_t n,
                             enum enum_field_types t)
{
    my_stmt *s = MS(ds);
    if (i < 1 || i > s->nparams)
        return ERR_INTERNAL;
    memcpy(&s->pv[i - 1], v, n);
    return my_bind_bytes(ds, i, &s->pv[i - 1], n, t);
}
static err_code my_bind_int64(db_drv_stmt *ds, int i, int64_t v)
{
    return my_bind_copy(ds, i, &v, sizeof v, MYSQL_TYPE_LONGLONG);
}
static err_code my_bind_double(db_drv_stmt *ds, int i, double v)
{
    return my_bind_copy(ds, i, &v, sizeof v, MYSQL_TYPE_DOUBLE);
}
static err_code my_bind_text(db_drv_stmt *ds, int i, const char *v, size_t n)
{
    return my_bind_bytes(ds, i, v, n, MYSQL_TYPE_STRING);
}
static err_code my_bind_blob(db_drv_stmt *ds, int i, const void *v, size_t n)
{
    return my_bind_bytes(ds, i, v, n, MYSQL_TYPE_BLOB);
}
/* DATETIME holds 1000-01-01 .. 9999-12-31: anything else is ERR_INVALID. */
static err_code my_bind_time(db_drv_stmt *ds, int i, utc_us t)
{
    MYSQL_TIME mt;
    if (my_time_from_us(t, &mt))
        return my_bind_copy(ds, i, &mt, sizeof mt, MYSQL_TYPE_DATETIME);
    err_code rc = my_bind_null(ds, i);
    return rc != ERR_OK ? rc : ERR_INVALID;
}

/* Grows the text buffers of truncated columns and fetches them whole. */
static int my_fetch_truncated(my_stmt *s, err_t *e)
{
    for (int i = 0; i < s->ncols; i++) {
        my_col *col = &s->cols[i];
        if (!col->error || col->kind != MY_STR || col->is_null)
            continue;
        size_t need = (size_t)col->len + 1;
        size_t cap = col->cap;
        while (cap < need)
            cap *= 2;
        col->buf = xrealloc(col->buf, cap);
        col->cap = cap;
        s->rb[i].buffer = col->buf;
        s->rb[i].buffer_length = (unsigned long)(cap - 1);
        MYSQL_BIND one = s->rb[i];
        if (mysql_stmt_fetch_column(s->st, &one, (unsigned)i, 0) != 0)
            return (int)my_stmt_err(s, e);
        col->error = 0;
    }
    if (mysql_stmt_bind_result(s->st, s->rb) != 0)
        return (int)my_stmt_err(s, e);
    return DB_ROW;
}

static void my_terminate_text(my_stmt *s)
{
    for (int i = 0; i < s->ncols; i++) {
        my_col *col = &s->cols[i];
        if (col->kind == MY_STR && !col->is_null)
            col->buf[col->len < col->cap ? col->len : col->cap - 1] = '\0';
    }
}

static int my_step(db_drv_stmt *ds, err_t *e)
{
    my_stmt *s = MS(ds);
    if (!s->executed) {
        s->executed = true;
        if (!s->st) {
            err_code rc = my_stmt_prepare_server(s, e);
            if (rc != ERR_OK)
                return (int)rc;
        }
        if (s->nparams > 0 && mysql_stmt_bind_param(s->st, s->pb) != 0)
            return (int)my_stmt_err(s, e);
        if (mysql_stmt_execute(s->st) != 0)
            return (int)my_stmt_err(s, e);
        unsigned fc = mysql_stmt_field_count(s->st);
        if (fc == 0) {
            my_ulonglong ar = mysql_stmt_affected_rows(s->st);
            s->changes = ar == (my_ulonglong)-1 ? 0 : (int64_t)ar;
            my_ulonglong id = mysql_stmt_insert_id(s->st);
            if (id != 0)
                s->c->last_id = (int64_t)id;
            return DB_DONE;
        }
        if ((int)fc != s->ncols || !s->rb) {
            err_code rc = my_cols_setup(s, e); /* the shape changed (DDL) */
            if (rc != ERR_OK)
                return (int)rc;
        }
        if (mysql_stmt_bind_result(s->st, s->rb) != 0)
            return (int)my_stmt_err(s, e);
        if (mysql_stmt_store_result(s->st) != 0)
            return (int)my_stmt_err(s, e);
        s->has_result = true;
    }
    if (!s->has_result)
        return DB_DONE;
    int r = mysql_stmt_fetch(s->st);
    if (r == 0) {
        my_terminate_text(s);
        return DB_ROW;
    }
    if (r == MYSQL_NO_DATA)
        return DB_DONE;
    if (r == MYSQL_DATA_TRUNCATED) {
        r = my_fetch_truncated(s, e);
        if (r == DB_ROW)
            my_terminate_text(s);
        return r;
    }
    return (int)my_stmt_err(s, e);
}

static int64_t my_changes(db_drv_stmt *ds)
{
    return MS(ds)->changes;
}

static int my_col_count(db_drv_stmt *ds)
{
    return MS(ds)->ncols;
}
static const char *my_col_name(db_drv_stmt *ds, int i)
{
    my_stmt *s = MS(ds);
    return i >= 0 && i < s->ncols ? s->names[i] : NULL;
}
static my_col *my_colp(my_stmt *s, int i)
{
    return i >= 0 && i < s->ncols && s->has_result ? &s->cols[i] : NULL;
}
static bool my_col_null(db_drv_stmt *ds, int i)
{
    my_col *c = my_colp(MS(ds), i);
    return !c || c->is_null;
}
static int64_t my_col_int64(db_drv_stmt *ds, int i)
{
    my_col *c = my_colp(MS(ds), i);
    if (!c || c->is_null)
        return 0;
    switch (c->kind) {
    case MY_INT: return c->i;
    case MY_DBL: return (int64_t)c->d;
    case MY_TIME: return my_us_from_time(&c->t);
    default: return strtoll(c->buf, NULL, 10);
    }
}
static double my_col_double(db_drv_stmt *ds, int i)
{
    my_col *c = my_colp(MS(ds), i);
    if (!c || c->is_null)
        return 0;
    switch (c->kind) {
    case MY_INT: return (double)c->i;
    case MY_DBL: return c->d;
    case MY_TIME: return (double)my_us_from_time(&c->t);
    default: return strtod(c->buf, NULL);
    }
}
static const char *my_col_text(db_drv_stmt *ds, int i, size_t *len)
{
    my_col *c = my_colp(MS(ds), i);
    if (!c || c->is_null) {
        if (len)
            *len = 0;
        return NULL;
    }
    const char *p = c->scratch;
    switch (c->kind) {
    case MY_INT: snprintf(c->scratch, sizeof c->scratch, "%lld", (long long)c->i); break;
    case MY_DBL: snprintf(c->scratch, sizeof c->scratch, "%.17g", c->d); break;
    case MY_TIME: utc_format(my_us_from_time(&c->t), c->scratch); break;
    default:
        if (len)
            *len = c->len;
        return c->buf;
    }
    if (len)
        *len = strlen(p);
    return p;
}
static utc_us my_col_time(db_drv_stmt *ds, int i)
{
    my_col *c = my_colp(MS(ds), i);
    if (!c || c->is_null)
        return 0;
    switch (c->kind) {
    case MY_TIME: return my_us_from_time(&c->t);
    case MY_INT: return c->i;
    case MY_DBL: return (utc_us)c->d;
    default: {
        utc_us v = 0;
        err_t pe;
        return utc_parse(c->buf, &v, &pe) == ERR_OK ? v : 0;
    }
    }
}
static const void *my_col_blob(db_drv_stmt *ds, int i, size_t *len)
{
    return my_col_text(ds, i, len);
}

const db_driver db_driver_mysql = {
    .name = "mysql",
    .dialect = "mysql",
    .backend = DB_BACKEND_MYSQL,
    .connect = my_connect,
    .disconnect = my_disconnect,
    .ping = my_ping,
    .caps = my_caps,
    .server_version = my_server_version,
    .exec = my_exec,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .in_transaction = my_in_transaction,
    .last_insert_id = my_last_insert_id,
    .prepare = my_prepare,
    .finalize = my_finalize,
    .reset = my_reset,
    .param_count = my_param_count,
    .bind_null = my_bind_null,
    .bind_int64 = my_bind_int64,
    .bind_double = my_bind_double,
    .bind_text = my_bind_text,
    .bind_json = my_bind_text,
    .bind_time = my_bind_time,
    .bind_blob = my_bind_blob,
    .step = my_step,
    .changes = my_changes,
    .col_count = my_col_count,
    .col_name = my_col_name,
    .col_null = my_col_null,
    .col_int64 = my_col_int64,
    .col_double = my_col_double,
    .col_text = my_col_text,
    .col_json = my_col_text,
    .col_time = my_col_time,
    .col_blob = my_col_blob,
};
