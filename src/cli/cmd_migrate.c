/* cli/cmd_migrate.c — `ctxd migrate status|up|down|to N`: shows and changes the
 * schema version of the configured database using migrate/ (MongoDB: status
 * and up through the MongoDB store's own migrations).
 * Must not: run SQL of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "migrate/migrate.h"
#include "store/store_mongo.h"

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

static int print_status(cli_ctx *ctx, db_t *db)
{
    migrate_status st;
    err_t e;
    if (migrate_get_status(db, &st, &e) != ERR_OK)
        return cli_fail("migrate status", &e);
    printf("database:       %s (%s)\n", db_url_text_masked(db), ctx->url_origin);
    printf("schema version: %d (this ctxd knows up to %d)\n", st.current, st.latest);
    int problems = 0;
    for (size_t i = 0; i < st.n; i++) {
        const migrate_entry *m = &st.entries[i];
        char when[UTC_ISO_LEN] = "";
        if (m->applied)
            utc_format(m->applied_at, when);
        const char *state = !m->applied            ? "pending"
                            : !m->name             ? "applied, UNKNOWN to this ctxd"
                            : m->checksum_mismatch ? "applied, CHECKSUM MISMATCH"
                                                   : "applied";
        if (m->applied && (!m->name || m->checksum_mismatch))
            problems++;
        printf("  %04d  %-24s %-32s %s\n", m->version, m->name ? m->name : "?", state, when);
    }
    if (st.db_newest > st.latest) {
        printf("the database is newer than this ctxd: upgrade ctxd before using it\n");
        problems++;
    }
    migrate_status_free(&st);
    return problems ? CLI_FAIL : CLI_OK;
}

/* MongoDB: versioned migrations of the store (collections, indexes, counters);
 * they only go up. */
static int migrate_mongo(cli_ctx *ctx, const char *sub)
{
    if (strcmp(sub, "status") != 0 && strcmp(sub, "up") != 0) {
        cli_error("migrate %s: MongoDB migrations only go up (use `ctxd migrate status` or "
                  "`ctxd migrate up`)",
                  sub);
        return CLI_USAGE;
    }
    err_t e;
    store_t *st = NULL;
    if (store_mongo_open(ctx->url, ctx->conf, STORE_MONGO_NO_CHECK, &st, &e) != ERR_OK)
        return cli_fail("opening the database", &e);
    int rc = CLI_OK, version = 0, applied = 0;
    if (strcmp(sub, "up") == 0) {
        if (store_mongo_migrate_up(st, &applied, &e) != ERR_OK)
            rc = cli_fail("migrate up", &e);
        else
            printf("applied %d migration(s); schema is at version %d\n", applied,
                   STORE_MONGO_SCHEMA_VERSION);
    } else if (store_mongo_schema_version(st, &version, &e) != ERR_OK) {
        rc = cli_fail("migrate status", &e);
    } else {
        printf("database: %s (mongodb)\nschema version: %d (this ctxd knows %d)\n%s\n",
               store_mongo_url_masked(st), version, STORE_MONGO_SCHEMA_VERSION,
               version == STORE_MONGO_SCHEMA_VERSION  ? "up to date"
               : version > STORE_MONGO_SCHEMA_VERSION ? "newer than this ctxd: upgrade ctxd"
                                                      : "pending: run `ctxd migrate up`");
    }
    store_close(st);
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

    int urc = cli_resolve_url(ctx); /* prints its own error */
    if (urc != CLI_OK)
        return urc;
    if (str_starts_with_ci(ctx->url, "mongodb"))
        return migrate_mongo(ctx, sub);
    db_t *db = NULL;
    int rc = cli_open_db(ctx, &db);
    if (rc != CLI_OK)
        return rc;
    err_t e;
    int changed = 0;
    if (strcmp(sub, "status") == 0) {
        rc = print_status(ctx, db);
    } else if (strcmp(sub, "up") == 0) {
        if (migrate_up(db, -1, &changed, &e) != ERR_OK)
            rc = cli_fail("migrate up", &e);
        else
            printf("applied %d migration(s); schema is at version %d\n", changed,
                   migrate_latest(db_dialect(db)));
    } else if (strcmp(sub, "down") == 0) {
        migrate_status st;
        if (migrate_get_status(db, &st, &e) != ERR_OK) {
            rc = cli_fail("migrate down", &e);
        } else {
            int cur = st.current;
            migrate_status_free(&st);
            if (cur == 0) {
                printf("nothing to revert: schema is at version 0\n");
            } else if (migrate_down(db, cur - 1, &changed, &e) != ERR_OK) {
                rc = cli_fail("migrate down", &e);
            } else {
                printf("reverted %d migration(s); schema is at version %d\n", changed, cur - 1);
            }
        }
    } else {
        if (migrate_to(db, (int)target, &changed, &e) != ERR_OK)
            rc = cli_fail("migrate to", &e);
        else
            printf("%d migration(s) run; schema is at version %ld\n", changed, target);
    }
    db_close(db);
    return rc;
}
