/* xfer/xfer.h — moving data between databases: `copy` (database to database),
 * `export` (database to a portable JSON Lines dump) and `import` (dump to
 * database), with per-table row counts and SHA-256 checksums of canonical rows
 * (store_row_canonical) to verify them. Works on any store (store.h); migrates
 * the target through it (store_migrate_up). Progress is reported through a callback so the
 * caller decides how to show it.
 * Must not: print anything itself, know a backend's SQL, or print a password
 * (URLs in messages are masked).
 *
 * The dump format (format "ctxd-export", version 1), one JSON object per line:
 *   line 1   {"format":"ctxd-export","format_version":1,"ctxd_version":"0.1.0",
 *             "schema_version":1,"source_backend":"sqlite","exported_at":"...Z"}
 *            (schema_version: the source's, on its backend; source_backend:
 *            store_stats.backend)
 *   rows     {"table":"sessions","row":{...canonical row...}}   in foreign-key order
 *   last     {"end":"ctxd-export","rows":N,"tables":{"sessions":{"rows":n,"sha256":"hex"},...}}
 * A table's checksum is SHA-256 over its canonical rows in order, each followed by
 * "\n" (so an empty table has the SHA-256 of nothing).
 *
 * Protected tokens (secure_tokens) stay behind unless xfer_opts.include_tokens: export
 * writes none of them (its trailer counts 0) and copy writes none (its verification passes
 * over them); revoked token ids (revoked_jtis) always move, so a revoked JWT stays revoked.
 * Dumps of an older schema import into this one: before schema version 3 a session had
 * no "access" (it reads as open, null) and agent_credentials did not exist; the
 * secure_tokens rows of such a dump held tokens in clear and are not imported
 * (xfer_report.legacy_tokens counts them: their agents authenticate again).
 *
 * Unfinished loads: before copy or import writes its first row it records the load in the
 * target (store_load_mark: command, source, time) and it removes the record when every row
 * is written, the sequences moved on and the verification done (whatever it found: running
 * again would change nothing). A load that stopped for any reason leaves the record, which
 * `ctxd db check` and `ctxd serve` report; running the same load again finishes the job
 * and removes it.
 * Interruption: o->cancel is asked at batch boundaries only, so every batch is one whole
 * transaction in the target. When it says stop, the load returns ERR_OK with
 * r->interrupted (sequences moved on, no verification, the record left in place). xfer
 * handles no signals: the caller's cancel reads its own flag. */
#ifndef CTXD_XFER_XFER_H
#define CTXD_XFER_XFER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "base/conf.h"
#include "base/err.h"
#include "store/store.h"

#define XFER_FORMAT "ctxd-export"
#define XFER_FORMAT_VERSION 1
#define XFER_MAX_TABLES 16
#define XFER_DEFAULT_BATCH 1000

/* Row count and checksum of one table. */
typedef struct xfer_sum {
    const char *table; /* static (store_tables()) */
    int64_t rows;
    char sha256[65]; /* lowercase hex */
} xfer_sum;

typedef struct xfer_sums {
    xfer_sum t[XFER_MAX_TABLES];
    size_t n; /* = the number of store_tables(), in that order */
} xfer_sums;

/* Checksums of every table of a store (one iterate snapshot). */
err_code xfer_checksums(store_t *st, xfer_sums *out, err_t *e);

typedef enum xfer_ev_kind {
    XFER_EV_TABLE_BEGIN, /* table, total (rows to process) */
    XFER_EV_ROWS,        /* table, done, total, inserted so far: after each batch */
    XFER_EV_TABLE_END,   /* table, done, total, inserted */
    XFER_EV_NOTE         /* text: one line for the user (migration applied, ...) */
} xfer_ev_kind;

typedef struct xfer_event {
    xfer_ev_kind kind;
    const char *table;
    int64_t done, total, inserted;
    const char *text;
} xfer_event;

typedef void (*xfer_progress_fn)(void *ud, const xfer_event *ev);

typedef struct xfer_opts {
    const conf_t *conf; /* pool / driver options (DB_*); may be NULL */
    int batch;          /* rows per transaction; <= 0: XFER_DEFAULT_BATCH */
    bool dry_run;       /* copy: report only, write nothing (no migration) */
    bool verify;        /* copy: compare counts and checksums at the end */
    /* Proceed although the target holds rows that are not identical to rows
     * of the source (see xfer_copy). */
    bool allow_nonempty;
    bool include_tokens;       /* copy, export: carry secure_tokens too (see the top) */
    const char *ctxd_version;  /* for the dump header; NULL = "unknown" */
    xfer_progress_fn progress; /* may be NULL */
    void *progress_ud;
    /* copy, import: asked before each batch is written (and now and then while a dump is
     * checked); true stops there (see "Interruption" below). NULL: never. */
    bool (*cancel)(void *ud);
    void *cancel_ud;
    /* The record of the load in the target (store_load_mark): the command it names
     * (NULL: "copy" / "import") and its source (NULL: the source URL masked / the dump's
     * name). */
    const char *load_command;
    const char *load_source;
} xfer_opts;

typedef struct xfer_table_report {
    const char *table;
    int64_t source_rows;   /* rows in the source (database or dump) */
    int64_t target_before; /* rows the target held before (-1: unknown, dry run) */
    int64_t present;       /* source rows already in the target, identical */
    int64_t foreign;       /* target rows not identical to any source row */
    int64_t inserted;      /* rows written (dry run: that would be written) */
    int64_t left_out;      /* copy, export: source rows not carried (protected tokens
                              without include_tokens); not in source_rows of an export */
    /* verification (copy --verify, import) */
    bool verified;
    bool differs;
    xfer_sum src, dst;
} xfer_table_report;

typedef struct xfer_report {
    xfer_table_report t[XFER_MAX_TABLES];
    size_t n;
    int schema_before; /* target schema version before (0 = empty) */
    int schema_after;  /* after the migration (dry run: would be) */
    bool target_had_rows;
    bool target_foreign;     /* some target rows are not identical to source rows */
    bool verify_failed;      /* some table differs (copy --verify, import) */
    char source_backend[32]; /* import: the dump header's source_backend */
    int64_t legacy_tokens;   /* import: clear protected tokens of an old dump, not imported */
    /* o->cancel said stop (ERR_OK returned): the target holds the whole batches written
     * before, rows_done source rows of them; stopped_table: the table being written then
     * (NULL: stopped before anything was written, and nothing was recorded). */
    bool interrupted;
    const char *stopped_table;
    int64_t rows_done;
} xfer_report;

/* Copies every table of `from_url` into `to_url`.
 * - The source must be at this binary's schema version; the target is migrated
 *   up (refused when newer than the binary).
 * - The target may be empty, or hold only rows identical (canonical text) to rows
 *   of the source — what an interrupted copy leaves; such rows are skipped.
 *   Any other row in the target makes it "non-empty" and the copy is refused
 *   (ERR_EXISTS, nothing written) unless allow_nonempty: then rows whose key
 *   already exists in the target are kept as the target has them.
 * - Rows go in foreign-key order, `batch` rows per transaction, keeping ids,
 *   times, JSON and flags; sequences then continue after the copied ids.
 * - verify: counts and checksums of both sides per table; a difference sets
 *   r->verify_failed (and differs on the table) and returns ERR_OK; the caller
 *   decides the exit status.
 * - dry_run: fills the report (what would be copied, r->target_foreign when the
 *   copy would be refused) and writes nothing. */
err_code xfer_copy(const char *from_url, const char *to_url, const xfer_opts *o, xfer_report *r,
                   err_t *e);

/* Writes a dump of the database at `url` to `out` (see the top of this file). */
err_code xfer_export(const char *url, const xfer_opts *o, FILE *out, xfer_report *r, err_t *e);

/* Imports the dump `in` (seekable: it is read twice; `name` for messages) into
 * the database at `url`: checks the whole file first (header, every row, the
 * trailer's counts and checksums; errors name the line, nothing is written),
 * migrates the target, applies the same non-empty rule as xfer_copy, inserts in
 * batches skipping existing keys, moves sequences on, and compares the target's
 * counts and checksums with the trailer (r->verify_failed when they differ;
 * skipped when the target held other rows). */
err_code xfer_import(const char *url, FILE *in, const char *name, const xfer_opts *o,
                     xfer_report *r, err_t *e);

#endif
