/* tests/xfer/test_xfer.c — `ctxd copy`, `ctxd export` and `ctxd import` end to
 * end: runs the real ctxd binary (CTXD_BIN) on real databases seeded through the
 * store, and checks exit codes, messages, canonical exports and the data.
 * Usage: test_xfer sqlite | pg | mariadb | all
 *   sqlite   SQLite file -> file, file -> :memory:, export/import, a copy killed
 *            halfway and re-run, non-empty targets, bad dumps, dry run, a row an
 *            older ctxd wrote with a NUL character (refused by export and copy), loads
 *            interrupted at a batch boundary (xfer's cancel callback, SIGINT to the
 *            real binary) and the record of the unfinished load (db check, re-run)
 *   pg       the same moves with a PostgreSQL target (fixture pg)
 *   mariadb  the same moves with a MariaDB target (fixture mariadb)
 *   all      SQLite -> PostgreSQL -> MariaDB -> SQLite round trip: identical
 *            canonical exports at every step
 *   mongo    SQLite -> MongoDB -> SQLite with --verify, and export -> import
 *            into MongoDB (fixture mongo; a small dataset: the emulator scans)
 * Server URLs come from the tests/servers fixtures (ts_server_var); fresh server
 * databases from tests/store/backend_setup.c.
 * Must not: sleep to wait for something (poll a condition), or leave files or
 * databases behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "backend_setup.h"
#include "pg_test.h"
#include "test_support.h"
#include "base/conf.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "store/store.h"
#include "xfer/xfer.h"

#ifndef CTXD_BIN
#error "CTXD_BIN must name the ctxd executable"
#endif

extern char **environ;

static char *g_tmp;     /* scratch directory of this run */
static char *g_envfile; /* an empty .env so the caller's ./.env is not read */
static int g_seq;
static err_t E;

#define OK(x) TS_OK(E, x)

/* ---- running ctxd ------------------------------------------------------------------ */

typedef struct run_res {
    int status; /* exit status, or 128+signal */
    char *out, *err;
} run_res;

static void run_free(run_res *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return xstrdup("");
    sbuf_t b = SBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    fclose(f);
    if (!b.p)
        return xstrdup("");
    return sbuf_detach(&b);
}

/* The environment without database settings from the caller. */
static char **clean_env(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = environ[i];
        if (str_starts_with(s, "DATABASE_") || str_starts_with(s, "DB_") ||
            str_starts_with(s, "SUPABASE_") || str_starts_with(s, "LOG_LEVEL="))
            continue;
        v[k++] = environ[i];
    }
    return v;
}

static pid_t spawn_ctxd_in(const char *url, const char *const *args, const int in_pipe[2],
                           const char *out_path, const char *err_path);

/* Starts ctxd [--database-url url] args... with stdout/stderr into files. */
static pid_t spawn_ctxd(const char *url, const char *const *args, const char *out_path,
                        const char *err_path)
{
    return spawn_ctxd_in(url, args, NULL, out_path, err_path);
}

/* The same with stdin the read end of in_pipe (NULL: /dev/null); the child closes the write
 * end, so it sees the end of its input when the test closes its own. */
static pid_t spawn_ctxd_in(const char *url, const char *const *args, const int in_pipe[2],
                           const char *out_path, const char *err_path)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = CTXD_BIN;
    argv[n++] = "--env-file";
    argv[n++] = g_envfile;
    argv[n++] = "--log-level";
    argv[n++] = "warning";
    if (url) {
        argv[n++] = "--database-url";
        argv[n++] = url;
    }
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_pipe) {
        posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
        posix_spawn_file_actions_addclose(&fa, in_pipe[0]);
        posix_spawn_file_actions_addclose(&fa, in_pipe[1]);
    } else {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char **env = clean_env();
    pid_t pid;
    int rc = posix_spawn(&pid, CTXD_BIN, &fa, NULL, (char **)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0)
        fail_msg("posix_spawn %s: %s", CTXD_BIN, strerror(rc));
    return pid;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static run_res run_v(const char *url, const char *const *args)
{
    int k = g_seq++;
    char *o = ts_strf("%s/run-%d.out", g_tmp, k), *er = ts_strf("%s/run-%d.err", g_tmp, k);
    pid_t pid = spawn_ctxd(url, args, o, er);
    run_res r = {wait_status(pid), slurp(o), slurp(er)};
    unlink(o);
    unlink(er);
    free(o);
    free(er);
    return r;
}

#define RUN(url, ...) run_v(url, (const char *const[]){__VA_ARGS__, NULL})

#define EXPECT_RC(r, want) \
    do { \
        if ((r).status != (want)) \
            fail_msg("exit %d (wanted %d)\nstdout: %s\nstderr: %s", (r).status, (want), (r).out, \
                     (r).err); \
    } while (0)

#define EXPECT_HAS(hay, needle) \
    do { \
        if (!strstr((hay), (needle))) \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay)); \
    } while (0)

/* ---- databases ------------------------------------------------------------------------ */

typedef enum {
    K_SQLITE,
    K_MEMORY,
    K_PG,
    K_MARIADB,
    K_MONGO
} db_kind;

typedef struct tdb {
    char *url;
    tb_db server; /* server databases: dropped at the end */
    char *file;
} tdb;

static char *server_url(db_kind k)
{
    const char *srv = k == K_PG ? "pg" : k == K_MONGO ? "mongo" : "mariadb";
    const char *var = k == K_PG      ? "CTXD_TEST_PG_URL"
                      : k == K_MONGO ? "CTXD_TEST_MONGO_URL"
                                     : "CTXD_TEST_MYSQL_URL";
    char *u = ts_server_var(srv, var);
    if (!u)
        fail_msg("the %s fixture published no URL (run through ctest, or set %s)", srv, var);
    return u;
}

/* An empty database of the kind (sqlite: a new file name, not created). */
static void tdb_new(db_kind k, tdb *d)
{
    memset(d, 0, sizeof *d);
    if (k == K_SQLITE) {
        d->file = ts_strf("%s/db-%d.sqlite", g_tmp, g_seq++);
        d->url = ts_strf("sqlite:///%s", d->file);
    } else if (k == K_MEMORY) {
        d->url = xstrdup("sqlite:///:memory:");
    } else {
        char *u = server_url(k);
        OK(tb_fresh(u, &d->server, &E));
        free(u);
        store_close(d->server.st); /* ctxd works on it; the test reopens when needed */
        d->server.st = NULL;
        d->url = xstrdup(d->server.url);
    }
}

static void tdb_drop(tdb *d)
{
    if (d->server.url)
        tb_drop(&d->server);
    if (d->file) {
        const char *sfx[] = {"", "-wal", "-shm", "-journal"};
        for (int i = 0; i < 4; i++) {
            char *p = ts_strf("%s%s", d->file, sfx[i]);
            unlink(p);
            free(p);
        }
    }
    free(d->file);
    free(d->url);
    memset(d, 0, sizeof *d);
}

static store_t *open_migrated(const char *url)
{
    store_t *st = NULL;
    OK(store_open_with(url, NULL, STORE_OPEN_MIGRATE, &st, &E));
    return st;
}

static int64_t count_rows(const char *url, const char *table)
{
    store_t *st = open_migrated(url);
    int64_t n = -1;
    OK(store_count_rows(st, table, &n, &E));
    store_close(st);
    return n;
}

/* ---- seeding ---------------------------------------------------------------------------- */

#define S1 "session_00000000000000a1"
#define S2 "session_00000000000000b2"
#define META_ALL \
    "{\"s\":\"str ü\",\"n\":42,\"neg\":-7,\"f\":3.25,\"tenth\":0.1,\"big\":9007199254740993," \
    "\"t\":true,\"fa\":false,\"nul\":null,\"arr\":[1,\"two\",[3],{\"four\":4}]," \
    "\"obj\":{\"z\":1,\"a\":{\"nested\":\"\xc3\xa9\"}},\"empty\":{},\"ea\":[]}"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return j;
}

/* Sessions, threads, every visibility, metadata of every JSON type, memory in
 * both scopes with and without TTL, audit rows, tokens, revoked jtis, agent credentials (one
 * revoked), a restricted session, Unicode,
 * microsecond times, and ids with gaps (rows imported with explicit ids). */
static void seed_rich(store_t *st)
{
    store_audit_in au = {0};
    store_session s1 = {.id = S1,
                        .purpose =
                            "Planning \xe4\xbc\x9a\xe8\xad\xb0 \xf0\x9f\x9a\x80 cafe\xcc\x81",
                        .created_by = "agent-\xce\xb1",
                        .metadata = META_ALL,
                        .is_active = true,
                        .created_at = 1700000000123456LL,
                        .updated_at = 1700000000654321LL};
    OK(store_session_create(st, &s1, &au, &E));
    store_session s2 = {.id = S2,
                        .purpose = "second",
                        .created_by = "agent-b",
                        .access = "{\"agents\":[\"agent-\xce\xb1\"],\"types\":[\"claude\",\"t\"]}",
                        .is_active = false,
                        .created_at = 1700000100000001LL};
    OK(store_session_create(st, &s2, NULL, &E));

    store_vis every = {.any = STORE_VIS_EVERY};
    store_message m1 = {.session_id = S1,
                        .sender = "agent-\xce\xb1",
                        .sender_type = "claude",
                        .content = "root \xf0\x9f\x98\x80",
                        .visibility = STORE_VIS_PUBLIC,
                        .metadata = "{\"k\":[1,2.5,\"x\",null,true,false,{\"n\":{}}]}"};
    OK(store_message_add(st, &m1, &au, &E));
    store_message m2 = {.session_id = S1,
                        .sender = "agent-b",
                        .content = "reply private",
                        .visibility = STORE_VIS_PRIVATE,
                        .parent_id = m1.id,
                        .parent_vis = &every};
    OK(store_message_add(st, &m2, &au, &E));
    store_message m3 = {.session_id = S1,
                        .sender = "agent-c",
                        .sender_type = "gemini",
                        .content = "deeper agent_only",
                        .visibility = STORE_VIS_AGENT_ONLY,
                        .parent_id = m2.id,
                        .parent_vis = &every,
                        .message_type = "system",
                        .metadata = "{}"};
    OK(store_message_add(st, &m3, NULL, &E));
    store_message m4 = {.session_id = S1,
                        .sender = "admin",
                        .content = "admin only",
                        .visibility = STORE_VIS_ADMIN_ONLY};
    OK(store_message_add(st, &m4, &au, &E));
    store_message m5 = {.session_id = S2,
                        .sender = "agent-b",
                        .content =
                            "CJK \xe6\xbc\xa2\xe5\xad\x97 combining e\xcc\x81 a\xcc\x88 "
                            "emoji \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \"quoted\"\n\ttab",
                        .visibility = STORE_VIS_PUBLIC};
    OK(store_message_add(st, &m5, &au, &E));

    utc_us now = utc_now();
    store_mem_set ms[] = {
        {.agent_id = "agent-\xce\xb1", .key = "g/str", .value = "\"str\""},
        {.agent_id = "agent-\xce\xb1",
         .key = "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\xf0\x9f\x94\x91",
         .value = "{\"b\":2,\"a\":[1,{\"y\":null,\"x\":0.1}]}",
         .metadata = "{\"tag\":\"t\"}",
         .expires_at = now + 3600000000LL + 123457},
        {.agent_id = "agent-\xce\xb1", .session_id = S1, .key = "g/str", .value = "42"},
        {.agent_id = "agent-\xce\xb1",
         .session_id = S1,
         .key = "flag",
         .value = "true",
         .expires_at = now + 7200000000LL + 1},
        {.agent_id = "agent-b", .session_id = S2, .key = "n", .value = "null"},
        {.agent_id = "agent-b", .key = "arr", .value = "[1,\"x\",[],{}]"},
        {.agent_id = "Agent-C", .key = "arr", .value = "-1.5e-7"},
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        OK(store_memory_set(st, &ms[i], &au, NULL, &E));

    store_audit_in a1 = {
        .event_type = "custom", .agent_id = "agent-b", .metadata = "[1,\"two\",{\"x\":false}]"};
    OK(store_audit_append(st, &a1, &E));
    store_audit_in a2 = {.event_type = "custom",
                         .agent_id = "agent-b",
                         .session_id = S1,
                         .resource = "thing:1",
                         .metadata = "\"scalar\""};
    OK(store_audit_append(st, &a2, &E));

    store_token t1 = {.token_hash =
                          "1111111111111111111111111111111111111111111111111111111111111111",
                      .permissions = "read,write",
                      .jti = "11111111-2222-4333-8444-555555555555",
                      .agent_id = "agent-\xce\xb1",
                      .agent_type = "claude",
                      .created_at = 1700000200000007LL,
                      .expires_at = 4102444800000000LL};
    OK(store_token_put(st, &t1, &E));
    store_token t2 = {.token_hash =
                          "0000000000000000000000000000000000000000000000000000000000000000",
                      .permissions = "read,write,admin,debug",
                      .jti = "00000000-2222-4333-8444-555555555555",
                      .agent_id = "agent-b",
                      .agent_type = "admin",
                      .created_at = 1700000200999999LL,
                      .expires_at = 4102444800000001LL};
    OK(store_token_put(st, &t2, &E));
    store_cred c1 = {.agent_id = "agent-\xce\xb1",
                     .agent_type = "claude",
                     .permissions = "read,write",
                     .key_hash = "2222222222222222222222222222222222222222222222222222222222222222",
                     .created_at = 1700000300000001LL,
                     .updated_at = 1700000300000002LL};
    OK(store_cred_add(st, &c1, &au, &E));
    store_cred c2 = {.agent_id = "agent-b",
                     .agent_type = "admin",
                     .permissions = "read,write,admin",
                     .key_hash = "3333333333333333333333333333333333333333333333333333333333333333",
                     .created_at = 1700000300000003LL,
                     .updated_at = 1700000300000004LL,
                     .revoked_at = 1700000300000004LL};
    OK(store_cred_add(st, &c2, NULL, &E));
    OK(store_jti_revoke(st, "jti-1", 4102444800999999LL, &E));
    OK(store_jti_revoke(st, "jti-\xc3\xbc", 4102444801000000LL, &E));

    /* rows with explicit ids far above the others: gaps to preserve */
    json_t *msgs[2] = {
        J("{\"id\":1000,\"session_id\":\"" S2 "\",\"sender\":\"x\",\"sender_type\":\"generic\","
          "\"content\":\"gap\",\"visibility\":\"public\",\"message_type\":\"agent_response\","
          "\"metadata\":null,\"parent_message_id\":null,\"created_at\":\"2023-11-14T22:13:20."
          "000001Z\"}"),
        J("{\"id\":1001,\"session_id\":\"" S2 "\",\"sender\":\"y\",\"sender_type\":\"generic\","
          "\"content\":\"gap "
          "reply\",\"visibility\":\"private\",\"message_type\":\"agent_response\","
          "\"metadata\":{\"r\":1},\"parent_message_id\":1000,\"created_at\":\"2023-11-14T22:13:20."
          "999999Z\"}"),
    };
    int64_t ins = 0;
    OK(store_import_rows(st, "messages", msgs, 2, &ins, &E));
    assert_int_equal(ins, 2);
    json_t *aud =
        J("{\"id\":500,\"created_at\":\"2023-01-01T00:00:00.000001Z\",\"event_type\":\"old\","
          "\"agent_id\":\"x\",\"session_id\":null,\"resource\":null,\"metadata\":null}");
    OK(store_import_rows(st, "audit_log", &aud, 1, &ins, &E));
    OK(store_import_finish(st, &E));
    json_decref(msgs[0]);
    json_decref(msgs[1]);
    json_decref(aud);
}

/* Many messages, imported in batches (fast), for the interrupted copy. */
static void seed_many(store_t *st, int n)
{
    store_session s = {.id = S1, .purpose = "bulk", .created_by = "a", .is_active = true};
    OK(store_session_create(st, &s, NULL, &E));
    enum {
        B = 500
    };
    json_t *rows[B];
    int id = 1;
    while (id <= n) {
        size_t k = 0;
        for (; k < B && id <= n; k++, id++) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "{\"id\":%d,\"session_id\":\"" S1
                     "\",\"sender\":\"s%d\",\"sender_type\":\"generic\","
                     "\"content\":\"message %d \xf0\x9f\x98\x80\",\"visibility\":\"public\","
                     "\"message_type\":\"agent_response\",\"metadata\":{\"i\":%d},"
                     "\"parent_message_id\":%s,\"created_at\":\"2024-02-29T12:00:00.%06dZ\"}",
                     id, id % 7, id, id, id > 1 ? "1" : "null", id % 1000000);
            rows[k] = J(buf);
        }
        OK(store_import_rows(st, "messages", rows, k, NULL, &E));
        for (size_t i = 0; i < k; i++)
            json_decref(rows[i]);
    }
    OK(store_import_finish(st, &E));
}

/* A new SQLite database holding one session with n messages (seed_many). */
static void seeded_source(int n, tdb *a)
{
    tdb_new(K_SQLITE, a);
    store_t *st = open_migrated(a->url);
    seed_many(st, n);
    store_close(st);
}

static void seed_url(const char *url, void (*fn)(store_t *))
{
    store_t *st = open_migrated(url);
    fn(st);
    store_close(st);
}

static void seed_rich_fn(store_t *st)
{
    seed_rich(st);
}

/* ---- exports ------------------------------------------------------------------------------ */

/* `ctxd export --out` of url: the body (every line after the header). */
static char *export_body(const char *url)
{
    char *path = ts_strf("%s/export-%d.jsonl", g_tmp, g_seq++);
    run_res r = RUN(url, "export", "--out", path);
    EXPECT_RC(r, 0);
    run_free(&r);
    char *all = slurp(path);
    unlink(path);
    free(path);
    char *nl = strchr(all, '\n');
    assert_non_null(nl);
    assert_true(str_starts_with(all, "{\"format\":\"ctxd-export\""));
    char *body = xstrdup(nl + 1);
    free(all);
    return body;
}

static char *export_file(const char *url)
{
    char *path = ts_strf("%s/dump-%d.jsonl", g_tmp, g_seq++);
    run_res r = RUN(url, "export", "--out", path);
    EXPECT_RC(r, 0);
    run_free(&r);
    return path;
}

static void expect_same_body(const char *a, const char *b, const char *what)
{
    if (strcmp(a, b) == 0)
        return;
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    size_t from = i > 200 ? i - 200 : 0;
    fail_msg("%s: exports differ at byte %zu:\n  A: %.400s\n  B: %.400s", what, i, a + from,
             b + from);
}

/* A message added after a copy/import gets the id after the largest copied one,
 * and so does an audit record. */
static void expect_next_ids(const char *url, int64_t max_msg, int64_t max_audit)
{
    store_t *st = open_migrated(url);
    store_message m = {.session_id = S1, .sender = "after", .content = "after the move"};
    OK(store_message_add(st, &m, NULL, &E));
    assert_int_equal(m.id, max_msg + 1);
    store_audit_in a = {.event_type = "after", .agent_id = "after"};
    OK(store_audit_append(st, &a, &E));
    store_audits l;
    store_audit_query q = {.event_type = "after", .limit = 1};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, max_audit + 1);
    store_audits_free(&l);
    store_close(st);
}

static int64_t max_audit_id(const char *url)
{
    store_t *st = open_migrated(url);
    store_audits l;
    store_audit_query q = {.limit = 1};
    OK(store_audit_list(st, &q, &l, &E));
    int64_t id = l.n ? l.v[0].id : 0;
    store_audits_free(&l);
    store_close(st);
    return id;
}

/* ---- the scenarios (parametrised by the target kind) ---------------------------------------- */

static db_kind g_kind = K_SQLITE;

/* copy A -> B --verify; identical exports; next ids continue. */
static void t_copy_verify(void **state)
{
    (void)state;
    tdb a, b;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &b);
    seed_url(a.url, seed_rich_fn);
    run_res r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--verify", "--batch", "3");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "verify: messages");
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    char *ea = export_body(a.url), *eb = export_body(b.url);
    expect_same_body(ea, eb, "source vs copy");
    free(ea);
    free(eb);
    /* re-running onto the finished copy is allowed and writes nothing */
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--verify");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "0 row(s) written");
    run_free(&r);
    int64_t maxa = max_audit_id(a.url);
    assert_true(maxa >= 500);
    expect_next_ids(b.url, 1001, maxa);
    if (g_kind == K_PG) {
        /* the copy analysed what it loaded: no waiting for autovacuum to plan pages */
        char *an = pgt_query(b.url, "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN"
                                    " ('messages', 'sessions') AND last_analyze IS NOT NULL");
        assert_string_equal(an, "2");
        free(an);
    }
    tdb_drop(&a);
    tdb_drop(&b);
}

/* export -> import into a fresh database: identical exports, ids continue. */
/* The dump's header names the backend the data came from and carries that
 * backend's schema version, as its store reports it. */
static void expect_header(const char *dump, const char *url, const char *backend)
{
    FILE *f = fopen(dump, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    json_error_t je;
    json_t *h = json_loads(line, 0, &je);
    assert_non_null(h);
    store_t *st = open_migrated(url);
    store_schema s;
    OK(store_schema_status(st, &s, &E));
    store_close(st);
    assert_int_equal(s.current, s.latest);
    assert_int_equal(json_integer_value(json_object_get(h, "schema_version")), s.current);
    assert_string_equal(json_string_value(json_object_get(h, "source_backend")), backend);
    store_schema_clear(&s);
    json_decref(h);
}

static void t_export_import(void **state)
{
    (void)state;
    tdb a, c;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &c);
    seed_url(a.url, seed_rich_fn);
    char *dump = export_file(a.url);
    expect_header(dump, a.url, "sqlite");
    run_res r = RUN(c.url, "import", dump, "--batch", "2");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "verify: revoked_jtis");
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    char *ea = export_body(a.url), *ec = export_body(c.url);
    expect_same_body(ea, ec, "source vs import");
    char *cdump = export_file(c.url); /* from the target's backend: its version */
    expect_header(cdump, c.url,
                  g_kind == K_PG        ? "postgresql"
                  : g_kind == K_MARIADB ? "mysql"
                                        : "sqlite");
    unlink(cdump);
    free(cdump);
    /* importing again: everything is already there */
    r = RUN(c.url, "import", dump);
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "0 row(s) written");
    run_free(&r);
    expect_next_ids(c.url, 1001, max_audit_id(a.url));
    if (g_kind == K_SQLITE) {
        /* into :memory: (checked against the trailer inside the process) */
        r = RUN("sqlite:///:memory:", "import", dump);
        EXPECT_RC(r, 0);
        EXPECT_HAS(r.out, "verify: messages");
        assert_null(strstr(r.out, "DIFFERS"));
        run_free(&r);
        /* file -> :memory: copy, verified */
        r = RUN(NULL, "copy", "--from", a.url, "--to", "sqlite:///:memory:", "--verify");
        EXPECT_RC(r, 0);
        assert_null(strstr(r.out, "DIFFERS"));
        run_free(&r);
    }
    unlink(dump);
    free(dump);
    free(ea);
    free(ec);
    tdb_drop(&a);
    tdb_drop(&c);
}

/* A copy killed halfway (SIGKILL once the target has some rows), then re-run. */
static void t_killed_copy(void **state)
{
    (void)state;
    enum {
        N = 40000
    };
    tdb a, b;
    seeded_source(N, &a);
    tdb_new(g_kind, &b);

    char *o = ts_strf("%s/kill.out", g_tmp), *er = ts_strf("%s/kill.err", g_tmp);
    pid_t pid = spawn_ctxd(
        NULL, (const char *const[]){"copy", "--from", a.url, "--to", b.url, "--batch", "5", NULL},
        o, er);
    /* poll the target until some messages (not all) have arrived */
    int64_t seen = 0;
    utc_us deadline = utc_mono_us() + 120 * 1000000LL;
    bool exited = false;
    while (utc_mono_us() < deadline) {
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid) {
            exited = true;
            break;
        }
        store_t *t = NULL;
        err_t pe;
        if (store_open(b.url, NULL, &t, &pe) == ERR_OK) {
            if (store_count_rows(t, "messages", &seen, &pe) != ERR_OK)
                seen = 0;
            store_close(t);
            if (seen > 0)
                break;
        }
    }
    if (exited) {
        char *msg = slurp(er);
        fail_msg("the copy ended before it could be interrupted (make N bigger): %s", msg);
    }
    assert_true(seen > 0);
    kill(pid, SIGKILL);
    assert_int_equal(wait_status(pid), 128 + SIGKILL);
    unlink(o);
    unlink(er);
    free(o);
    free(er);
    int64_t partial = count_rows(b.url, "messages");
    print_message("killed the copy with %lld of %d messages in the target\n", (long long)partial,
                  N);
    assert_true(partial > 0 && partial < N);

    /* the interrupted target is not "other data": re-running finishes the job */
    run_res r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--verify");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "verify: messages       ok");
    run_free(&r);
    assert_int_equal(count_rows(b.url, "messages"), N);
    assert_int_equal(count_rows(b.url, "sessions"), 1);
    expect_next_ids(b.url, N, max_audit_id(a.url));
    tdb_drop(&a);
    tdb_drop(&b);
}

/* ---- interrupted loads ------------------------------------------------------------------ */

/* Every row of the logical tables of url. */
static int64_t all_rows(const char *url)
{
    size_t nt;
    const store_table *t = store_tables(&nt);
    int64_t all = 0;
    for (size_t i = 0; i < nt; i++)
        all += count_rows(url, t[i].name);
    return all;
}

/* The record of an unfinished load in url: found, its command into cmd (may be NULL). */
static bool load_recorded(const char *url, char **cmd, char **source)
{
    store_t *st = open_migrated(url);
    store_load l;
    bool found = false;
    OK(store_load_get(st, &l, &found, &E));
    store_close(st);
    if (cmd)
        *cmd = found ? xstrdup(l.command) : NULL;
    if (source)
        *source = found ? xstrdup(l.source) : NULL;
    store_load_clear(&l);
    return found;
}

/* `ctxd db check` of url: exit 1 naming the unfinished load (command, source), in text and
 * in JSON; or exit 0 and no warning when `unfinished` is NULL. */
static void expect_db_check(const char *url, const char *unfinished, const char *source)
{
    run_res r = RUN(url, "db", "check");
    EXPECT_RC(r, unfinished ? 1 : 0);
    if (unfinished) {
        char *want = ts_strf("warning:         unfinished %s: started ", unfinished);
        EXPECT_HAS(r.out, want);
        EXPECT_HAS(r.out, source);
        EXPECT_HAS(r.out, "; run the same command again to finish");
        EXPECT_HAS(r.out, "status:          unhealthy");
        free(want);
    } else {
        assert_null(strstr(r.out, "unfinished"));
        EXPECT_HAS(r.out, "status:          healthy");
    }
    run_free(&r);
    r = RUN(url, "db", "check", "--json");
    EXPECT_RC(r, unfinished ? 1 : 0);
    json_t *j = J(r.out);
    json_t *l = json_object_get(j, "unfinished_load");
    if (unfinished) {
        assert_string_equal(json_string_value(json_object_get(l, "command")), unfinished);
        EXPECT_HAS(json_string_value(json_object_get(l, "source")), source);
        assert_true(json_is_string(json_object_get(l, "started_at")));
        EXPECT_HAS(json_string_value(json_object_get(j, "warning")), "unfinished");
    } else {
        assert_null(l);
        assert_null(json_object_get(j, "warning"));
    }
    json_decref(j);
    run_free(&r);
}

static bool cancel_after(void *ud)
{
    int *left = ud;
    return (*left)-- <= 0;
}

/* xfer_copy stopped by its cancel callback after 3 batches: exactly those whole batches are
 * in the target, the load is recorded (db check says so, export and verification ignore
 * the record), and re-running the same copy finishes it and removes the record. A cancel
 * that says stop at once writes and records nothing. */
static void t_cancel_copy(void **state)
{
    (void)state;
    enum {
        N = 100,
        BATCH = 7
    };
    tdb a, b;
    seeded_source(N, &a);
    tdb_new(g_kind, &b);

    int left = 0;
    xfer_opts o = {.batch = BATCH, .verify = true, .cancel = cancel_after, .cancel_ud = &left};
    xfer_report r;
    OK(xfer_copy(a.url, b.url, &o, &r, &E));
    assert_true(r.interrupted);
    assert_null(r.stopped_table); /* before the first row */
    assert_int_equal(all_rows(b.url), 0);
    assert_false(load_recorded(b.url, NULL, NULL));

    left = 4; /* load_begin, the session, two batches of messages */
    OK(xfer_copy(a.url, b.url, &o, &r, &E));
    assert_true(r.interrupted);
    assert_false(r.verify_failed); /* not verified: not finished */
    /* sessions (1 row, one batch), then two batches of messages */
    assert_string_equal(r.stopped_table, "messages");
    assert_int_equal(r.rows_done, 1 + 2 * BATCH);
    assert_int_equal(count_rows(b.url, "sessions"), 1);
    assert_int_equal(count_rows(b.url, "messages"), 2 * BATCH);
    assert_int_equal(all_rows(b.url), r.rows_done);
    char *cmd = NULL, *src = NULL;
    assert_true(load_recorded(b.url, &cmd, &src));
    assert_string_equal(cmd, "copy");
    assert_string_equal(src, a.url); /* no password to mask */
    free(cmd);
    free(src);
    expect_db_check(b.url, "copy", a.url);
    /* the record is nobody's row: not in an export */
    char *body = export_body(b.url);
    assert_null(strstr(body, "ctxd_load"));
    assert_null(strstr(body, "\"command\""));
    free(body);

    /* the same copy again: finished and verified with the record still there, then removed */
    run_res rr = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--verify");
    EXPECT_RC(rr, 0);
    EXPECT_HAS(rr.out, "verify: messages       ok");
    EXPECT_HAS(rr.out, "verify: sessions       ok");
    run_free(&rr);
    assert_int_equal(count_rows(b.url, "messages"), N);
    assert_false(load_recorded(b.url, NULL, NULL));
    expect_db_check(b.url, NULL, NULL);
    tdb_drop(&a);
    tdb_drop(&b);
}

/* A dump of n messages in a file; returns its path. */
static char *dump_of_many(int n)
{
    tdb a;
    seeded_source(n, &a);
    char *path = export_file(a.url);
    tdb_drop(&a);
    return path;
}

/* The real binary interrupted by SIGINT at a known batch (CTXD_TEST_INTERRUPT_AFTER_BATCHES
 * raises it in the progress display after that batch): the message, exit 130, whole
 * batches only, db check reports the unfinished import; the same import again finishes
 * it and db check is healthy again. */
static void t_interrupt_cli(void **state)
{
    (void)state;
    enum {
        N = 200,
        BATCH = 9
    };
    char *dump = dump_of_many(N);
    tdb b;
    tdb_new(g_kind, &b);
    setenv("CTXD_TEST_INTERRUPT_AFTER_BATCHES", "4", 1);
    run_res r = RUN(b.url, "import", dump, "--batch", "9");
    unsetenv("CTXD_TEST_INTERRUPT_AFTER_BATCHES");
    EXPECT_RC(r, 130);
    /* batch 1: the session; 2-4: messages; the 5th is not written */
    char *want = ts_strf("ctxd: interrupted after %d rows (table messages); run the same "
                         "command again to finish",
                         1 + 3 * BATCH);
    EXPECT_HAS(r.err, want);
    EXPECT_HAS(r.err, "stopping after the batch being written");
    assert_null(strstr(r.out, "imported"));
    free(want);
    run_free(&r);
    assert_int_equal(count_rows(b.url, "sessions"), 1);
    assert_int_equal(count_rows(b.url, "messages"), 3 * BATCH);
    expect_db_check(b.url, "import", dump);

    r = RUN(b.url, "import", dump);
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "verify: messages       ok");
    run_free(&r);
    assert_int_equal(count_rows(b.url, "messages"), N);
    expect_db_check(b.url, NULL, NULL);
    unlink(dump);
    free(dump);
    tdb_drop(&b);
}

/* Polls the file at path until it holds needle (the child writes it when the signal
 * arrives); fails after a minute. */
static void wait_for_text(const char *path, const char *needle)
{
    utc_us deadline = utc_mono_us() + 60 * 1000000LL;
    while (utc_mono_us() < deadline) {
        char *t = slurp(path);
        bool got = strstr(t, needle) != NULL;
        free(t);
        if (got)
            return;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    fail_msg("%s never said \"%s\"", path, needle);
}

/* A real SIGINT (twice: `again`) to `ctxd import -` reading a dump from a pipe. The test
 * writes the first MiB (more than a pipe holds, so ctxd is reading: its handler is in
 * place), sends the signal, waits for ctxd to say it is stopping, then (once) writes the
 * rest: ctxd stops before writing a row (exit 130, nothing recorded); twice: the second
 * signal ends it at once (killed by SIGINT). Either way nothing is in the target and the
 * same import then succeeds. */
static void interrupt_pipe(bool again)
{
    char *dump = dump_of_many(20000); /* > 1 MiB */
    char *text = slurp(dump);
    size_t len = strlen(text), first = 1 << 20;
    assert_true(len > first);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    tdb b;
    tdb_new(g_kind, &b);
    char *o = ts_strf("%s/pipe.out", g_tmp), *er = ts_strf("%s/pipe.err", g_tmp);
    pid_t pid = spawn_ctxd_in(b.url, (const char *const[]){"import", "-", NULL}, pfd, o, er);
    close(pfd[0]);
    int fd = pfd[1];
    signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0; off < first;) {
        ssize_t w = write(fd, text + off, first - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    kill(pid, SIGINT);
    wait_for_text(er, "stopping after the batch being written");
    if (again)
        kill(pid, SIGINT);
    else
        for (size_t off = first; off < len;) {
            ssize_t w = write(fd, text + off, len - off);
            assert_true(w > 0);
            off += (size_t)w;
        }
    close(fd);
    int wst;
    while (waitpid(pid, &wst, 0) < 0)
        assert_int_equal(errno, EINTR);
    char *err = slurp(er);
    if (again) {
        assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGINT);
        assert_null(strstr(err, "interrupted"));
    } else {
        if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 130)
            fail_msg("status %d, stderr: %s", wst, err);
        EXPECT_HAS(err, "ctxd: interrupted before any row was written; run the same command "
                        "again to do it");
    }
    free(err);
    assert_int_equal(all_rows(b.url), 0);
    assert_false(load_recorded(b.url, NULL, NULL));
    run_res r = RUN(b.url, "import", dump);
    EXPECT_RC(r, 0);
    run_free(&r);
    assert_int_equal(count_rows(b.url, "messages"), 20000);
    unlink(o);
    unlink(er);
    unlink(dump);
    free(o);
    free(er);
    free(dump);
    free(text);
    tdb_drop(&b);
}

static void t_interrupt_pipe(void **state)
{
    (void)state;
    interrupt_pipe(false);
}

static void t_interrupt_twice(void **state)
{
    (void)state;
    interrupt_pipe(true);
}

/* Other data in the target: refused (exit 1, target unchanged) unless asked. */
static void t_nonempty(void **state)
{
    (void)state;
    tdb a, b;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &b);
    seed_url(a.url, seed_rich_fn);
    store_t *st = open_migrated(b.url);
    store_session other = {.id = "session_00000000000000ff",
                           .purpose = "other",
                           .created_by = "someone",
                           .is_active = true};
    OK(store_session_create(st, &other, NULL, &E));
    store_close(st);
    char *before = export_body(b.url);

    run_res r = RUN(NULL, "copy", "--from", a.url, "--to", b.url);
    EXPECT_RC(r, 1);
    EXPECT_HAS(r.err, "not empty");
    EXPECT_HAS(r.err, "--allow-nonempty");
    run_free(&r);
    char *after = export_body(b.url);
    expect_same_body(before, after, "refused target unchanged");
    free(after);

    /* dry run says so too, and writes nothing */
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--dry-run");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "holds other data");
    EXPECT_HAS(r.out, "messages");
    run_free(&r);
    after = export_body(b.url);
    expect_same_body(before, after, "dry run wrote nothing");
    free(after);

    /* import is refused the same way */
    char *dump = export_file(a.url);
    r = RUN(b.url, "import", dump);
    EXPECT_RC(r, 1);
    EXPECT_HAS(r.err, "not empty");
    run_free(&r);
    after = export_body(b.url);
    expect_same_body(before, after, "refused import unchanged");
    free(after);

    /* asked: merged; --verify then names the tables that differ */
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--allow-nonempty", "--verify");
    EXPECT_RC(r, 1);
    EXPECT_HAS(r.out, "verify: sessions       DIFFERS");
    EXPECT_HAS(r.err, "table sessions differs");
    run_free(&r);
    assert_int_equal(count_rows(b.url, "sessions"), 3);
    assert_int_equal(count_rows(b.url, "messages"), count_rows(a.url, "messages"));
    unlink(dump);
    free(dump);
    free(before);
    tdb_drop(&a);
    tdb_drop(&b);
}

static char *write_file(const char *name, const char *text)
{
    char *p = ts_strf("%s/%s", g_tmp, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Bad dumps: a clear error naming the line, exit 1, nothing imported. */
/* A memory value holding a NUL character (\u0000), as an older ctxd stored it: export
 * and copy refuse with a message naming the row (export never writes a line import would
 * refuse; copy stops there, PostgreSQL would refuse the value); once the row is rewritten
 * the dump imports into the target the failed copy began to fill. */
static void seed_nul_value(store_t *st)
{
    store_mem_set m = {.agent_id = "agent-nul",
                       .key = "notes",
                       .value = "{\"text\":\"before\\u0000after\"}",
                       .overwrite = true};
    OK(store_memory_set(st, &m, NULL, NULL, &E));
}

static void t_nul_rows(void **state)
{
    (void)state;
    tdb a, c;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &c);
    seed_url(a.url, seed_rich_fn);
    seed_url(a.url, seed_nul_value);
    char *path = ts_strf("%s/dump-%d.jsonl", g_tmp, g_seq++);
    const char *want[] = {"agent_memory", "agent-nul", "notes", "agent_memory.value",
                          "NUL character"};
    run_res r = RUN(a.url, "export", "--out", path);
    EXPECT_RC(r, 1);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        EXPECT_HAS(r.err, want[i]);
    run_free(&r);
    r = RUN(NULL, "copy", "--from", a.url, "--to", c.url);
    EXPECT_RC(r, 1);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        EXPECT_HAS(r.err, want[i]);
    run_free(&r);
    /* the agent overwrites the value: everything moves, and the dump imports */
    store_t *st = open_migrated(a.url);
    store_mem_set m = {.agent_id = "agent-nul",
                       .key = "notes",
                       .value = "{\"text\":\"before after\"}",
                       .overwrite = true};
    OK(store_memory_set(st, &m, NULL, NULL, &E));
    store_close(st);
    r = RUN(a.url, "export", "--out", path);
    EXPECT_RC(r, 0);
    run_free(&r);
    r = RUN(c.url, "import", path);
    EXPECT_RC(r, 0);
    run_free(&r);
    assert_int_equal(count_rows(c.url, "agent_memory"), count_rows(a.url, "agent_memory"));
    unlink(path);
    free(path);
    tdb_drop(&a);
    tdb_drop(&c);
}

static void t_bad_dumps(void **state)
{
    (void)state;
    tdb a, c;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &c);
    seed_url(a.url, seed_rich_fn);
    char *dump = export_file(a.url);
    char *all = slurp(dump);
    size_t len = strlen(all);
    /* line numbers: 1 header, 2 first session, ... */
    char *nl1 = strchr(all, '\n');
    char *nl2 = strchr(nl1 + 1, '\n');
    char *nl3 = strchr(nl2 + 1, '\n');

    struct {
        const char *name;
        char *text;
        const char *want1, *want2;
    } cases[] = {
        /* cut in the middle of line 3 */
        {"cut-mid", ts_strf("%.*s", (int)(nl3 - all - 10), all), "line 3", "truncated"},
        /* cut at a line boundary: the trailer is missing */
        {"cut-line", ts_strf("%.*s", (int)(nl3 - all + 1), all), "line 3", "truncated"},
        /* a garbage line in the middle */
        {"garbage", ts_strf("%.*sthis is not json\n%s", (int)(nl2 - all + 1), all, nl2 + 1),
         "line 3", "not valid JSON"},
        /* a newer schema version */
        {"newer",
         ts_strf("{\"format\":\"ctxd-export\",\"format_version\":1,\"schema_version\":999,"
                 "\"source_backend\":\"sqlite\"}%s",
                 nl1),
         "line 1", "newer than this ctxd"},
        /* not a dump at all */
        {"notdump", xstrdup("hello\n"), "line 1", "not a ctxd export"},
        /* an unknown table */
        {"table",
         ts_strf("%.*s{\"table\":\"nope\",\"row\":{}}\n%s", (int)(nl2 - all + 1), all, nl2 + 1),
         "line 3", "unknown table 'nope'"},
        /* a wrong type */
        {"type",
         ts_strf("%.*s{\"table\":\"messages\",\"row\":{\"id\":\"x\",\"session_id\":\"" S1 "\","
                 "\"sender\":\"a\",\"sender_type\":\"g\",\"content\":\"c\",\"visibility\":"
                 "\"public\",\"message_type\":\"m\",\"metadata\":null,\"parent_message_id\":"
                 "null,\"created_at\":\"2024-01-01T00:00:00Z\"}}\n%s",
                 (int)(nl2 - all + 1), all, nl2 + 1),
         "line 3", "messages.id must be an integer"},
        /* a changed row: the checksum no longer matches */
        {"tampered", NULL, "sessions", "checksum"},
    };
    /* tamper: change one character of the first session's purpose */
    cases[7].text = xstrdup(all);
    char *pp = strstr(cases[7].text, "Planning");
    assert_non_null(pp);
    pp[0] = 'X';
    (void)len;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_file(cases[i].name, cases[i].text);
        run_res r = RUN(c.url, "import", p);
        if (r.status != 1 || !strstr(r.err, cases[i].want1) || !strstr(r.err, cases[i].want2))
            fail_msg("bad dump '%s': exit %d, stderr: %s (wanted \"%s\" and \"%s\")", cases[i].name,
                     r.status, r.err, cases[i].want1, cases[i].want2);
        print_message("bad dump %-9s -> %s", cases[i].name, r.err);
        run_free(&r);
        unlink(p);
        free(p);
        free(cases[i].text);
        /* nothing was imported */
        assert_int_equal(count_rows(c.url, "sessions"), 0);
        assert_int_equal(count_rows(c.url, "messages"), 0);
    }
    /* and the good dump still imports afterwards */
    run_res r = RUN(c.url, "import", dump);
    EXPECT_RC(r, 0);
    run_free(&r);
    unlink(dump);
    free(dump);
    free(all);
    tdb_drop(&a);
    tdb_drop(&c);
}

/* A dry run onto a target that already holds the source's rows counts them as
 * present; a dump's header versions are checked (newer than this ctxd, or not a
 * positive whole number). */
static void t_present_and_versions(void **state)
{
    (void)state;
    tdb a, b;
    tdb_new(K_SQLITE, &a);
    tdb_new(K_SQLITE, &b);
    seed_url(a.url, seed_rich_fn);
    run_res r = RUN(NULL, "copy", "--from", a.url, "--to", b.url);
    EXPECT_RC(r, 0);
    run_free(&r);
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--dry-run");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "7 row(s): 0 to copy, 7 already in the target");
    EXPECT_HAS(r.out, "0 row(s) would be copied");
    assert_null(strstr(r.out, "holds other data"));
    run_free(&r);

    static const struct {
        const char *header, *want;
    } bad[] = {
        {"{\"format\":\"ctxd-export\",\"format_version\":2,\"schema_version\":1}",
         "export format version 2 is newer than this ctxd"},
        {"{\"format\":\"ctxd-export\",\"format_version\":0,\"schema_version\":1}",
         "no valid \"format_version\""},
        {"{\"format\":\"ctxd-export\",\"format_version\":1,\"schema_version\":\"1\"}",
         "no valid \"schema_version\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = ts_strf("%s\n", bad[i].header);
        char *p = write_file("header.jsonl", text);
        r = RUN(b.url, "import", p);
        if (r.status != 1 || !strstr(r.err, "line 1") || !strstr(r.err, bad[i].want))
            fail_msg("header %s: exit %d, stderr: %s", bad[i].header, r.status, r.err);
        run_free(&r);
        unlink(p);
        free(p);
        free(text);
    }
    tdb_drop(&a);
    tdb_drop(&b);
}

/* The number of row lines of `table` in an export body. */
static size_t dump_rows_of(const char *body, const char *table)
{
    char *needle = ts_strf("{\"table\":\"%s\",", table);
    size_t n = 0;
    for (const char *p = body; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(needle);
    return n;
}

/* Protected tokens stay out of dumps and copies unless --include-tokens: by default
 * export writes no secure_tokens row (its trailer counts none) and copy leaves the
 * target's secure_tokens alone (verify does not hold that against it); with the flag both
 * carry them, and the dump imports them. Revocations (revoked_jtis: ids, no secret) move
 * either way, so a revoked JWT stays revoked on the target. */
static void t_tokens_flag(void **state)
{
    (void)state;
    tdb a, b, c, d;
    tdb_new(K_SQLITE, &a);
    tdb_new(g_kind, &b);
    tdb_new(g_kind, &c);
    tdb_new(K_SQLITE, &d);
    seed_url(a.url, seed_rich_fn);
    assert_int_equal(count_rows(a.url, "secure_tokens"), 2);

    /* export: without the flag no token row, with it every one */
    char *body = export_body(a.url);
    assert_int_equal(dump_rows_of(body, "secure_tokens"), 0);
    assert_int_equal(dump_rows_of(body, "revoked_jtis"), 2);
    assert_non_null(strstr(body, "\"secure_tokens\":{\"rows\":0,"));
    free(body);
    char *path = ts_strf("%s/tokens-%d.jsonl", g_tmp, g_seq++);
    run_res r = RUN(a.url, "export", "--include-tokens", "--out", path);
    EXPECT_RC(r, 0);
    run_free(&r);
    body = slurp(path);
    assert_int_equal(dump_rows_of(body, "secure_tokens"), 2);
    free(body);
    r = RUN(d.url, "import", path);
    EXPECT_RC(r, 0);
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    assert_int_equal(count_rows(d.url, "secure_tokens"), 2);

    /* copy: the same rule, and --verify passes both ways */
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--verify");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "--include-tokens");
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    assert_int_equal(count_rows(b.url, "secure_tokens"), 0);
    assert_int_equal(count_rows(b.url, "revoked_jtis"), 2);
    assert_int_equal(count_rows(b.url, "messages"), count_rows(a.url, "messages"));
    r = RUN(NULL, "copy", "--from", a.url, "--to", c.url, "--verify", "--include-tokens");
    EXPECT_RC(r, 0);
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    assert_int_equal(count_rows(c.url, "secure_tokens"), 2);
    /* help says what the flag does */
    r = RUN(NULL, "export", "--help");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "--include-tokens");
    run_free(&r);
    unlink(path);
    free(path);
    tdb_drop(&a);
    tdb_drop(&b);
    tdb_drop(&c);
    tdb_drop(&d);
}

/* A dump an older ctxd wrote (tests/xfer/dump_schema2.jsonl: `ctxd export` of schema
 * version 2, made by the release before protected tokens were kept as digests; its
 * secure_tokens rows hold sct_ tokens and JWTs in clear) still imports: its sessions are
 * open, its protected tokens are not imported (a note counts them), and the database ends
 * up holding no token of it; the trailer's checksums are checked against the file as
 * written (a damaged old dump is refused). */
static void t_old_dump(void **state)
{
    (void)state;
    tdb c;
    tdb_new(g_kind, &c);
    run_res r = RUN(c.url, "import", CTXD_OLD_DUMP);
    EXPECT_RC(r, 0);
    assert_null(strstr(r.out, "DIFFERS"));
    EXPECT_HAS(r.err, "2 protected token(s) of this dump (schema version 2) are not imported");
    run_free(&r);
    assert_int_equal(count_rows(c.url, "sessions"), 1);
    assert_int_equal(count_rows(c.url, "messages"), 3);
    assert_int_equal(count_rows(c.url, "agent_memory"), 2);
    assert_int_equal(count_rows(c.url, "secure_tokens"), 0);
    assert_int_equal(count_rows(c.url, "revoked_jtis"), 1);
    char *body = export_body(c.url);
    assert_null(strstr(body, "sct_"));
    assert_null(strstr(body, "eyJ"));
    assert_non_null(strstr(body, "\"access\":null"));
    free(body);
    /* again: everything already there, nothing about tokens differs */
    r = RUN(c.url, "import", CTXD_OLD_DUMP);
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "0 row(s) written");
    assert_null(strstr(r.out, "DIFFERS"));
    run_free(&r);
    tdb_drop(&c);

    /* one character of a clear token changed: the file no longer matches its trailer */
    char *all = slurp(CTXD_OLD_DUMP);
    char *tok = strstr(all, "\"token_id\":\"sct_");
    assert_non_null(tok);
    tok[strlen("\"token_id\":\"sct_")] ^= 1;
    char *path = ts_strf("%s/old-damaged-%d.jsonl", g_tmp, g_seq++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(all, f);
    fclose(f);
    tdb d;
    tdb_new(g_kind, &d);
    r = RUN(d.url, "import", path);
    EXPECT_RC(r, 1);
    EXPECT_HAS(r.err, "table secure_tokens");
    EXPECT_HAS(r.err, "damaged");
    run_free(&r);
    assert_int_equal(count_rows(d.url, "sessions"), 0);
    tdb_drop(&d);
    unlink(path);
    free(path);
    free(all);
}

/* Command-line errors and the dry run on an empty target. */
static void t_cli(void **state)
{
    (void)state;
    tdb a, b;
    tdb_new(K_SQLITE, &a);
    tdb_new(K_SQLITE, &b);
    seed_url(a.url, seed_rich_fn);
    run_res r = RUN(NULL, "copy", "--from", a.url);
    EXPECT_RC(r, 2);
    run_free(&r);
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--batch", "0");
    EXPECT_RC(r, 2);
    run_free(&r);
    r = RUN(NULL, "copy", "--help");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "--allow-nonempty");
    EXPECT_HAS(r.out, "identical");
    run_free(&r);
    r = RUN(NULL, "--help");
    EXPECT_HAS(r.out, "copy");
    EXPECT_HAS(r.out, "export");
    EXPECT_HAS(r.out, "import");
    run_free(&r);
    r = RUN(NULL, "copy", "--from", a.url, "--to", b.url, "--dry-run");
    EXPECT_RC(r, 0);
    EXPECT_HAS(r.out, "messages");
    EXPECT_HAS(r.out, "7 row(s): 7 to copy");
    run_free(&r);
    /* a password in a URL is never printed */
    r = RUN(NULL, "copy", "--from", a.url, "--to", "postgresql://u:s3cretpw@127.0.0.1:1/x");
    EXPECT_RC(r, 1);
    assert_null(strstr(r.err, "s3cretpw"));
    assert_null(strstr(r.out, "s3cretpw"));
    run_free(&r);
    /* export to stdout is the same as to a file */
    r = RUN(a.url, "export");
    EXPECT_RC(r, 0);
    char *body = export_body(a.url);
    expect_same_body(strchr(r.out, '\n') + 1, body, "stdout vs --out");
    free(body);
    run_free(&r);
    tdb_drop(&a);
    tdb_drop(&b);
}

/* Copies chain[0] -> chain[1] -> ... -> chain[n-1], each hop with --verify, and
 * checks every database then exports exactly what chain[0] does (names[i-1] says
 * which one differs). Returns chain[0]'s export body (caller frees). */
static char *copy_chain_verified(const char *const *chain, int n, const char *const *names)
{
    for (int i = 0; i + 1 < n; i++) {
        run_res r = RUN(NULL, "copy", "--from", chain[i], "--to", chain[i + 1], "--verify");
        EXPECT_RC(r, 0);
        assert_null(strstr(r.out, "DIFFERS"));
        run_free(&r);
    }
    char *ea = export_body(chain[0]);
    for (int i = 1; i < n; i++) {
        char *ex = export_body(chain[i]);
        expect_same_body(ea, ex, names[i - 1]);
        free(ex);
    }
    return ea;
}

/* SQLite -> PostgreSQL -> MariaDB -> SQLite: identical canonical exports. */
static void t_round_trip_all(void **state)
{
    (void)state;
    tdb a, p, m, z;
    tdb_new(K_SQLITE, &a);
    tdb_new(K_PG, &p);
    tdb_new(K_MARIADB, &m);
    tdb_new(K_SQLITE, &z);
    seed_url(a.url, seed_rich_fn);
    const char *const chain[4] = {a.url, p.url, m.url, z.url};
    const char *const names[3] = {"postgresql", "mariadb", "sqlite again"};
    char *ea = copy_chain_verified(chain, 4, names);
    expect_next_ids(z.url, 1001, max_audit_id(a.url));
    expect_next_ids(m.url, 1001, max_audit_id(a.url));
    expect_next_ids(p.url, 1001, max_audit_id(a.url));
    free(ea);
    tdb_drop(&a);
    tdb_drop(&p);
    tdb_drop(&m);
    tdb_drop(&z);
}

/* SQLite -> MongoDB -> SQLite with --verify, identical exports, ids continuing;
 * then the SQLite dump imported into a second MongoDB database. */
static void t_round_trip_mongo(void **state)
{
    (void)state;
    tdb a, g, z, g2;
    tdb_new(K_SQLITE, &a);
    tdb_new(K_MONGO, &g);
    tdb_new(K_SQLITE, &z);
    tdb_new(K_MONGO, &g2);
    seed_url(a.url, seed_rich_fn);
    const char *const chain[3] = {a.url, g.url, z.url};
    const char *const names[2] = {"mongodb", "sqlite again"};
    char *ea = copy_chain_verified(chain, 3, names);
    char *dump = export_file(a.url);
    expect_header(dump, a.url, "sqlite");
    char *gdump = export_file(g.url);
    expect_header(gdump, g.url, "mongodb");
    unlink(gdump);
    free(gdump);
    run_res r = RUN(g2.url, "import", dump, "--batch", "3");
    EXPECT_RC(r, 0);
    run_free(&r);
    r = RUN(g2.url, "import", dump); /* again: everything already there */
    EXPECT_RC(r, 0);
    run_free(&r);
    char *eg2 = export_body(g2.url);
    expect_same_body(ea, eg2, "mongodb import");
    expect_next_ids(g.url, 1001, max_audit_id(a.url));
    expect_next_ids(z.url, 1001, max_audit_id(a.url));
    unlink(dump);
    free(dump);
    free(ea);
    free(eg2);
    tdb_drop(&a);
    tdb_drop(&g);
    tdb_drop(&z);
    tdb_drop(&g2);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sqlite";
    log_set_level(LOG_WARN);
    g_tmp = ts_mkdtemp("xfer");
    g_envfile = ts_strf("%s/empty.env", g_tmp);
    FILE *f = fopen(g_envfile, "w");
    if (f)
        fclose(f);
    int rc;
    if (strcmp(mode, "all") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(t_round_trip_all)};
        rc = cmocka_run_group_tests_name("xfer round trip sqlite->pg->mariadb->sqlite", tests, NULL,
                                         NULL);
    } else if (strcmp(mode, "mongo") == 0) {
        g_kind = K_MONGO;
        const struct CMUnitTest tests[] = {cmocka_unit_test(t_round_trip_mongo),
                                           cmocka_unit_test(t_old_dump)};
        rc = cmocka_run_group_tests_name("xfer sqlite->mongodb->sqlite", tests, NULL, NULL);
    } else if (strcmp(mode, "sqlite") == 0) {
        g_kind = K_SQLITE;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(t_cli),
            cmocka_unit_test(t_copy_verify),
            cmocka_unit_test(t_export_import),
            cmocka_unit_test(t_nonempty),
            cmocka_unit_test(t_bad_dumps),
            cmocka_unit_test(t_nul_rows),
            cmocka_unit_test(t_killed_copy),
            cmocka_unit_test(t_present_and_versions),
            cmocka_unit_test(t_tokens_flag),
            cmocka_unit_test(t_old_dump),
            cmocka_unit_test(t_cancel_copy),
            cmocka_unit_test(t_interrupt_cli),
            cmocka_unit_test(t_interrupt_pipe),
            cmocka_unit_test(t_interrupt_twice),
        };
        rc = cmocka_run_group_tests_name("xfer sqlite", tests, NULL, NULL);
    } else if (strcmp(mode, "pg") == 0 || strcmp(mode, "mariadb") == 0) {
        g_kind = strcmp(mode, "pg") == 0 ? K_PG : K_MARIADB;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(t_copy_verify), cmocka_unit_test(t_export_import),
            cmocka_unit_test(t_nonempty),    cmocka_unit_test(t_bad_dumps),
            cmocka_unit_test(t_nul_rows),    cmocka_unit_test(t_killed_copy),
            cmocka_unit_test(t_tokens_flag), cmocka_unit_test(t_old_dump),
            cmocka_unit_test(t_cancel_copy), cmocka_unit_test(t_interrupt_cli),
        };
        rc = cmocka_run_group_tests_name(g_kind == K_PG ? "xfer postgresql" : "xfer mariadb", tests,
                                         NULL, NULL);
    } else {
        fprintf(stderr, "usage: test_xfer sqlite|pg|mariadb|all|mongo\n");
        rc = 2;
    }
    ts_rm_rf(g_tmp);
    free(g_tmp);
    free(g_envfile);
    return rc;
}
