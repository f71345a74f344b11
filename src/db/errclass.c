/* db/errclass.c — maps each backend's native error codes (SQLite extended result
 * codes, PostgreSQL SQLSTATE, MySQL/MariaDB errno) onto the small err_code class
 * set. Retries (err_retryable) and user-facing wording are decided from the
 * class alone, so every driver must route its errors through here.
 * Must not: match on message text, log, or depend on client libraries (the
 * SQLite numbers are taken from sqlite3.h; the others are plain tables). */
#include "db/driver.h"

#include <sqlite3.h>
#include <string.h>

err_code db_errclass_sqlite(int ext)
{
    switch (ext) { /* extended codes that differ from their primary */
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID: return ERR_UNIQUE;
    case SQLITE_ABORT_ROLLBACK: /* statement aborted by a rollback: run it again */ return ERR_BUSY;
    case SQLITE_READONLY_DBMOVED:
    case SQLITE_READONLY_DIRECTORY: return ERR_IO;
#ifdef SQLITE_IOERR_NOMEM
    case SQLITE_IOERR_NOMEM: return ERR_NOMEM;
#endif
    default: break;
    }
    switch (ext & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return ERR_OK;
    case SQLITE_BUSY:     /* incl. BUSY_SNAPSHOT, BUSY_RECOVERY, BUSY_TIMEOUT */
    case SQLITE_LOCKED:   /* incl. LOCKED_SHAREDCACHE */
    case SQLITE_PROTOCOL: /* WAL lock race: retry */
    case SQLITE_SCHEMA: /* schema changed under a statement: retry */ return ERR_BUSY;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH: /* datatype mismatch (e.g. text into a rowid) */ return ERR_CONSTRAINT;
    case SQLITE_ERROR: /* syntax, no such table/column, ... */ return ERR_SYNTAX;
    case SQLITE_NOTADB: /* the file is not a database: the user must fix */
    case SQLITE_TOOBIG: return ERR_INVALID;
    case SQLITE_RANGE: /* bind index out of range: a bug */
    case SQLITE_MISUSE:
    case SQLITE_INTERNAL: return ERR_INTERNAL;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_NOLFS: return ERR_IO;
    case SQLITE_AUTH: return ERR_AUTH;
    case SQLITE_NOMEM: return ERR_NOMEM;
    case SQLITE_INTERRUPT: /* sqlite3_interrupt: a deadline passed */ return ERR_TIMEOUT;
    case SQLITE_CORRUPT: /* damaged file: not retryable, needs a human */
    case SQLITE_FORMAT:
    case SQLITE_ABORT:
    case SQLITE_EMPTY:
    case SQLITE_NOTFOUND:
    default: return ERR_FATAL;
    }
}

/* Whole SQLSTATE codes first, then classes (their first two characters): the
 * first entry that is a prefix of the code wins. */
static const struct {
    const char *prefix;
    err_code cls;
} SQLSTATES[] = {
    {"00000", ERR_OK},      {"23505", ERR_UNIQUE}, {"40001", ERR_BUSY}, /* serialization failure */
    {"40P01", ERR_BUSY},                                                /* deadlock */
    {"55P03", ERR_BUSY},                                                /* lock not available */
    {"57014", ERR_TIMEOUT}, /* query_canceled (statement_timeout) */
    {"25P03", ERR_CONN},    /* idle_in_transaction timeout: session gone */
    {"42501", ERR_AUTH},    /* insufficient_privilege */
    {"53300", ERR_CONN},    /* too_many_connections */
    {"53100", ERR_IO},      /* disk_full */
    {"3D000", ERR_INVALID}, /* database does not exist */
    {"57P01", ERR_CONN},    /* admin shutdown */
    {"57P02", ERR_CONN},    /* crash shutdown */
    {"57P03", ERR_CONN},    /* cannot connect now */
    {"08", ERR_CONN},       /* connection exception */
    {"0A", ERR_SYNTAX},     /* feature not supported */
    {"23", ERR_CONSTRAINT}, /* integrity constraint violation */
    {"22", ERR_INVALID},    /* data exception */
    {"28", ERR_AUTH},       /* invalid authorization */
    {"40", ERR_BUSY},       /* transaction rollback */
    {"42", ERR_SYNTAX},     /* syntax error or access rule */
    {"3F", ERR_SYNTAX},     /* invalid schema name */
    {"53", ERR_BUSY},       /* insufficient resources */
    {"57", ERR_CONN},       /* operator intervention */
    {"XX", ERR_INTERNAL},   /* internal error */
};

err_code db_errclass_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return ERR_FATAL;
    for (size_t i = 0; i < sizeof SQLSTATES / sizeof SQLSTATES[0]; i++)
        if (strncmp(st, SQLSTATES[i].prefix, strlen(SQLSTATES[i].prefix)) == 0)
            return SQLSTATES[i].cls;
    return ERR_FATAL;
}

err_code db_errclass_mysql(unsigned n)
{
    switch (n) {
    case 0: return ERR_OK;
    case 1062:
    case 1169:
    case 1586: /* duplicate entry / key */ return ERR_UNIQUE;
    case 1048:
    case 1216:
    case 1217:
    case 1451:
    case 1452:
    case 3819:
    case 1364:
    case 4025:
        return ERR_CONSTRAINT; /* not null, foreign key, check (MySQL 3819,
                                                    MariaDB 4025), no default */
    case 1406:
    case 1366:
    case 1292:
    case 1264:
    case 1265:
    case 1367:
    case 3140:
    case 4038:
        return ERR_INVALID; /* strict mode: too long, bad string/date/number,
                                                    invalid JSON — a data exception, like 22xxx */
    case 1205:
    case 1213:
    case 1637: /* lock wait timeout, deadlock */ return ERR_BUSY;
    case 1040:
    case 1053:
    case 1152:
    case 1153:
    case 1159:
    case 1160:
    case 1161:
    case 2002:
    case 2003:
    case 2005:
    case 2006:
    case 2013:
    case 2026:
    case 2055:
    case 4031:
    case 1927:
    case 1129:
        return ERR_CONN;            /* too many connections, gone away, lost,
                                                    killed at server shutdown (1927) */
    case 2014: return ERR_INTERNAL; /* commands out of sync: a driver bug */
    case 1044:
    case 1045:
    case 1142:
    case 1143:
    case 1227:
    case 1698:
    case 1130:
    case 2059: return ERR_AUTH;
    case 1054:
    case 1064:
    case 1146:
    case 1149:
    case 1060:
    case 1061:
    case 1050:
    case 1091: return ERR_SYNTAX;  /* unknown column/table, syntax, exists */
    case 1049: return ERR_INVALID; /* unknown database */
    case 3024:
    case 1969:
    case 3572: return ERR_TIMEOUT; /* max_execution_time, NOWAIT */
    case 1021:
    case 1114:
    case 3: return ERR_IO; /* disk full, table full */
    default: return ERR_FATAL;
    }
}
