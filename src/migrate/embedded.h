/* migrate/embedded.h — the SQL migration files compiled into the binary by
 * cmake/embed.cmake (kind "migrations") from migrations/<dialect>/NNNN_name.{up,down}.sql.
 * Must not: be edited by hand (the table is generated). */
#ifndef CTXD_MIGRATE_EMBEDDED_H
#define CTXD_MIGRATE_EMBEDDED_H

#include <stddef.h>

enum {
    MIGRATE_UP = 1,
    MIGRATE_DOWN = 2
};

typedef struct migrate_embedded_file {
    const char *dialect; /* "sqlite", "postgresql", "mysql" */
    int version;         /* 1, 2, ... */
    const char *name;    /* "init" */
    int direction;       /* MIGRATE_UP or MIGRATE_DOWN */
    const char *sql;     /* NUL-terminated */
    size_t len;
} migrate_embedded_file;

extern const migrate_embedded_file migrate_embedded[]; /* terminated by dialect == NULL */
extern const int migrate_embedded_count;

#endif
