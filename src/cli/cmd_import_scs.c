/* cli/cmd_import_scs.c — `ctxd import-scs SOURCE`: adopting a shared-context-server
 * database (its SQLite chat_history.db) into the configured ctxd database, over
 * xfer/scs.h: option parsing, the progress display (cmd_xfer.c's) and the summary of what
 * was imported, skipped, dropped and converted with a warning.
 * Must not: read or write a database itself (xfer/ does), or print an unmasked URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "db/url.h"
#include "xfer/scs.h"

static void usage(FILE *f)
{
    fputs("Usage: ctxd import-scs SOURCE [--dry-run] [--allow-nonempty] [--batch N]\n"
          "\n"
          "Imports the database of shared-context-server (the Python server ctxd replaces)\n"
          "into the configured ctxd database (`ctxd db url`: DATABASE_URL, --database-url;\n"
          "any backend). SOURCE is its SQLite file, as a path or a sqlite:/// URL, e.g.\n"
          "  ctxd --database-url sqlite:///./ctxd.db import-scs ./chat_history.db\n"
          "SOURCE is opened read-only and never changed. A file without\n"
          "shared-context-server's tables (sessions, messages, agent_memory, audit_log) is\n"
          "refused, a ctxd database too.\n"
          "\n"
          "Imported: sessions and messages with their ids, senders, visibility, metadata\n"
          "and parents; agent memory with its expiry; audit records (their action and\n"
          "result join the metadata). Times in every encoding shared-context-server stores\n"
          "(float epoch seconds, ISO-8601 with or without an offset, 'YYYY-MM-DD HH:MM:SS')\n"
          "become UTC, to the microsecond.\n"
          "Left out and counted: protected tokens (encrypted under shared-context-server's\n"
          "key: agents authenticate again), memory already expired, messages and memory of\n"
          "a session the file does not hold. Metadata that is not valid JSON is kept as\n"
          "text under \"scs_metadata\"; this and every other guess is a warning on stderr.\n"
          "\n"
          "The target is migrated, and refused when it holds other data (as `ctxd copy`).\n"
          "An interrupted import is finished by running the same command again. At the end\n"
          "the target is compared with the converted rows (counts and SHA-256 per table).\n"
          "\n"
          "  --dry-run          read and convert everything, report what would be imported\n"
          "                     (and whether the target would be refused); write nothing\n"
          "  --allow-nonempty   import into a database holding other data (rows whose key\n"
          "                     exists in it are kept as they are there)\n"
          "  --batch N          rows per transaction (default 1000)\n"
          "\n"
          "Ctrl-C and SIGTERM stop it as they stop `ctxd copy` (see ctxd copy --help).\n"
          "Exit status: 0 imported (and verified), 1 failed, refused or a table differs,\n"
          "2 bad command line, 130 (SIGINT) or 143 (SIGTERM) interrupted.\n",
          f);
}

/* Notes on a terminal start on a clean line (the bar may be showing). */
static void on_event(void *ud, const xfer_event *ev)
{
    cli_xfer_progress_state *p = ud;
    if (ev->kind == XFER_EV_NOTE && p->tty)
        fputs("\r\033[K", stderr);
    cli_xfer_progress(ud, ev);
}

static void print_kinds(const scs_report *r, bool dry)
{
    for (int k = 0; k < SCS_TOKENS; k++) {
        const scs_count *c = &r->k[k];
        printf("  %-14s %lld read, %lld %s", scs_kind_name((scs_kind)k), (long long)c->read,
               (long long)c->converted, dry ? "to import" : "imported");
        if (c->warned)
            printf(" (%lld with a warning)", (long long)c->warned);
        if (c->skipped)
            printf(", %lld skipped", (long long)c->skipped);
        putchar('\n');
    }
    printf("  %-14s %lld read, %lld dropped (agents authenticate again)\n", "secure_tokens",
           (long long)r->k[SCS_TOKENS].read, (long long)r->tokens_dropped);
    if (r->expired || r->orphans || r->duplicates)
        printf("skipped: %lld expired memory entr(y/ies), %lld row(s) of a session that is not "
               "in the source, %lld older duplicate memory entr(y/ies)\n",
               (long long)r->expired, (long long)r->orphans, (long long)r->duplicates);
}

int cmd_import_scs(cli_ctx *ctx, int argc, char **argv)
{
    const char *source = NULL;
    long batch = 0;
    xfer_opts o = {.conf = ctx->conf, .ctxd_version = CTXD_VERSION};
    const cli_opt opts[] = {
        {.name = "--batch", .num = &batch, .min = 1, .max = 1000000, .what = "a number of rows"},
        {.name = "--dry-run", .flag = &o.dry_run},
        {.name = "--allow-nonempty", .flag = &o.allow_nonempty},
    };
    int rc = cli_parse_args("import-scs", argc, argv, opts, sizeof opts / sizeof opts[0], &source,
                            1, usage);
    if (rc != CLI_RUN)
        return rc;
    o.batch = (int)batch;
    if (!source) {
        cli_error("import-scs needs SOURCE, shared-context-server's database file (see ctxd "
                  "import-scs --help)");
        return CLI_USAGE;
    }
    if ((rc = cli_resolve_url(ctx)) != CLI_OK)
        return rc;
    cli_xfer_progress_state p = {isatty(STDERR_FILENO) == 1, o.dry_run ? "to import" : "imported"};
    o.progress = on_event;
    o.progress_ud = &p;
    scs_report r;
    err_t e;
    err_clear(&e);
    cli_xfer_signals_catch(&o);
    err_code ec = scs_import(source, ctx->url, &o, &r, &e);
    if (ec != ERR_OK)
        r.copy.interrupted = false; /* the error is what happened */
    if ((rc = cli_xfer_signals_done(&r.copy)) != CLI_RUN)
        return rc;
    if (ec != ERR_OK)
        return cli_fail("import-scs", &e);
    char *ms = strstr(source, "://") ? db_url_masked(source) : NULL, *mt = db_url_masked(ctx->url);
    printf("%s shared-context-server database %s (schema version %d) into %s\n",
           o.dry_run ? "dry run: would import" : "imported", ms ? ms : source, r.scs_version, mt);
    free(ms);
    free(mt);
    print_kinds(&r, o.dry_run);
    int64_t written = 0, present = 0;
    for (size_t i = 0; i < r.copy.n; i++) {
        written += r.copy.t[i].inserted;
        present += o.dry_run ? r.copy.t[i].present : r.copy.t[i].source_rows - r.copy.t[i].inserted;
    }
    if (o.dry_run) {
        printf("target: %lld row(s) would be written, %lld already present; nothing written\n",
               (long long)written, (long long)present);
        if (r.copy.target_foreign)
            printf("the target holds other data: the import would be refused without "
                   "--allow-nonempty\n");
        return CLI_OK;
    }
    printf("target: %lld row(s) written, %lld already present\n", (long long)written,
           (long long)(present > 0 ? present : 0));
    if (r.copy.target_foreign) {
        printf("the database held other data: the final comparison was skipped\n");
        return CLI_OK;
    }
    cli_xfer_print_verify(&r.copy, stdout);
    return cli_xfer_verify_status(&r.copy, "import-scs");
}
