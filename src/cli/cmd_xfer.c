/* cli/cmd_xfer.c — `ctxd copy`, `ctxd export` and `ctxd import`: option parsing,
 * the progress display (a bar on a terminal, a line per table otherwise, both on
 * stderr), the summaries, and SIGINT/SIGTERM during copy, import and import-scs (a flag
 * xfer's cancel callback reads: the load stops at a batch boundary), over xfer/.
 * Must not: move data itself (xfer/ does), or print an unmasked URL. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "db/url.h"
#include "xfer/xfer.h"

static void copy_usage(FILE *f)
{
    fputs("Usage: ctxd copy --from URL --to URL [--batch N] [--dry-run] [--verify]\n"
          "                 [--allow-nonempty] [--include-tokens]\n"
          "\n"
          "Copies every table (sessions, messages, agent memory, audit log, revoked token\n"
          "ids, agent credentials; protected tokens only with --include-tokens) from one\n"
          "database to another, e.g. SQLite to PostgreSQL:\n"
          "  ctxd copy --from sqlite:///./chat_history.db \\\n"
          "            --to postgresql://ctxd:secret@db.example.com:5432/ctxd --verify\n"
          "\n"
          "URLs take the same forms as DATABASE_URL (sqlite://, postgresql://, mysql://,\n"
          "mariadb://, mongodb://, with driver suffixes and ?options); passwords are\n"
          "never printed.\n"
          "The source must be at this ctxd's schema version; the target is migrated up\n"
          "first (a target newer than this ctxd is refused). Rows are copied in\n"
          "foreign-key order, N per transaction, keeping ids, timestamps, JSON values\n"
          "and flags; afterwards new ids on the target continue after the copied ones.\n"
          "\n"
          "  --from URL         the database to read (not changed)\n"
          "  --to URL           the database to write\n"
          "  --batch N          rows per transaction (default 1000)\n"
          "  --dry-run          report what would be copied (rows per table) and whether the\n"
          "                     target would be refused; write nothing (not even the schema)\n"
          "  --verify           afterwards compare row counts and a SHA-256 checksum of the\n"
          "                     canonical rows of every table; exit 1 naming any table\n"
          "                     that differs\n"
          "  --allow-nonempty   copy even though the target holds other data (see below)\n"
          "  --include-tokens   copy the protected tokens too (digests: a token issued by the\n"
          "                     source works on the target only with the same\n"
          "                     JWT_SECRET_KEY); by default they stay behind, --verify\n"
          "                     passes over them, and agents authenticate again\n"
          "\n"
          "Non-empty targets: a target is accepted when every row it holds is identical\n"
          "(same key, same canonical content) to a row of the source — what an\n"
          "interrupted copy leaves behind. Re-running the same command then finishes the\n"
          "job: rows already present are skipped, nothing is duplicated. A target holding\n"
          "any other row is refused (exit 1, nothing written) unless --allow-nonempty:\n"
          "then the data are merged, and a source row whose key already exists in the\n"
          "target is skipped (the target's version is kept), so --verify will report the\n"
          "tables that differ.\n"
          "\n"
          "Progress goes to stderr: a bar on a terminal, one line per table otherwise.\n"
          "Ctrl-C (SIGINT) or SIGTERM stops after the batch being written (a second\n"
          "Ctrl-C at once); until the copy has finished, the target records that it is\n"
          "unfinished (`ctxd db check` warns) and running the same command finishes it.\n"
          "Exit status: 0 done (and verified), 1 failed, refused or verification found\n"
          "a difference, 2 bad command line, 130 (SIGINT) or 143 (SIGTERM) interrupted.\n",
          f);
}

static void export_usage(FILE *f)
{
    fputs("Usage: ctxd export [--out FILE] [--include-tokens]\n"
          "\n"
          "Writes every table of the configured database (`ctxd db url`) as a portable\n"
          "JSON Lines dump to FILE (written to FILE.tmp-PID, renamed when complete, mode\n"
          "0600) or to stdout. The dump is the backup format for every backend:\n"
          "  line 1   {\"format\":\"ctxd-export\",\"format_version\":1,\"ctxd_version\":...,\n"
          "            \"schema_version\":N,\"source_backend\":...,\"exported_at\":...}\n"
          "  rows     {\"table\":\"sessions\",\"row\":{...}} in foreign-key order, each row\n"
          "           canonical (sorted keys, UTC times to the microsecond, JSON values)\n"
          "  last     {\"end\":\"ctxd-export\",\"rows\":N,\"tables\":{\"<table>\":{\"rows\":n,\n"
          "            \"sha256\":...}}}: counts and checksums, so truncation is detected\n"
          "Equal data give byte-identical row lines on every backend.\n"
          "Protected tokens (secure_tokens) are left out unless --include-tokens (their\n"
          "trailer entry then counts 0 rows; agents authenticate again after a restore).\n"
          "Agent credentials are kept as digests of their keys, revoked token ids as ids:\n"
          "neither can be used to log in.\n"
          "  --out FILE         where to write (- or none: stdout)\n"
          "  --include-tokens   include the protected tokens (digests, usable only with\n"
          "                     the same JWT_SECRET_KEY, until they expire)\n",
          f);
}

static void import_usage(FILE *f)
{
    fputs("Usage: ctxd import FILE [--batch N] [--allow-nonempty]\n"
          "\n"
          "Loads a dump written by `ctxd export` (FILE, or - for stdin) into the\n"
          "configured database (`ctxd db url`). The whole file is checked first (the\n"
          "header, every row, the trailer's counts and checksums); an error names the\n"
          "line and nothing is written. A dump whose schema version is newer than this\n"
          "ctxd is refused. The database is migrated up, rows are inserted N per\n"
          "transaction (default 1000) keeping ids and times, rows whose key already\n"
          "exists are skipped (so an interrupted import can simply be run again), and\n"
          "the database's counts and checksums are compared with the dump at the end.\n"
          "The same rule as `ctxd copy` applies to a non-empty database: only rows\n"
          "identical to rows of the dump are accepted unless --allow-nonempty.\n"
          "Dumps of an older schema version are brought to this one: their sessions are\n"
          "open, and their protected tokens (kept in clear before schema version 3) are\n"
          "not imported (a note says how many; their agents authenticate again).\n"
          "Ctrl-C and SIGTERM stop it as they stop `ctxd copy` (see ctxd copy --help).\n"
          "Exit status: 0 imported (and verified), 1 failed, refused or a table differs,\n"
          "2 bad command line, 130 (SIGINT) or 143 (SIGTERM) interrupted.\n",
          f);
}

/* ---- interruption ------------------------------------------------------------------------ */

static volatile sig_atomic_t g_signal; /* the first SIGINT / SIGTERM caught */
static struct sigaction g_default;     /* SIG_DFL, for the handler to restore */
static bool g_tty;                     /* stderr is a terminal: the bar may be showing */
/* Tests only: CTXD_TEST_INTERRUPT_AFTER_BATCHES=N raises SIGINT after the N-th batch's
 * progress event, so an interruption lands at a known place without timing. */
static long g_interrupt_after, g_batches;

static void on_signal(int sig)
{
    g_signal = sig;
    sigaction(SIGINT, &g_default, NULL); /* a second signal: stop at once */
    sigaction(SIGTERM, &g_default, NULL);
    static const char msg[] = "ctxd: stopping after the batch being written (press Ctrl-C "
                              "again to stop at once)\n";
    if (g_tty)
        (void)!write(STDERR_FILENO, "\r\033[K", 4);
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

static bool cancel_asked(void *ud)
{
    (void)ud;
    return g_signal != 0;
}

void cli_xfer_signals_catch(xfer_opts *o)
{
    g_default.sa_handler = SIG_DFL;
    sigemptyset(&g_default.sa_mask);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    g_tty = isatty(STDERR_FILENO) == 1;
    g_signal = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o->cancel = cancel_asked;
    const char *n = getenv("CTXD_TEST_INTERRUPT_AFTER_BATCHES");
    g_interrupt_after = n ? strtol(n, NULL, 10) : 0;
    g_batches = 0;
}

int cli_xfer_signals_done(const xfer_report *r)
{
    sigaction(SIGINT, &g_default, NULL);
    sigaction(SIGTERM, &g_default, NULL);
    if (!r->interrupted)
        return CLI_RUN;
    if (r->stopped_table)
        cli_error("interrupted after %lld rows (table %s); run the same command again to finish",
                  (long long)r->rows_done, r->stopped_table);
    else
        cli_error("interrupted before any row was written; run the same command again to do it");
    return 128 + (g_signal ? (int)g_signal : SIGINT);
}

/* ---- progress --------------------------------------------------------------------------- */

typedef cli_xfer_progress_state progress;

void cli_xfer_progress(void *ud, const xfer_event *ev)
{
    progress *p = ud;
    switch (ev->kind) {
    case XFER_EV_NOTE: fprintf(stderr, "ctxd: %s\n", ev->text); break;
    case XFER_EV_TABLE_BEGIN:
    case XFER_EV_ROWS:
        if (ev->kind == XFER_EV_ROWS && g_interrupt_after > 0 && ++g_batches == g_interrupt_after)
            raise(SIGINT);
        if (p->tty) {
            enum {
                W = 30
            };
            int64_t total = ev->total > 0 ? ev->total : 1;
            int64_t done = ev->done > total ? total : ev->done;
            int fill = (int)(done * W / total);
            char bar[W + 1];
            for (int i = 0; i < W; i++)
                bar[i] = i < fill ? '#' : '.';
            bar[W] = 0;
            fprintf(stderr, "\r  %-14s [%s] %lld/%lld", ev->table, bar, (long long)ev->done,
                    (long long)ev->total);
            fflush(stderr);
        }
        break;
    case XFER_EV_TABLE_END:
        if (p->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "  %-14s %lld row(s), %lld %s\n", ev->table, (long long)ev->done,
                (long long)ev->inserted, p->verb);
        break;
    }
}

/* ---- option helpers --------------------------------------------------------------------------- */

/* --batch N of copy and import: rows per transaction */
static cli_opt batch_opt(long *n)
{
    return (cli_opt){
        .name = "--batch", .num = n, .min = 1, .max = 1000000, .what = "a number of rows"};
}

/* The line about protected tokens a copy or export left behind (nothing when none). */
static void print_left_out(const xfer_report *r, FILE *f, const char *what)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].left_out > 0)
            fprintf(
                f, "%s: %lld protected token(s) (%s) left out (pass --include-tokens to %s them)\n",
                what, (long long)r->t[i].left_out, r->t[i].table, what);
}

void cli_xfer_print_verify(const xfer_report *r, FILE *f)
{
    for (size_t i = 0; i < r->n; i++) {
        const xfer_table_report *t = &r->t[i];
        if (!t->verified)
            continue;
        if (!t->differs)
            fprintf(f, "verify: %-14s ok      %lld row(s), sha256 %.16s\n", t->table,
                    (long long)t->src.rows, t->src.sha256);
        else
            fprintf(f,
                    "verify: %-14s DIFFERS source %lld row(s) sha256 %.16s, target %lld "
                    "row(s) sha256 %.16s\n",
                    t->table, (long long)t->src.rows, t->src.sha256, (long long)t->dst.rows,
                    t->dst.sha256);
    }
}

int cli_xfer_verify_status(const xfer_report *r, const char *what)
{
    if (!r->verify_failed)
        return CLI_OK;
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].differs)
            cli_error("%s: verification failed: table %s differs (%lld vs %lld rows)", what,
                      r->t[i].table, (long long)r->t[i].src.rows, (long long)r->t[i].dst.rows);
    return CLI_FAIL;
}

/* ---- copy ------------------------------------------------------------------------------------- */

int cmd_copy(cli_ctx *ctx, int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    long batch = 0;
    xfer_opts o = {.conf = ctx->conf, .ctxd_version = CTXD_VERSION};
    const cli_opt opts[] = {
        {.name = "--from", .text = &from},
        {.name = "--to", .text = &to},
        batch_opt(&batch),
        {.name = "--dry-run", .flag = &o.dry_run},
        {.name = "--verify", .flag = &o.verify},
        {.name = "--allow-nonempty", .flag = &o.allow_nonempty},
        {.name = "--include-tokens", .flag = &o.include_tokens},
    };
    int rc =
        cli_parse_args("copy", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, copy_usage);
    if (rc != CLI_RUN)
        return rc;
    o.batch = (int)batch;
    if (!from || !to) {
        cli_error("copy needs --from URL and --to URL (see ctxd copy --help)");
        return CLI_USAGE;
    }
    progress p = {isatty(STDERR_FILENO) == 1, "copied"};
    o.progress = cli_xfer_progress;
    o.progress_ud = &p;
    char *mf = db_url_masked(from), *mt = db_url_masked(to);
    xfer_report r;
    err_t e;
    err_clear(&e);
    rc = CLI_OK;
    cli_xfer_signals_catch(&o);
    err_code ec = xfer_copy(from, to, &o, &r, &e);
    if (ec != ERR_OK)
        r.interrupted = false; /* the error is what happened */
    int stop = cli_xfer_signals_done(&r);
    if (ec != ERR_OK) {
        rc = cli_fail("copy", &e);
    } else if (stop != CLI_RUN) {
        rc = stop;
    } else if (o.dry_run) {
        printf("dry run: copy %s -> %s (nothing written)\n", mf, mt);
        if (r.schema_before < r.schema_after)
            printf("the target's schema would be migrated from version %d to %d\n", r.schema_before,
                   r.schema_after);
        if (r.schema_before > 0 && r.schema_before < r.schema_after)
            printf("(rows already in the target cannot be compared before that migration)\n");
        int64_t total = 0;
        for (size_t i = 0; i < r.n; i++) {
            printf("  %-14s %lld row(s): %lld to copy, %lld already in the target\n", r.t[i].table,
                   (long long)r.t[i].source_rows, (long long)r.t[i].inserted,
                   (long long)r.t[i].present);
            total += r.t[i].inserted;
        }
        print_left_out(&r, stdout, "copy");
        if (r.target_foreign)
            printf("the target holds other data: the copy would be refused without "
                   "--allow-nonempty\n");
        printf("%lld row(s) would be copied\n", (long long)total);
    } else {
        int64_t total = 0, skipped = 0;
        for (size_t i = 0; i < r.n; i++) {
            total += r.t[i].inserted;
            skipped += r.t[i].source_rows - r.t[i].left_out - r.t[i].inserted;
        }
        printf("copied %s -> %s: %lld row(s) written, %lld already present\n", mf, mt,
               (long long)total, (long long)(skipped > 0 ? skipped : 0));
        print_left_out(&r, stdout, "copy");
        if (o.verify) {
            cli_xfer_print_verify(&r, stdout);
            rc = cli_xfer_verify_status(&r, "copy");
        }
    }
    free(mf);
    free(mt);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------------ */

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL;
    xfer_opts o = {.conf = ctx->conf, .ctxd_version = CTXD_VERSION};
    const cli_opt opts[] = {{.name = "--out", .text = &out},
                            {.name = "--include-tokens", .flag = &o.include_tokens}};
    int rc = cli_parse_args("export", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0,
                            export_usage);
    if (rc != CLI_RUN)
        return rc;
    if ((rc = cli_resolve_url(ctx)) != CLI_OK)
        return rc;
    char *tmp = NULL;
    FILE *f = stdout;
    if (out && strcmp(out, "-") != 0) {
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%s.tmp-%ld", out, (long)getpid());
        tmp = sbuf_detach(&b);
        /* the dump holds every message and credential: owner-only, like the database */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            if (fd >= 0)
                close(fd);
            cli_error("export: cannot write %s: %s", tmp, strerror(errno));
            free(tmp);
            return CLI_FAIL;
        }
    }
    progress p = {isatty(STDERR_FILENO) == 1 && f != stdout, "exported"};
    if (f != stdout) {
        o.progress = cli_xfer_progress;
        o.progress_ud = &p;
    }
    xfer_report r;
    err_t e;
    err_clear(&e);
    err_code ec = xfer_export(ctx->url, &o, f, &r, &e);
    if (f != stdout) {
        if (fclose(f) != 0 && ec == ERR_OK)
            ec = err_set(&e, ERR_IO, "writing %s: %s", tmp, strerror(errno));
        if (ec == ERR_OK && rename(tmp, out) != 0)
            ec = err_set(&e, ERR_IO, "renaming %s to %s: %s", tmp, out, strerror(errno));
        if (ec != ERR_OK)
            unlink(tmp);
    } else if (fflush(stdout) != 0 && ec == ERR_OK) {
        ec = err_set(&e, ERR_IO, "writing to stdout: %s", strerror(errno));
    }
    free(tmp);
    if (ec != ERR_OK)
        return cli_fail("export", &e);
    if (out && strcmp(out, "-") != 0) {
        int64_t total = 0;
        for (size_t i = 0; i < r.n; i++)
            total += r.t[i].source_rows;
        fprintf(stderr, "ctxd: exported %lld row(s) to %s\n", (long long)total, out);
    }
    print_left_out(&r, stderr, "export");
    return CLI_OK;
}

/* ---- import ------------------------------------------------------------------------------------ */

/* stdin is read twice: spool it into an anonymous temporary file. */
static FILE *spool_stdin(void)
{
    FILE *t = tmpfile();
    if (!t)
        return NULL;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (fwrite(buf, 1, n, t) != n) {
            fclose(t);
            return NULL;
        }
    if (ferror(stdin) || fflush(t) != 0) {
        fclose(t);
        return NULL;
    }
    rewind(t);
    return t;
}

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL;
    long batch = 0;
    xfer_opts o = {.conf = ctx->conf, .ctxd_version = CTXD_VERSION};
    const cli_opt opts[] = {batch_opt(&batch),
                            {.name = "--allow-nonempty", .flag = &o.allow_nonempty}};
    int rc = cli_parse_args("import", argc, argv, opts, sizeof opts / sizeof opts[0], &file, 1,
                            import_usage);
    if (rc != CLI_RUN)
        return rc;
    o.batch = (int)batch;
    if (!file) {
        cli_error("import needs a FILE written by `ctxd export` (see ctxd import --help)");
        return CLI_USAGE;
    }
    if ((rc = cli_resolve_url(ctx)) != CLI_OK)
        return rc;
    bool is_stdin = strcmp(file, "-") == 0;
    cli_xfer_signals_catch(&o);
    FILE *f = is_stdin ? spool_stdin() : fopen(file, "r");
    xfer_report r = {0};
    if (!f) {
        cli_xfer_signals_done(&r);
        cli_error("import: cannot read %s: %s", is_stdin ? "stdin" : file, strerror(errno));
        return CLI_FAIL;
    }
    progress p = {isatty(STDERR_FILENO) == 1, "imported"};
    o.progress = cli_xfer_progress;
    o.progress_ud = &p;
    err_t e;
    err_clear(&e);
    err_code ec = xfer_import(ctx->url, f, is_stdin ? "stdin" : file, &o, &r, &e);
    fclose(f);
    if (ec != ERR_OK)
        r.interrupted = false; /* the error is what happened */
    if ((rc = cli_xfer_signals_done(&r)) != CLI_RUN)
        return rc;
    if (ec != ERR_OK)
        return cli_fail("import", &e);
    int64_t total = 0, present = 0;
    for (size_t i = 0; i < r.n; i++) {
        total += r.t[i].inserted;
        present += r.t[i].source_rows - r.t[i].inserted;
    }
    char *m = db_url_masked(ctx->url);
    printf("imported %s into %s: %lld row(s) written, %lld already present\n", file, m,
           (long long)total, (long long)(present > 0 ? present : 0));
    free(m);
    if (r.target_foreign) {
        printf("the database held other data: the final comparison with the dump was skipped\n");
        return CLI_OK;
    }
    cli_xfer_print_verify(&r, stdout);
    return cli_xfer_verify_status(&r, "import");
}
