/* tests/app/app_harness.c — see app_harness.h.
 * Must not: sleep (the clock is injected) or leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"

const char *g_url;
app_limits g_limits;

/* the notifications a client session receives */

static int cap_send(void *ud, void *stream, const char *json, size_t len)
{
    (void)stream;
    cap *c = ud;
    json_error_t je;
    json_t *v = json_loadb(json, len, 0, &je);
    pthread_mutex_lock(&c->mu);
    if (v)
        json_array_append_new(c->msgs, v);
    pthread_mutex_unlock(&c->mu);
    return 0;
}
static const mcp_transport_ops cap_ops = {cap_send};

utc_us fake_clock(void *ud)
{
    return ((fx *)ud)->now;
}
int64_t fake_mono(void *ud)
{
    return ((fx *)ud)->mono;
}

void client_open(fx *f, client *cl)
{
    pthread_mutex_init(&cl->cap.mu, NULL);
    cl->cap.msgs = json_array();
    cl->conn = app_conn_new(false);
    cl->req = (app_req){.conn = cl->conn, .api_key_ok = true, .rate_key = "test"};
    cl->s = mcp_session_new(f->srv, &cap_ops, &cl->cap);
    json_t *r = rpc(cl, "initialize",
                    json_pack("{s:s s:{} s:{s:s s:s}}", "protocolVersion", "2025-06-18",
                              "capabilities", "clientInfo", "name", "test", "version", "1"));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
    mcp_reply rep;
    const char *n = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    mcp_session_handle(cl->s, n, strlen(n), &(mcp_request_ctx){NULL, &cl->req}, &rep);
    mcp_reply_free(&rep);
}

void client_close(client *cl)
{
    mcp_session_free(cl->s);
    app_conn_free(cl->conn);
    json_decref(cl->cap.msgs);
    pthread_mutex_destroy(&cl->cap.mu);
}

/* The fixture with its auth context from `conf` (NULL: auth_opts as below, the shared key
 * under the policy types / perms). */
static int fx_setup_auth(void **state, double rate, double burst, const conf_t *conf,
                         const char *types, const char *perms)
{
    fx *f = calloc(1, sizeof *f);
    err_t e;
    if (tb_fresh(g_url, &f->db, &e) != ERR_OK) {
        fprintf(stderr, "fresh db: %s\n", e.msg);
        return -1;
    }
    f->now = utc_now();
    f->mono = 1000000;
    auth_opts ao = {.jwt_secret = SECRET,
                    .api_key = API_KEY,
                    .store = f->db.st,
                    .clock = fake_clock,
                    .clock_ud = f,
                    .shared_key_types = types,
                    .shared_key_permissions = perms};
    if (conf) {
        if (auth_ctx_from_conf(conf, f->db.st, &f->auth, &e) != ERR_OK) {
            fprintf(stderr, "auth from configuration: %s\n", e.msg);
            return -1;
        }
    } else {
        assert_int_equal(auth_ctx_new(&ao, &f->auth, &e), ERR_OK);
    }
    if (rate > 0) {
        auth_rl_opts ro = {.rate_per_s = rate, .burst = burst, .clock = fake_mono, .clock_ud = f};
        f->rl = auth_rl_new(&ro);
    }
    app_opts o = {.store = f->db.st, .auth = f->auth, .rl = f->rl, .limits = g_limits};
    assert_int_equal(app_new(&o, &f->app, &e), ERR_OK);
    mcp_server_info info = app_server_info();
    f->srv = mcp_server_new(&info);
    if (app_register(f->app, f->srv, &e) != ERR_OK) {
        fprintf(stderr, "register: %s\n", e.msg);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        client_open(f, &f->c[i]);
    *state = f;
    return 0;
}

int fx_setup_rl(void **state, double rate, double burst)
{
    /* these clients hold the shared key under a policy that lets it claim any identity
     * (what the tests written before agent keys rely on) */
    return fx_setup_auth(state, rate, burst, NULL, "*", "read,write,admin,debug");
}

int fx_setup_conf(void **state, const conf_t *conf)
{
    return fx_setup_auth(state, 0, 0, conf, NULL, NULL);
}

int fx_setup_policy(void **state, const char *types, const char *perms)
{
    return fx_setup_auth(state, 0, 0, NULL, types, perms);
}

int setup(void **state)
{
    return fx_setup_rl(state, 0, 0);
}
int setup_rl(void **state)
{
    return fx_setup_rl(state, 1, 3);
}

int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 3; i++)
        client_close(&f->c[i]);
    mcp_server_free(f->srv);
    app_free(f->app);
    auth_rl_free(f->rl);
    auth_ctx_free(f->auth);
    tb_drop(&f->db);
    free(f);
    return 0;
}

/* one JSON-RPC request; returns the parsed response (new ref). Steals params. */
json_t *rpc(client *cl, const char *method, json_t *params)
{
    json_t *req =
        json_pack("{s:s s:i s:s}", "jsonrpc", "2.0", "id", ++cl->next_id, "method", method);
    if (params)
        json_object_set_new(req, "params", params);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    mcp_reply rep;
    mcp_reply_kind k =
        mcp_session_handle(cl->s, body, strlen(body), &(mcp_request_ctx){NULL, &cl->req}, &rep);
    free(body);
    assert_int_equal(k, MCP_REPLY_RESPONSE);
    json_error_t je;
    json_t *r = json_loads(rep.json, 0, &je);
    assert_non_null(r);
    mcp_reply_free(&rep);
    return r;
}

/* tools/call on client 0; returns structuredContent (new ref); steals args. The text
 * content must be the same JSON. */
json_t *toolc(client *cl, const char *name, json_t *args)
{
    json_t *r = rpc(cl, "tools/call",
                    json_pack("{s:s s:o}", "name", name, "arguments", args ? args : json_object()));
    json_t *res = json_object_get(r, "result");
    assert_non_null(res);
    json_t *sc = json_object_get(res, "structuredContent");
    if (!sc) {
        fprintf(stderr, "no structuredContent: %s\n", json_dumps(res, 0));
        fail();
    }
    json_t *text = json_array_get(json_object_get(res, "content"), 0);
    json_error_t je;
    json_t *parsed = json_loads(json_string_value(json_object_get(text, "text")), 0, &je);
    assert_true(json_equal(parsed, sc));
    json_decref(parsed);
    bool is_err = json_is_true(json_object_get(res, "isError"));
    assert_int_equal(is_err, !json_is_true(json_object_get(sc, "success")));
    json_incref(sc);
    json_decref(r);
    return sc;
}

bool ok(json_t *sc)
{
    return json_is_true(json_object_get(sc, "success"));
}
const char *code(json_t *sc)
{
    return json_string_value(json_object_get(sc, "code"));
}

/* asserts an error result with that code (checks the envelope) and frees it */
void expect_code(json_t *sc, const char *want)
{
    if (!code(sc) || strcmp(code(sc), want) != 0) {
        char *t = json_dumps(sc, 0);
        fprintf(stderr, "expected %s, got %s\n", want, t);
        free(t);
        fail();
    }
    assert_true(json_is_false(json_object_get(sc, "success")));
    assert_non_null(json_string_value(json_object_get(sc, "error")));
    assert_non_null(json_string_value(json_object_get(sc, "severity")));
    assert_true(json_is_boolean(json_object_get(sc, "recoverable")));
    assert_non_null(json_string_value(json_object_get(sc, "timestamp")));
    json_decref(sc);
}

void expect_ok(json_t *sc)
{
    if (!ok(sc)) {
        char *t = json_dumps(sc, 0);
        fprintf(stderr, "expected success, got %s\n", t);
        free(t);
        fail();
    }
}

char *authc(client *cl, const char *id, const char *type, const char *perms)
{
    json_t *a = json_pack("{s:s s:s}", "agent_id", id, "agent_type", type);
    if (perms) {
        json_error_t je;
        json_object_set_new(a, "requested_permissions", json_loads(perms, 0, &je));
    }
    json_t *sc = toolc(cl, "authenticate_agent", a);
    expect_ok(sc);
    assert_string_equal(json_string_value(json_object_get(sc, "token_type")), "Protected");
    char *t = strdup(json_string_value(json_object_get(sc, "token")));
    json_decref(sc);
    return t;
}

char *new_session(fx *f, const char *tok)
{
    json_t *sc =
        tool(f, "create_session", json_pack("{s:s s:s}", "purpose", "test", "auth_token", tok));
    expect_ok(sc);
    char *sid = strdup(json_string_value(json_object_get(sc, "session_id")));
    assert_int_equal(strlen(sid), 8 + 16);
    json_decref(sc);
    return sid;
}

int64_t post(fx *f, const char *tok, const char *sid, const char *content, const char *vis)
{
    json_t *sc = tool(f, "add_message",
                      json_pack("{s:s s:s s:s s:s}", "session_id", sid, "content", content,
                                "visibility", vis, "auth_token", tok));
    expect_ok(sc);
    int64_t id = json_integer_value(json_object_get(sc, "message_id"));
    assert_true(id > 0);
    json_decref(sc);
    return id;
}

size_t nvisible(fx *f, const char *tok, const char *sid)
{
    json_t *sc =
        tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", tok));
    expect_ok(sc);
    size_t n = json_array_size(json_object_get(sc, "messages"));
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), (json_int_t)n);
    json_decref(sc);
    return n;
}
