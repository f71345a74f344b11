/* cli/cmd_migrate.c — `ctxd migrate status|up|down|to N`: shows and changes the
 * schema version of the configured database through the store's lifecycle calls
 * (store.h), the same on every backend (where migrations only go up, down and to
 * are refused as a usage error).
 * Must not: run SQL of its own or know which backend it talks to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "store/store.h"

static void migrate_usage(FILE *f)
{
    fputs("Usage: ctxd migrate <status|up|down|to N>\n"
          "\n"
          "  status    list every migration this ctxd knows, whether it is applied, when,\n"
          "            and whether its checksum still matches\n"
          "  up        apply every pending migration (each in its own transaction)\n"
          "  down      revert the newest applied migration\n"
          "  to N      migrate up or down to exactly version N (0 = empty schema)\n"
          "\n"
          "A database newer than this binary, or an applied migration whose file was\n"
          "edited, is refused before anything changes. Concurrent runs are serialised by\n"
          "a lock, so two processes starting at once migrate once.\n"
          "The database is the one `ctxd db url` shows.\n",
          f);
}

static int print_status(cli_ctx *ctx, store_t *st)
{
    store_schema s;
    err_t e;
    if (store_schema_status(st, &s, &e) != ERR_OK)
        return cli_fail("migrate status", &e);
    printf("database:       %s (%s)\n", store_url_masked(st), ctx->url_origin);
    printf("schema version: %d (this ctxd knows %d)\n", s.current, s.latest);
    int problems = 0;
    for (size_t i = 0; i < s.n; i++) {
        const store_migration *m = &s.v[i];
        char when[UTC_ISO_LEN] = "";
        if (m->applied)
            utc_format(m->applied_at, when);
        const char *state = !m->applied            ? "pending"
                            : !m->known            ? "applied, UNKNOWN to this ctxd"
                            : m->checksum_mismatch ? "applied, CHECKSUM MISMATCH"
                                                   : "applied";
        if (m->applied && (!m->known || m->checksum_mismatch))
            problems++;
        printf("  %04d  %-24s %-32s %s\n", m->version, m->name, state, when);
    }
    if (s.db_newest > s.latest) {
        printf("the database is newer than this ctxd: upgrade ctxd before using it\n");
        problems++;
    } else if (s.current < s.latest) {
        printf("pending: run `ctxd migrate up`\n");
    } else if (!problems) {
        printf("up to date\n");
    }
    store_schema_clear(&s);
    return problems ? CLI_FAIL : CLI_OK;
}

/* up, down or to `target` on an open store. */
static int migrate_run(store_t *st, const char *sub, long target)
{
    err_t e;
    store_schema s;
    if (store_schema_status(st, &s, &e) != ERR_OK)
        return cli_fail(sub, &e);
    int cur = s.current, latest = s.latest, changed = 0, rc = CLI_OK;
    const char *up_only = s.up_only;
    store_schema_clear(&s);
    if (strcmp(sub, "up") == 0) {
        if (store_migrate_up(st, &changed, &e) != ERR_OK)
            return cli_fail("migrate up", &e);
        printf("applied %d migration(s); schema is at version %d\n", changed, latest);
    } else if (up_only) {
        cli_error("migrate %s: %s (use `ctxd migrate status` or `ctxd migrate up`)", sub, up_only);
        rc = CLI_USAGE;
    } else if (strcmp(sub, "down") == 0) {
        if (cur == 0)
            printf("nothing to revert: schema is at version 0\n");
        else if (store_migrate_to(st, cur - 1, &changed, &e) != ERR_OK)
            rc = cli_fail("migrate down", &e);
        else
            printf("reverted %d migration(s); schema is at version %d\n", changed, cur - 1);
    } else if (store_migrate_to(st, (int)target, &changed, &e) != ERR_OK) {
        rc = cli_fail("migrate to", &e);
    } else {
        printf("%d migration(s) run; schema is at version %ld\n", changed, target);
    }
    return rc;
}

int cmd_migrate(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        migrate_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    long target = -1;
    if (strcmp(sub, "to") == 0) {
        if (argc != 3 || !str_to_long(argv[2], 0, 9999, &target)) {
            cli_error("migrate to: expected a version number 0..9999, e.g. `ctxd migrate to 1`");
            return CLI_USAGE;
        }
    } else if (strcmp(sub, "status") != 0 && strcmp(sub, "up") != 0 && strcmp(sub, "down") != 0) {
        cli_error("migrate: unknown subcommand '%s' (status, up, down, to N)", sub);
        return CLI_USAGE;
    } else if (argc > 2) {
        if (cli_is_help(argv[2])) {
            migrate_usage(stdout);
            return CLI_OK;
        }
        cli_error("migrate %s: unexpected argument '%s'", sub, argv[2]);
        return CLI_USAGE;
    }

    store_t *st = NULL;
    int rc = cli_open_store(ctx, STORE_OPEN_ANY, &st); /* prints its own error */
    if (rc != CLI_OK)
        return rc;
    rc = strcmp(sub, "status") == 0 ? print_status(ctx, st) : migrate_run(st, sub, target);
    store_close(st);
    return rc;
}
