/* xfer/scs_int.h — private to the import of shared-context-server databases (scs_*.c):
 * the state of one import (scs_ctx: options, report, the row being read and its
 * warnings, the staging store), the value conversions (scs_conv.c), the reader of the
 * source (scs_read.c) and the staging sink (scs_import.c).
 * Must not: be included outside src/xfer/. */
#ifndef CTXD_XFER_SCS_INT_H
#define CTXD_XFER_SCS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "base/utc.h"
#include "db/db.h"
#include "xfer/scs.h"

/* Warnings shown per kind; the rest are counted in one line. */
#define SCS_WARN_SHOWN 10
/* The key under which metadata that is not a JSON object is kept (see scs_object). */
#define SCS_META_KEY "scs_metadata"

typedef struct scs_ctx {
    const xfer_opts *o;
    scs_report *r;
    utc_us now;    /* memory expiring at or before it is skipped */
    scs_kind kind; /* of the row being read */
    char row[96];  /* "id 17": the row being read, for warnings */
    bool row_warned;
    int64_t warnings[SCS_NKINDS]; /* warnings issued per kind */
    /* the staging sink (scs_import.c) */
    store_t *stage;
    json_t **rows;
    size_t n, batch;
    int64_t staged, inserted; /* rows of the current kind handed to / written by the stage */
} scs_ctx;

/* ---- conversions (scs_conv.c) ---- */

/* A warning about the current row ("warning: messages id 17: <text>"), shown while
 * fewer than SCS_WARN_SHOWN were; marks the row as converted with a warning. */
void scs_warn(scs_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The time in columns i (its SQLite typeof()) and i + 1 (the value): REAL or INTEGER
 * epoch seconds, TEXT ISO-8601 (no offset = UTC; 'YYYY-MM-DD HH:MM:SS' included) or
 * epoch seconds written as text. ERR_NOTFOUND for NULL; ERR_INVALID saying what the
 * value is otherwise. Microseconds are kept. */
err_code scs_time_at(db_stmt *s, int i, utc_us *out, err_t *e);

/* A time column that must have a value: column i, else column `alt` (-1: none) with a
 * warning, else the epoch with a warning. `name`/`alt_name` for the warnings. */
json_t *scs_time_req(scs_ctx *c, db_stmt *s, int i, const char *name, int alt,
                     const char *alt_name);

/* A text column as a JSON string: NUL characters dropped and invalid UTF-8 replaced by
 * U+FFFD, with a warning; `dflt` (may be NULL: JSON null) when the column is NULL. */
json_t *scs_text(scs_ctx *c, db_stmt *s, int i, const char *name, const char *dflt);

/* A JSON text column as a JSON object or null (object = true: sessions, messages,
 * memory metadata) or any JSON value (object = false: audit metadata). Text that is not
 * JSON (or, when an object is required, JSON that is not an object) is kept as
 * {"scs_metadata": <the text or value>} with a warning. */
json_t *scs_json(scs_ctx *c, db_stmt *s, int i, const char *name, bool object);

/* A memory value (SCS keeps the JSON text of the stored value): the JSON value, or the
 * text as a JSON string with a warning when it is not JSON. */
json_t *scs_value(scs_ctx *c, db_stmt *s, int i);

/* ---- the source (scs_read.c) ---- */

/* Opens the SCS database at `url` read-only, recognises it and reads every kind in
 * order, handing each converted row to scs_stage_row and closing each kind with
 * scs_stage_end. Fills the counts of c->r. */
err_code scs_read(scs_ctx *c, const char *url, err_t *e);

/* ---- the staging sink (scs_import.c) ---- */

/* A converted row of c->kind (stolen). */
err_code scs_stage_row(scs_ctx *c, json_t *row, err_t *e);
/* Writes what is held and closes the current kind (counts converted rows). */
err_code scs_stage_end(scs_ctx *c, err_t *e);
/* Progress while reading: `done` of `total` rows of the current kind. */
void scs_progress(scs_ctx *c, int64_t done, int64_t total);

#endif
