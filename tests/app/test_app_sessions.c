/* tests/app/test_app_sessions.c — who a caller is on an MCP session and what it may
 * learn there, through an in-process mcp_server with app/ registered on a real store
 * (argv[1]): MCP sessions carry the app's state as over HTTP (app_session_open), and
 * each request brings its own credential (app_req: API key verified or not, bearer,
 * peer address). Covered: the identity a session remembers needs the credential that
 * created it (and a token refreshed away stops working); resources/subscribe needs an
 * identity that may read the resource; notifications reach only subscribers who may
 * read the message; list_sessions counts and lists participants over visible messages;
 * refused logins are audited and never charged to other callers' rate buckets;
 * subscription and session caps.
 * Must not: sleep (clocks are injected) or leave files behind. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/app.h"
#include "backend_setup.h"
#include "base/utc.h"

#define SECRET "test-secret-0123456789abcdef-0123456789"
#define KEY "test-api-key"

static const char *g_url;

/* one MCP client: its session (with the app's state on it), what the server sent it
 * outside responses, and the credential its next request presents */
typedef struct cl {
    mcp_session *s;
    pthread_mutex_t mu;
    json_t *sent;
    app_req req;
    char bearer[600];
    int id;
} cl;

enum {
    NCL = 5
};

typedef struct fx {
    tb_db db;
    int64_t mono;
    auth_ctx *auth;
    auth_ratelimit *rl;
    app_t *app;
    mcp_server *srv;
    cl c[NCL];
} fx;

/* keeps what the server sent on its own, as text (parsed by updates()) */
static int on_send(void *ud, void *stream, const char *json, size_t len)
{
    (void)stream;
    cl *c = ud;
    pthread_mutex_lock(&c->mu);
    json_array_append_new(c->sent, json_stringn(json, len));
    pthread_mutex_unlock(&c->mu);
    return 0;
}
static const mcp_transport_ops ops = {on_send};

/* The response to one request (new reference); steals params (may be NULL). */
static json_t *call(cl *c, const char *method, json_t *params)
{
    json_t *rq = json_pack("{s:s s:i s:s s:o*}", "jsonrpc", "2.0", "id", ++c->id, "method", method,
                           "params", params);
    char *body = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);
    mcp_reply rep;
    mcp_session_handle(c->s, body, strlen(body), &(mcp_request_ctx){NULL, &c->req}, &rep);
    free(body);
    json_t *r = rep.json ? json_loadb(rep.json, rep.len, 0, NULL) : NULL;
    mcp_reply_free(&rep);
    assert_non_null(r);
    return r;
}

/* tools/call: the structured result (new reference); steals args. */
static json_t *tool(cl *c, const char *name, json_t *args)
{
    json_t *r = call(c, "tools/call", json_pack("{s:s s:o}", "name", name, "arguments", args));
    json_t *sc = json_incref(json_object_get(json_object_get(r, "result"), "structuredContent"));
    json_decref(r);
    assert_non_null(sc);
    return sc;
}

/* The error code of a tools result (NULL on success); frees it. */
static char *code_of(json_t *sc)
{
    const char *c = json_is_true(json_object_get(sc, "success"))
                        ? NULL
                        : json_string_value(json_object_get(sc, "code"));
    char *r = c ? strdup(c) : NULL;
    json_decref(sc);
    return r;
}

static void expect_tool(cl *c, const char *name, json_t *args, const char *want)
{
    char *got = code_of(tool(c, name, args));
    if (want)
        assert_non_null(got);
    if (want && strcmp(got, want) != 0)
        fail_msg("%s: expected %s, got %s", name, want, got);
    if (!want && got)
        fail_msg("%s: expected success, got %s", name, got);
    free(got);
}

/* A JSON-RPC error's data.code, else its code as text, else "ok"; frees r. */
static const char *outcome(json_t *r)
{
    static char buf[64];
    json_t *err = json_object_get(r, "error");
    const char *dc = json_string_value(json_object_get(json_object_get(err, "data"), "code"));
    if (!err)
        snprintf(buf, sizeof buf, "ok");
    else if (dc)
        snprintf(buf, sizeof buf, "%s", dc);
    else
        snprintf(buf, sizeof buf, "%lld",
                 (long long)json_integer_value(json_object_get(err, "code")));
    json_decref(r);
    return buf;
}

static const char *subscribe(cl *c, const char *uri, bool on)
{
    return outcome(call(c, on ? "resources/subscribe" : "resources/unsubscribe",
                        json_pack("{s:s}", "uri", uri)));
}

/* resources/read: the text of the contents (malloc'd), or "!<outcome>". */
static char *read_text(cl *c, const char *uri)
{
    json_t *r = call(c, "resources/read", json_pack("{s:s}", "uri", uri));
    const char *t = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(r, "result"), "contents"), 0), "text"));
    if (t) {
        char *s = strdup(t);
        json_decref(r);
        return s;
    }
    char *s = malloc(80);
    snprintf(s, 80, "!%s", outcome(r));
    return s;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The URIs of the resources/updated notifications c got since the last call, sorted
 * and joined by spaces (malloc'd); clears them. */
static char *updates(cl *c)
{
    json_t *m;
    size_t i, n = 0;
    const char *u[64];
    json_t *got = json_array();
    pthread_mutex_lock(&c->mu);
    json_array_foreach (c->sent, i, m)
        json_array_append_new(got, json_loads(json_string_value(m), 0, NULL));
    json_array_clear(c->sent);
    pthread_mutex_unlock(&c->mu);
    json_array_foreach (got, i, m)
        if (n < 64 && !strcmp(json_string_value(json_object_get(m, "method")),
                              "notifications/resources/updated"))
            u[n++] = json_string_value(json_object_get(json_object_get(m, "params"), "uri"));
    qsort(u, n, sizeof *u, by_text);
    char *out = calloc(1, 64 * 80 + 1);
    for (size_t k = 0; k < n; k++)
        snprintf(out + strlen(out), 80, "%s%s", k ? " " : "", u[k]);
    json_decref(got);
    return out;
}

static void expect_updates(cl *c, const char *want)
{
    char *got = updates(c);
    assert_string_equal(got, want);
    free(got);
}

/* authenticate_agent with the API key on c's session; the token (malloc'd). */
static char *login(cl *c, const char *agent, const char *type, const char *perms)
{
    json_t *args = json_pack("{s:s s:s}", "agent_id", agent, "agent_type", type);
    if (perms) {
        json_error_t je;
        json_object_set_new(args, "requested_permissions", json_loads(perms, 0, &je));
    }
    bool had = c->req.api_key_ok;
    c->req.api_key_ok = true;
    json_t *sc = tool(c, "authenticate_agent", args);
    c->req.api_key_ok = had;
    const char *t = json_string_value(json_object_get(sc, "token"));
    assert_non_null(t);
    char *r = strdup(t);
    json_decref(sc);
    return r;
}

/* the next requests of c present `tok` as a bearer (NULL: none) */
static void bearer(cl *c, const char *tok)
{
    snprintf(c->bearer, sizeof c->bearer, "Bearer %s", tok ? tok : "");
    c->req.bearer = tok ? c->bearer : NULL;
}

static char *new_session(cl *c, const char *tok)
{
    json_t *sc =
        tool(c, "create_session", json_pack("{s:s s:s}", "purpose", "t", "auth_token", tok));
    char *sid = strdup(json_string_value(json_object_get(sc, "session_id")));
    json_decref(sc);
    return sid;
}

static void post(cl *c, const char *tok, const char *sid, const char *content, const char *vis)
{
    expect_tool(c, "add_message",
                json_pack("{s:s s:s s:s s:s}", "session_id", sid, "content", content, "visibility",
                          vis, "auth_token", tok),
                NULL);
}

static int64_t fake_mono(void *ud)
{
    return ((fx *)ud)->mono;
}

static int fx_setup(void **state, const app_opts *extra, double rate, double burst)
{
    fx *f = calloc(1, sizeof *f);
    err_t e;
    if (tb_fresh(g_url, &f->db, &e) != ERR_OK) {
        fprintf(stderr, "fresh db: %s\n", e.msg);
        return -1;
    }
    f->mono = 1000000;
    /* the shared key may claim any identity here (as before agent keys) */
    auth_opts ao = {.jwt_secret = SECRET,
                    .api_key = KEY,
                    .store = f->db.st,
                    .shared_key_types = "*",
                    .shared_key_permissions = "read,write,admin,debug"};
    assert_int_equal(auth_ctx_new(&ao, &f->auth, &e), ERR_OK);
    if (rate > 0) {
        auth_rl_opts ro = {.rate_per_s = rate, .burst = burst, .clock = fake_mono, .clock_ud = f};
        f->rl = auth_rl_new(&ro);
    }
    app_opts o = extra ? *extra : (app_opts){0};
    o.store = f->db.st;
    o.auth = f->auth;
    o.rl = f->rl;
    assert_int_equal(app_new(&o, &f->app, &e), ERR_OK);
    mcp_server_info info = app_server_info();
    f->srv = mcp_server_new(&info);
    assert_int_equal(app_register(f->app, f->srv, &e), ERR_OK);
    for (int i = 0; i < NCL; i++) {
        cl *c = &f->c[i];
        pthread_mutex_init(&c->mu, NULL);
        c->sent = json_array();
        c->req = (app_req){.rate_key = "192.0.2.1"};
        c->s = mcp_session_new(f->srv, &ops, c);
        app_session_open(c->s, false);
        json_decref(call(c, "initialize",
                         json_pack("{s:s s:{} s:{s:s s:s}}", "protocolVersion", "2025-03-26",
                                   "capabilities", "clientInfo", "name", "t", "version", "1")));
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return fx_setup(state, NULL, 0, 0);
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < NCL; i++) {
        app_session_close(f->c[i].s);
        mcp_session_free(f->c[i].s);
        json_decref(f->c[i].sent);
        pthread_mutex_destroy(&f->c[i].mu);
    }
    mcp_server_free(f->srv);
    app_free(f->app);
    auth_rl_free(f->rl);
    auth_ctx_free(f->auth);
    tb_drop(&f->db);
    free(f);
    return 0;
}

/* ---- the identity a session remembers ------------------------------------------------ */

/* authenticate_agent remembers the identity for the session, but a request gets it only
 * when it presents the credential again: the API key, or the issued token as a bearer.
 * Only the session id (another client on the same session) is not enough. */
static void test_remembered_identity_needs_credential(void **state)
{
    fx *f = *state;
    cl *a = &f->c[0], *m = &f->c[1];
    char *ta = login(a, "alice", "claude", NULL);
    char *tm = login(m, "mallory", "claude", NULL);
    expect_tool(a, "set_memory",
                json_pack("{s:s s:s s:s}", "key", "k", "value", "alice-v", "auth_token", ta), NULL);
    char *t;
    /* the same session, no credential: nothing remembered applies */
    a->req.api_key_ok = false;
    assert_string_equal(t = read_text(a, "agent://alice/memory"), "!AUTH_FAILED");
    free(t);
    /* the API key again */
    a->req.api_key_ok = true;
    assert_non_null(strstr(t = read_text(a, "agent://alice/memory"), "alice-v"));
    free(t);
    a->req.api_key_ok = false;
    /* the issued token as a bearer */
    bearer(a, ta);
    assert_non_null(strstr(t = read_text(a, "agent://alice/memory"), "alice-v"));
    free(t);
    /* someone else's token: their identity, not the remembered one */
    bearer(a, tm);
    assert_string_equal(t = read_text(a, "agent://alice/memory"), "!PERMISSION_DENIED");
    free(t);
    bearer(a, NULL);
    /* the prompt, the same */
    json_t *r = call(a, "prompts/get",
                     json_pack("{s:s s:{s:s}}", "name", "debug-session", "arguments", "session_id",
                               "session_0123456789abcdef"));
    assert_string_equal(outcome(r), "AUTH_FAILED");
    /* a token refreshed away stops working where it was remembered */
    json_t *sc = tool(m, "refresh_token", json_pack("{s:s}", "current_token", ta));
    assert_true(json_is_true(json_object_get(sc, "success")));
    json_decref(sc);
    a->req.api_key_ok = true;
    assert_string_equal(t = read_text(a, "agent://alice/memory"), "!TOKEN_AUTHENTICATION_FAILED");
    free(t);
    free(ta);
    free(tm);
}

/* ---- subscriptions -------------------------------------------------------------------- */

/* resources/subscribe needs an identity that may read the resource, else the error a
 * read would give; unsubscribe by a client that is not the session's owner is refused */
static void test_subscribe_needs_a_reader(void **state)
{
    fx *f = *state;
    cl *a = &f->c[0], *anon = &f->c[1];
    char *ta = login(a, "alice", "claude", NULL);
    char *sid = new_session(a, ta);
    char uri[96];
    snprintf(uri, sizeof uri, "session://%s", sid);
    assert_string_equal(subscribe(anon, uri, true), "AUTH_FAILED");
    assert_string_equal(subscribe(anon, "server://info/x", true), "AUTH_FAILED");
    a->req.api_key_ok = true;
    assert_string_equal(subscribe(a, "session://session_0123456789abcdef", true), "-32002");
    assert_string_equal(subscribe(a, "agent://bob/memory", true), "PERMISSION_DENIED");
    assert_string_equal(subscribe(a, "nothing://at/all", true), "-32002");
    assert_string_equal(subscribe(a, "session://x/messages/5000", true), "-32602");
    assert_string_equal(subscribe(a, uri, true), "ok");
    assert_string_equal(subscribe(a, "agent://alice/memory", true), "ok");
    /* the session's owner credential is needed to unsubscribe too */
    a->req.api_key_ok = false;
    assert_string_equal(subscribe(a, uri, false), "AUTH_FAILED");
    a->req.api_key_ok = true;
    assert_string_equal(subscribe(a, uri, false), "ok");
    free(ta);
    free(sid);
}

/* notifications/resources/updated reaches only the subscribers who may read the
 * message that caused it */
static void test_notifications_only_to_readers(void **state)
{
    fx *f = *state;
    cl *a = &f->c[0], *c2 = &f->c[1], *g = &f->c[2], *ad = &f->c[3], *w = &f->c[4];
    char *ta = login(a, "alice", "claude", NULL);
    char *tc = login(c2, "carol", "claude", NULL);
    char *tg = login(g, "gina", "gemini", NULL);
    char *tad = login(ad, "root", "admin", "[\"read\",\"write\",\"admin\"]");
    char *sid = new_session(a, ta);
    char uri[96], all[400];
    snprintf(uri, sizeof uri, "session://%s", sid);
    cl *subs[] = {a, c2, g, ad};
    for (size_t i = 0; i < 4; i++) {
        subs[i]->req.api_key_ok = true;
        assert_string_equal(subscribe(subs[i], uri, true), "ok");
    }
    post(w, ta, sid, "for everyone", "public");
    for (size_t i = 0; i < 4; i++)
        expect_updates(subs[i], uri);
    post(w, ta, sid, "alice only", "private");
    expect_updates(a, uri);
    expect_updates(c2, "");
    expect_updates(g, "");
    expect_updates(ad, uri);
    post(w, ta, sid, "claude agents", "agent_only");
    expect_updates(a, uri);
    expect_updates(c2, uri);
    expect_updates(g, "");
    expect_updates(ad, uri);
    post(w, tad, sid, "admins", "admin_only");
    expect_updates(a, "");
    expect_updates(c2, "");
    expect_updates(g, "");
    expect_updates(ad, uri);
    /* a revoked reader hears nothing more */
    snprintf(all, sizeof all, "%s", uri);
    json_t *sc = tool(w, "refresh_token", json_pack("{s:s}", "current_token", tg));
    json_decref(sc);
    post(w, ta, sid, "again public", "public");
    expect_updates(g, "");
    expect_updates(a, all);
    free(ta), free(tc), free(tg), free(tad), free(sid);
}

/* ---- list_sessions -------------------------------------------------------------------- */

/* message_count and participants of list_sessions count only what the caller may read */
static void test_list_sessions_visible(void **state)
{
    fx *f = *state;
    cl *a = &f->c[0];
    char *ta = login(a, "alice", "claude", NULL);
    char *tg = login(a, "gina", "gemini", NULL);
    char *tad = login(a, "root", "admin", "[\"read\",\"write\",\"admin\"]");
    char *sid = new_session(a, ta);
    post(a, ta, sid, "hello", "public");
    post(a, ta, sid, "alice 1", "private");
    post(a, ta, sid, "alice 2", "private");
    post(a, tg, sid, "gina", "private");
    const struct {
        const char *tok;
        int count;
        const char *parts;
    } want[] = {
        {ta, 3, "[\"alice\"]"}, {tg, 2, "[\"alice\",\"gina\"]"}, {tad, 4, "[\"alice\",\"gina\"]"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *sc = tool(a, "list_sessions", json_pack("{s:s}", "auth_token", want[i].tok));
        json_t *s0 = json_array_get(json_object_get(sc, "sessions"), 0);
        assert_int_equal(json_integer_value(json_object_get(s0, "message_count")), want[i].count);
        char *p = json_dumps(json_object_get(s0, "participants"), JSON_COMPACT);
        assert_string_equal(p, want[i].parts);
        free(p);
        json_decref(sc);
    }
    free(ta), free(tg), free(tad), free(sid);
}

/* ---- logins ----------------------------------------------------------------------------- */

static size_t audits(fx *f, const char *event, const char *must_contain)
{
    store_audit_query q = {.event_type = event, .limit = 100};
    store_audits l;
    err_t e;
    assert_int_equal(store_audit_list(f->db.st, &q, &l, &e), ERR_OK);
    for (size_t i = 0; i < l.n; i++) {
        assert_non_null(l.v[i].metadata);
        assert_non_null(strstr(l.v[i].metadata, must_contain));
        assert_string_equal(l.v[i].agent_id, "victim");
    }
    size_t n = l.n;
    store_audits_free(&l);
    return n;
}

/* a refused login is audited with the peer and the claimed agent; it charges only the
 * caller's own address, so another address logs in as the same agent */
static void test_refused_logins(void **state)
{
    fx *f = *state;
    cl *x = &f->c[0], *y = &f->c[1];
    x->req.rate_key = "198.51.100.9";
    y->req.rate_key = "203.0.113.5";
    json_t *args = json_pack("{s:s s:s}", "agent_id", "victim", "agent_type", "claude");
    int refused = 0, limited = 0;
    for (int i = 0; i < 8; i++) {
        char *c = code_of(tool(x, "authenticate_agent", json_deep_copy(args)));
        refused += c && !strcmp(c, "AUTH_FAILED");
        limited += c && !strcmp(c, "RATE_LIMITED");
        free(c);
    }
    assert_int_equal(refused, 3); /* the burst of x's own address */
    assert_int_equal(limited, 5);
    assert_int_equal(audits(f, "auth_failed", "198.51.100.9"), 3);
    y->req.api_key_ok = true;
    for (int i = 0; i < 3; i++)
        expect_tool(y, "authenticate_agent", json_deep_copy(args), NULL);
    json_decref(args);
}

static int setup_rl(void **state)
{
    return fx_setup(state, NULL, 1, 3);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_remembered_identity_needs_credential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_needs_a_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications_only_to_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sessions_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_logins, setup_rl, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
