/* xfer/scs.h — `ctxd import-scs`: adopting the database of shared-context-server (SCS, the
 * Python server ctxd replaces). The SCS database is recognised by its tables and columns,
 * opened read-only, and every row converted into ctxd's logical tables (store.h):
 * sessions, messages, agent memory and audit records, with the three encodings SCS
 * really stores in its TIMESTAMP columns (float epoch seconds, ISO-8601 text with or
 * without an offset, SQLite CURRENT_TIMESTAMP text; epoch seconds as text too) turned
 * into UTC microseconds. Protected tokens are dropped (Fernet-encrypted under SCS's own
 * key: agents authenticate again), memory already expired is skipped.
 *
 * The converted rows are written to a private staging database (SQLite, in a fresh
 * directory under TMPDIR, removed afterwards) through store_import_rows, and moved from
 * there into the target by xfer_copy: the target is migrated, refused when it holds
 * other data (unless allow_nonempty), written in batches, and verified, exactly as
 * `ctxd copy` does. Conversion is deterministic, so an interrupted import is finished
 * by running it again (rows already in the target are identical and skipped).
 * Must not: write to the source (it is opened with mode=ro), print (warnings and
 * progress go to the xfer_opts callback), or put an unmasked URL into a message. */
#ifndef CTXD_XFER_SCS_H
#define CTXD_XFER_SCS_H

#include <stdint.h>
#include "xfer/xfer.h"

/* What is read from SCS, in the order it is imported. */
typedef enum scs_kind {
    SCS_SESSIONS,
    SCS_MESSAGES,
    SCS_MEMORY,
    SCS_AUDIT,
    SCS_TOKENS, /* secure_tokens: read and counted, never imported */
    SCS_NKINDS
} scs_kind;

typedef struct scs_count {
    int64_t read;      /* rows in the source */
    int64_t converted; /* rows to import (in the target after a complete import) */
    int64_t warned;    /* of those, converted with a warning (see below) */
    int64_t skipped;   /* rows left out: expired, orphaned, duplicate, dropped */
} scs_count;

typedef struct scs_report {
    scs_count k[SCS_NKINDS];
    int64_t expired;        /* memory entries already expired: skipped */
    int64_t orphans;        /* messages and memory of a session the source lacks: skipped */
    int64_t duplicates;     /* memory entries whose agent, session and key a newer one has */
    int64_t tokens_dropped; /* = k[SCS_TOKENS].read */
    int scs_version;        /* the source's schema_version (0: none recorded) */
    xfer_report copy;       /* the copy of the converted rows into the target */
} scs_report;

/* "sessions", "messages", "agent_memory", "audit_log", "secure_tokens". */
const char *scs_kind_name(scs_kind k);

/* Imports the SCS database at `source` (a sqlite:// URL, or a file path) into `target`
 * (any DATABASE_URL). o: as for xfer_copy (batch, dry_run, allow_nonempty, progress;
 * verify is always done, include_tokens ignored; cancel is asked once the source is read,
 * as xfer_copy asks it: r->copy.interrupted; the target's record of the load names the
 * command "import-scs" and the source, masked). Warnings (a value converted with a
 * loss or a guess) are XFER_EV_NOTE events starting "warning: ", the first 10 of each
 * kind, then one line with how many more.
 * Errors: ERR_INVALID naming what was expected when `source` is not an SCS database
 * (a ctxd database is named as such), ERR_NOTFOUND when it does not exist, ERR_EXISTS
 * for a target holding other data (see xfer_copy), ERR_INVALID when source and target
 * are the same file. r->copy.verify_failed as xfer_copy --verify. */
err_code scs_import(const char *source, const char *target, const xfer_opts *o, scs_report *r,
                    err_t *e);

#endif
