/* fuzz/app_fixture.c — see app_fixture.h. The store is opened over a db_t of our own
 * (store_sql_open), so a reset can empty the tables on the one :memory: connection and
 * make the starting content again through the store API; SQLite's total_changes() tells
 * whether an input wrote at all, so read-only inputs cost no reset.
 * Must not: keep anything an input changed, or hide a failure (it exits). */
#include "app_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "store/store_sql.h"

#define US INT64_C(1000000)
#define YEAR_S (INT64_C(365) * 86400)

static utc_us fixed_clock(void *ud)
{
    (void)ud;
    return FZ_NOW_S * US;
}

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "fuzz fixture: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

/* A JWT of agent/type with every permission its type allows (the harness's key). */
static char *sign(const char *agent, const char *type, auth_perms p, const char *jti)
{
    auth_identity id = {0};
    snprintf(id.agent_id, sizeof id.agent_id, "%s", agent);
    snprintf(id.agent_type, sizeof id.agent_type, "%s", type);
    snprintf(id.jti, sizeof id.jti, "%s", jti);
    id.permissions = p;
    id.issued_at = (FZ_NOW_S - 60) * US;
    id.expires_at = (FZ_NOW_S + 10 * YEAR_S) * US;
    char *t = auth_jwt_sign(FZ_JWT_SECRET, strlen(FZ_JWT_SECRET), &id);
    if (!t)
        die("signing a JWT", NULL);
    return t;
}

static void add_msg(fz_app *f, const char *sid, const char *sender, const char *type,
                    store_visibility vis, const char *content, int64_t parent, const char *meta)
{
    store_vis every = {.any = STORE_VIS_EVERY};
    store_message m = {.session_id = (char *)sid,
                       .sender = (char *)sender,
                       .sender_type = (char *)type,
                       .content = (char *)content,
                       .visibility = vis,
                       .metadata = (char *)meta,
                       .parent_id = parent,
                       .parent_vis = parent ? &every : NULL};
    err_t e;
    if (store_message_add(f->st, &m, NULL, &e) != ERR_OK)
        die("adding a message", &e);
}

static void add_mem(fz_app *f, const char *agent, const char *sid, const char *key,
                    const char *value)
{
    store_mem_set in = {.agent_id = agent,
                        .session_id = sid,
                        .key = key,
                        .value = value,
                        .overwrite = true,
                        .now = FZ_NOW_S * US};
    err_t e;
    if (store_memory_set(f->st, &in, NULL, NULL, &e) != ERR_OK)
        die("setting memory", &e);
}

static int64_t total_changes(fz_app *f)
{
    db_conn *c = NULL;
    int64_t n = 0;
    err_t e;
    if (db_acquire(f->db, DB_READ, &c, &e) != ERR_OK ||
        db_query_int64(c, "SELECT total_changes()", NULL, 0, &n, &e) != ERR_OK)
        die("reading total_changes()", &e);
    db_release(c);
    return n;
}

/* The starting content; message ids 1..6 (the sequences were reset). */
static void make_content(fz_app *f)
{
    err_t e;
    store_session a = {.id = FZ_SESSION_A,
                       .purpose = "fuzz session",
                       .created_by = "fuzz-admin",
                       .metadata = "{\"project\":\"fuzz\"}",
                       .is_active = true};
    store_session b = {
        .id = FZ_SESSION_B, .purpose = "closed session", .created_by = "fuzz-claude"};
    if (store_session_create(f->st, &a, NULL, &e) != ERR_OK ||
        store_session_create(f->st, &b, NULL, &e) != ERR_OK)
        die("creating the sessions", &e);
    add_msg(f, FZ_SESSION_A, "fuzz-claude", "claude", STORE_VIS_PUBLIC, "hello from claude", 0,
            NULL);
    add_msg(f, FZ_SESSION_A, "fuzz-claude", "claude", STORE_VIS_PRIVATE, "a private note", 0, NULL);
    add_msg(f, FZ_SESSION_A, "fuzz-gemini", "gemini", STORE_VIS_AGENT_ONLY, "for gemini agents", 0,
            NULL);
    add_msg(f, FZ_SESSION_A, "fuzz-admin", "admin", STORE_VIS_ADMIN_ONLY, "admin eyes only", 0,
            NULL);
    add_msg(f, FZ_SESSION_A, "fuzz-gemini", "gemini", STORE_VIS_PUBLIC,
            "a reply about search terms", 1, "{\"priority\":\"high\",\"n\":2}");
    add_msg(f, FZ_SESSION_B, "fuzz-claude", "claude", STORE_VIS_PUBLIC, "closed session message", 0,
            NULL);
    add_mem(f, "fuzz-admin", NULL, "config", "{\"level\":3}");
    add_mem(f, "fuzz-admin", FZ_SESSION_A, "draft", "\"text\"");
    add_mem(f, "fuzz-claude", NULL, "note", "[1,2,3]");
    /* the protected token as auth/ keeps it: its digest and the identity */
    char digest[AUTH_DIGEST_HEX];
    auth_token_digest(f->auth, FZ_SCT_CLAUDE, strlen(FZ_SCT_CLAUDE), digest);
    store_token t = {.token_hash = digest,
                     .agent_id = "fuzz-claude",
                     .agent_type = "claude",
                     .permissions = "read,write",
                     .jti = "00000000-0000-4000-8000-000000000003",
                     .created_at = FZ_NOW_S * US,
                     .expires_at = (FZ_NOW_S + 10 * YEAR_S) * US};
    if (store_token_put(f->st, &t, &e) != ERR_OK)
        die("storing the protected token", &e);
    if (app_index_flush(f->st, NULL, &e) != ERR_OK)
        die("indexing", &e);
    f->baseline = total_changes(f);
}

char *fz_initialize_body(const char *version)
{
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b,
                "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":"
                "\"fuzz\",\"version\":\"1\"}}}",
                version);
    return sbuf_detach(&b);
}

fz_app *fz_app_get(void)
{
    static fz_app *g;
    if (g)
        return g;
    log_set_level(LOG_ERROR); /* the app logs at info per call; only failures matter here */
    fz_app *f = calloc(1, sizeof *f);
    err_t e;
    if (db_open("sqlite:///:memory:", NULL, &f->db, &e) != ERR_OK ||
        store_sql_open(f->db, false, &f->st, &e) != ERR_OK ||
        store_migrate_up(f->st, NULL, &e) != ERR_OK)
        die("opening the in-memory store", &e);
    auth_opts ao = {
        .jwt_secret = FZ_JWT_SECRET, .api_key = FZ_API_KEY, .store = f->st, .clock = fixed_clock};
    if (auth_ctx_new(&ao, &f->auth, &e) != ERR_OK)
        die("auth", &e);
    app_opts o = {.store = f->st, .auth = f->auth};
    if (app_new(&o, &f->app, &e) != ERR_OK)
        die("app", &e);
    mcp_server_info info = app_server_info();
    f->srv = mcp_server_new(&info);
    if (app_register(f->app, f->srv, &e) != ERR_OK)
        die("registering the app", &e);
    f->jwt_admin =
        sign("fuzz-admin", "admin", AUTH_PERM_ALL, "00000000-0000-4000-8000-000000000001");
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "Bearer %s", f->jwt_admin);
    f->bearer = sbuf_detach(&b);
    make_content(f);
    g = f;
    return g;
}

void fz_app_reset(fz_app *f)
{
    if (total_changes(f) == f->baseline)
        return;
    sbuf_t sql = SBUF_INIT;
    const char *const *t = store_table_order();
    size_t n = 0;
    while (t[n])
        n++;
    while (n-- > 0) /* children first */
        sbuf_printf(&sql, "DELETE FROM %s;\n", t[n]);
    /* SQLite's own: the id sequences, the FTS5 index and its watermark */
    sbuf_puts(&sql, "DELETE FROM sqlite_sequence;\n"
                    "INSERT INTO messages_fts(messages_fts) VALUES('delete-all');\n"
                    "UPDATE search_state SET upto = 0;\n");
    db_conn *c = NULL;
    err_t e;
    if (db_acquire(f->db, DB_WRITE, &c, &e) != ERR_OK || db_exec(c, sbuf_cstr(&sql), &e) != ERR_OK)
        die("emptying the store", &e);
    db_release(c);
    sbuf_free(&sql);
    make_content(f);
}
