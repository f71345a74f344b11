/* cli/cmd_agent.c — `ctxd agent add|list|revoke|rotate`: each agent's own credential. A
 * key (auth_agent_key_new) is bound to one agent id, type and permissions, printed once
 * on stdout and kept in the database only as its digest; list shows the agents, never a
 * key. add, revoke and rotate also delete the agent's protected tokens, so identities
 * issued before stop working (a running server on the same database notices within its
 * token cache's lifetime, AUTH_TOKCACHE_TTL_S), and each change is audited.
 * Must not: print or log a key other than the one just issued, or a digest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/utc.h"
#include "cli/cli.h"
#include "store/store.h"

static void agent_usage(FILE *f)
{
    fputs("Usage: ctxd agent add NAME --type T [--permissions P]\n"
          "       ctxd agent list [--json]\n"
          "       ctxd agent revoke NAME\n"
          "       ctxd agent rotate NAME\n"
          "\n"
          "Gives agents credentials of their own, so that no agent can claim another's\n"
          "identity. A key is bound to one agent id, agent type and set of permissions;\n"
          "over HTTP the agent presents it as X-API-Key to authenticate_agent and gets\n"
          "exactly that identity (asking for another agent_id, another agent_type or more\n"
          "permissions is refused and audited). Once an agent has a credential (even a\n"
          "revoked one), the shared API_KEY can no longer claim its agent id.\n"
          "\n"
          "  add NAME --type T [--permissions P]\n"
          "           issue NAME's key and print it (stdout, once: only its SHA-256 digest\n"
          "           is stored). P: read, write, admin, debug separated by commas;\n"
          "           default: what type T may hold under the permission map\n"
          "           (PERMISSIONS_CONFIG_FILE). A login gets at most what the type allows.\n"
          "  list     the agents with a credential: id, type, permissions, active or\n"
          "           revoked, when created and last changed (--json: as JSON); no key\n"
          "  revoke NAME\n"
          "           the key stops working at the agent's next login\n"
          "  rotate NAME\n"
          "           print a new key for NAME; the old one stops working (a revoked\n"
          "           credential becomes active again with the new key)\n"
          "\n"
          "add, revoke and rotate also end the agent's current logins (its protected\n"
          "tokens are deleted; a running server stops accepting them within 30 seconds)\n"
          "and write an audit record. Run them against the server's database (`ctxd db\n"
          "url`), at its current schema version (`ctxd migrate up`).\n",
          f);
}

/* The audit metadata of a change made here. */
static char *change_meta(const char *type, const char *perms)
{
    json_t *m = json_pack("{s:s}", "by", "ctxd agent");
    if (type)
        json_object_set_new(m, "agent_type", json_string(type));
    if (perms)
        json_object_set_new(m, "permissions", json_string(perms));
    char *t = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return t;
}

/* Ends the agent's current logins (its protected tokens); a failure is reported, not
 * fatal: the credential change itself is done. */
static void end_logins(store_t *st, const char *name)
{
    int64_t n = 0;
    err_t e;
    if (store_token_delete_agent(st, name, &n, &e) != ERR_OK)
        cli_error("agent %s: its current logins could not be ended: %s", name, e.msg);
    else if (n > 0)
        fprintf(stderr, "ctxd: ended %lld current login(s) of agent %s\n", (long long)n, name);
}

/* Prints a key just issued: alone on stdout (for scripts), what to do with it on stderr. */
static void print_key(const char *name, const char *type, const char *perms, const char *key)
{
    fprintf(stderr,
            "ctxd: agent %s (type %s, permissions %s): its key follows. Keep it now: ctxd stores\n"
            "only a digest and cannot show it again. The agent presents it as X-API-Key.\n",
            name, type, *perms ? perms : "none");
    printf("%s\n", key);
    fflush(stdout);
}

static bool name_ok(const char *sub, const char *name)
{
    if (!name) {
        cli_error("agent %s: expected the agent id (see ctxd agent --help)", sub);
        return false;
    }
    if (!auth_valid_agent_id(name)) {
        cli_error("agent %s: '%.60s' is not an agent id (1..%d characters without control "
                  "characters)",
                  sub, name, AUTH_AGENT_ID_MAX);
        return false;
    }
    return true;
}

static int agent_add(store_t *st, const conf_t *conf, const char *name, const char *type,
                     const char *perms_arg)
{
    if (!type) {
        cli_error("agent add: --type T is required (claude, gemini, codex, cursor, copilot, ..., "
                  "admin; see docs/mcp-interface.md)");
        return CLI_USAGE;
    }
    if (!auth_valid_agent_type(type)) {
        cli_error("agent add: --type: '%.60s' is not an agent type (1..%d characters without "
                  "control characters)",
                  type, AUTH_AGENT_TYPE_MAX);
        return CLI_USAGE;
    }
    err_t e;
    auth_permmap *pm = NULL;
    if (auth_permmap_from_conf(conf, &pm, &e) != ERR_OK)
        return cli_fail("agent add: permission map", &e);
    auth_perms allowed = auth_permmap_lookup(pm, type), p = allowed;
    auth_permmap_free(pm);
    if (perms_arg && auth_perms_parse_list(perms_arg, &p, &e) != ERR_OK) {
        cli_error("agent add: --permissions: %s", e.msg);
        return CLI_USAGE;
    }
    char perms[64], cap[64];
    auth_perms_format(p, perms, sizeof perms);
    if (p & ~allowed)
        cli_error("agent add: note: type %s may hold only %s under the permission map: its "
                  "logins get no more than that",
                  type, *auth_perms_format(allowed, cap, sizeof cap) ? cap : "nothing");
    char key[AUTH_AGENT_KEY_LEN], digest[AUTH_DIGEST_HEX];
    auth_agent_key_new(key, digest);
    char *meta = change_meta(type, perms);
    store_cred c = {.agent_id = (char *)name,
                    .agent_type = (char *)type,
                    .permissions = perms,
                    .key_hash = digest};
    store_audit_in au = {.agent_id = name, .metadata = meta};
    err_code rc = store_cred_add(st, &c, &au, &e);
    free(meta);
    if (rc == ERR_UNIQUE) {
        cli_error("agent add: agent %s already has a credential (ctxd agent rotate %s issues a "
                  "new key)",
                  name, name);
        return CLI_FAIL;
    }
    if (rc != ERR_OK)
        return cli_fail("agent add", &e);
    end_logins(st, name);
    print_key(name, type, perms, key);
    memset(key, 0, sizeof key);
    return CLI_OK;
}

static int agent_rotate(store_t *st, const char *name)
{
    err_t e;
    store_cred have;
    if (store_cred_get(st, name, &have, &e) != ERR_OK)
        return cli_fail("agent rotate", &e);
    char key[AUTH_AGENT_KEY_LEN], digest[AUTH_DIGEST_HEX];
    auth_agent_key_new(key, digest);
    char *meta = change_meta(NULL, NULL);
    store_audit_in au = {.agent_id = name, .metadata = meta};
    err_code rc = store_cred_rekey(st, name, digest, 0, &au, &e);
    free(meta);
    if (rc == ERR_OK) {
        end_logins(st, name);
        print_key(name, have.agent_type, have.permissions, key);
    }
    memset(key, 0, sizeof key);
    store_cred_clear(&have);
    return rc == ERR_OK ? CLI_OK : cli_fail("agent rotate", &e);
}

static int agent_revoke(store_t *st, const char *name)
{
    err_t e;
    bool changed = false;
    char *meta = change_meta(NULL, NULL);
    store_audit_in au = {.agent_id = name, .metadata = meta};
    err_code rc = store_cred_revoke(st, name, 0, &au, &changed, &e);
    free(meta);
    if (rc != ERR_OK)
        return cli_fail("agent revoke", &e);
    end_logins(st, name);
    printf(changed ? "agent %s: credential revoked\n" : "agent %s: credential already revoked\n",
           name);
    return CLI_OK;
}

static int agent_list(store_t *st, bool as_json)
{
    err_t e;
    store_creds l;
    if (store_cred_list(st, &l, &e) != ERR_OK)
        return cli_fail("agent list", &e);
    json_t *arr = json_array();
    char c[UTC_ISO_LEN], u[UTC_ISO_LEN];
    if (!as_json && l.n)
        printf("%-24s %-12s %-26s %-8s %-28s %s\n", "AGENT", "TYPE", "PERMISSIONS", "STATE",
               "CREATED", "CHANGED");
    for (size_t i = 0; i < l.n; i++) {
        const store_cred *x = &l.v[i];
        const char *state = x->revoked_at ? "revoked" : "active";
        utc_format(x->created_at, c);
        utc_format(x->updated_at, u);
        if (as_json)
            json_array_append_new(arr, json_pack("{s:s s:s s:s s:s s:s s:s}", "agent_id",
                                                 x->agent_id, "agent_type", x->agent_type,
                                                 "permissions", x->permissions, "state", state,
                                                 "created_at", c, "updated_at", u));
        else
            printf("%-24s %-12s %-26s %-8s %-28s %s\n", x->agent_id, x->agent_type,
                   *x->permissions ? x->permissions : "-", state, c, u);
    }
    if (as_json) {
        char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    } else if (!l.n) {
        printf("no agent has a credential (ctxd agent add NAME --type T)\n");
    }
    json_decref(arr);
    store_creds_free(&l);
    return CLI_OK;
}

int cmd_agent(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        agent_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1], *name = NULL, *type = NULL, *perms = NULL;
    bool as_json = false;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "agent %s", sub);
    int rc;
    if (strcmp(sub, "add") == 0) {
        const cli_opt opts[] = {{.name = "--type", .text = &type},
                                {.name = "--permissions", .text = &perms}};
        rc = cli_parse_args(cmd, argc - 1, argv + 1, opts, 2, &name, 1, agent_usage);
    } else if (strcmp(sub, "list") == 0) {
        const cli_opt opts[] = {{.name = "--json", .flag = &as_json}};
        rc = cli_parse_args(cmd, argc - 1, argv + 1, opts, 1, NULL, 0, agent_usage);
    } else if (strcmp(sub, "revoke") == 0 || strcmp(sub, "rotate") == 0) {
        rc = cli_parse_args(cmd, argc - 1, argv + 1, NULL, 0, &name, 1, agent_usage);
    } else {
        cli_error("agent: unknown subcommand '%s' (add, list, revoke, rotate; see ctxd agent "
                  "--help)",
                  sub);
        return CLI_USAGE;
    }
    if (rc != CLI_RUN)
        return rc;
    if (strcmp(sub, "list") != 0 && !name_ok(sub, name))
        return CLI_USAGE;
    store_t *st = NULL;
    if ((rc = cli_open_store(ctx, STORE_OPEN_CHECK, &st)) != CLI_OK)
        return rc;
    if (strcmp(sub, "add") == 0)
        rc = agent_add(st, ctx->conf, name, type, perms);
    else if (strcmp(sub, "list") == 0)
        rc = agent_list(st, as_json);
    else if (strcmp(sub, "revoke") == 0)
        rc = agent_revoke(st, name);
    else
        rc = agent_rotate(st, name);
    store_close(st);
    return rc;
}
