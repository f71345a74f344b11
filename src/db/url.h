/* db/url.h — the database URL: parse every scheme form ctxd accepts, derive the
 * URL from DATABASE_TYPE / DATABASE_PATH / SUPABASE_* when DATABASE_URL is absent,
 * and mask the password in anything printed. Must not: connect to anything. */
#ifndef CTXD_DB_URL_H
#define CTXD_DB_URL_H

#include <stdbool.h>
#include <stddef.h>
#include "base/err.h"
#include "base/conf.h"

/* The backends this build holds (1 = built in): SQLite always; the others unless CMake's
 * CTXD_WITH_<NAME>=OFF left their client library and driver out. */
#ifndef CTXD_WITH_POSTGRESQL
#define CTXD_WITH_POSTGRESQL 1
#endif
#ifndef CTXD_WITH_MYSQL
#define CTXD_WITH_MYSQL 1
#endif
#ifndef CTXD_WITH_MONGODB
#define CTXD_WITH_MONGODB 1
#endif

typedef enum db_backend {
    DB_BACKEND_SQLITE = 1,
    DB_BACKEND_POSTGRES,
    DB_BACKEND_MYSQL,
    DB_BACKEND_MONGODB
} db_backend;

typedef struct db_url_opt {
    char *key;   /* percent-decoded */
    char *value; /* percent-decoded, "" when given as `?flag` */
} db_url_opt;

typedef struct db_url {
    db_backend backend;
    char *scheme;   /* as written, lowercased, driver suffix removed: "postgresql" */
    char *driver;   /* SQLAlchemy suffix as written ("asyncpg") or NULL; ignored */
    char *user;     /* decoded, or NULL */
    char *password; /* decoded, or NULL — never print it */
    char *host;     /* decoded; IPv6 without brackets; NULL for sqlite */
    int port;       /* 0 = backend default */
    char *hosts;    /* mongodb: the raw host list "h1:1,h2:2" when several, else NULL */
    char *database; /* postgres/mysql/mongo database name (decoded), or NULL */
    char *path;     /* sqlite: file path (decoded), ":memory:" for memory */
    bool memory;    /* sqlite in-memory database */
    bool srv;       /* mongodb+srv */
    size_t nopts;
    db_url_opt *opts; /* query options in order */
} db_url;

/* Parses `url`. Errors (ERR_INVALID) name what is wrong and show the URL masked. */
err_code db_url_parse(const char *url, db_url **out, err_t *e);
void db_url_free(db_url *u);
const char *db_url_opt_get(const db_url *u, const char *key); /* NULL if absent */
const char *db_backend_name(db_backend b);                    /* "sqlite", "postgresql", ... */
/* Whether this build holds backend `b` (CMake's CTXD_WITH_<NAME> options; SQLite
 * always). db_backend_require: ERR_OK if u's backend is built in, else ERR_INVALID
 * naming the backend and the option that would build it. */
bool db_backend_built(db_backend b);
err_code db_backend_require(const db_url *u, err_t *e);

/* The effective URL from configuration: DATABASE_URL if set; else DATABASE_TYPE
 * (sqlite -> DATABASE_PATH; postgresql/mysql/mongodb -> DATABASE_URL required;
 * supabase -> SUPABASE_URL + SUPABASE_DB_PASSWORD [+ SUPABASE_REGION] -> a
 * postgresql URL with sslmode=require); else sqlite:///<DATABASE_PATH or
 * ./chat_history.db>. *url_text is the URL string (caller frees); *origin says in
 * words where it came from ("DATABASE_URL (environment)"). */
err_code db_url_from_conf(const conf_t *c, char **url_text, char **origin, err_t *e);

/* The server a parsed URL names, for messages (caller frees):
 * "scheme://user:***@host:port/database", the password always "***", an IPv6 host
 * in brackets. A URL without host or port gets default_host / default_port; the
 * part is left out when that is NULL / 0. */
char *db_url_where(const db_url *u, const char *default_host, int default_port);

/* Returns a newly allocated copy of `url` with any password replaced by "***".
 * Works on malformed URLs too (best effort: anything between "://" user-part ':'
 * and the last '@' before the host is masked). */
char *db_url_masked(const char *url);

#endif
