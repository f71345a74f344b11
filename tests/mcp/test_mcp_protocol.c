/* tests/mcp/test_mcp_protocol.c — unit tests of the MCP library driving
 * mcp_session_handle with JSON strings against the fixture registry: registration (what each
 * kind needs, duplicates, frozen once a session exists), framing (verbatim
 * ids, notifications, errors, batches), lifecycle and version negotiation, ping/setLevel,
 * tools (pagination, validation, structuredContent), resources (read, templates, not
 * found, subscriptions across sessions, updates by template; the subscription index's
 * cost, limits, the product's checks and filters), argument validation
 * failures (precise messages, the product's builder), prompts, completion, progress, logging and
 * cancellation. Asserts what clients rely on (exact bytes where the spec demands it).
 * Must not: sleep to synchronise (condvars only). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sbuf.h"
#include "mcp/mcp.h"
#include "mcp_fixtures.h"

/* ---- a capturing transport ---- */
typedef struct cap {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *msgs;
} cap;

static int cap_send(void *ud, void *stream, const char *json, size_t len)
{
    (void)stream;
    cap *c = ud;
    json_error_t je;
    json_t *v = json_loadb(json, len, 0, &je);
    assert_non_null(v);
    assert_null(memchr(json, '\n', len));
    pthread_mutex_lock(&c->mu);
    json_array_append_new(c->msgs, v);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static const mcp_transport_ops cap_ops = {cap_send};

typedef struct fx {
    mcp_server *srv;
    cap a, b;
    mcp_session *sa, *sb;
} fx;

static void cap_init(cap *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->msgs = json_array();
}

static void cap_fini(cap *c)
{
    json_decref(c->msgs);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

/* number of captured messages with this method */
static size_t cap_count(cap *c, const char *method)
{
    size_t n = 0, i;
    json_t *m;
    pthread_mutex_lock(&c->mu);
    json_array_foreach (c->msgs, i, m)
        if (strcmp(json_string_value(json_object_get(m, "method")), method) == 0)
            n++;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    mcp_server_info info = {"fixture", "1.0", "Fixture", "desc", "Use the tools."};
    f->srv = mcp_server_new(&info);
    mcp_server_set_page_size(f->srv, 5);
    err_t e;
    assert_true(mcp_fixtures_register(f->srv, &e));
    cap_init(&f->a);
    cap_init(&f->b);
    f->sa = mcp_session_new(f->srv, &cap_ops, &f->a);
    f->sb = mcp_session_new(f->srv, &cap_ops, &f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    mcp_session_free(f->sa);
    mcp_session_free(f->sb);
    mcp_server_free(f->srv);
    cap_fini(&f->a);
    cap_fini(&f->b);
    free(f);
    return 0;
}

/* Sends body; returns the raw reply (malloc'd) or NULL when nothing is sent. */
static char *raw(mcp_session *s, const char *body, mcp_reply_kind *kind)
{
    mcp_reply r;
    mcp_reply_kind k = mcp_session_handle(s, body, strlen(body), NULL, &r);
    if (kind)
        *kind = k;
    if (k == MCP_REPLY_NONE) {
        assert_null(r.json);
        return NULL;
    }
    assert_non_null(r.json);
    assert_int_equal(strlen(r.json), r.len);
    assert_null(strchr(r.json, '\n'));
    return r.json;
}

static json_t *rpc(mcp_session *s, const char *body)
{
    char *t = raw(s, body, NULL);
    if (!t)
        return NULL;
    json_error_t je;
    json_t *v = json_loads(t, 0, &je);
    free(t);
    assert_non_null(v);
    return v;
}

static json_t *rpcf(mcp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *rpcf(mcp_session *s, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return rpc(s, buf);
}

static int err_code_of(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    assert_non_null(e);
    return (int)json_integer_value(json_object_get(e, "code"));
}

static json_t *result_of(json_t *resp)
{
    json_t *r = json_object_get(resp, "result");
    if (!r) {
        char *t = json_dumps(resp, 0);
        fail_msg("expected a result, got %s", t);
    }
    return r;
}

static void init_session(mcp_session *s, const char *version)
{
    json_t *r = rpcf(s,
                     "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                     "\"protocolVersion\":\"%s\","
                     "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                     version);
    assert_string_equal(json_string_value(json_object_get(result_of(r), "protocolVersion")),
                        version);
    json_decref(r);
    assert_null(rpc(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
}

/* ---- framing ---- */
static void test_ids_verbatim(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    char *t = raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"method\":\"ping\"}", NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":{}}");
    free(t);
    t = raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
    free(t);
    t = raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"method\":\"ping\"}", NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"result\":{}}");
    free(t);
    t = raw(f->sa,
            "{\"jsonrpc\":\"2.0\",\"id\":-98765432109876543210,\"method\":\"nope\",\"params\":{"
            "\"x\":[1,{\"id\":2}]}}",
            NULL);
    assert_non_null(strstr(t, "\"id\":-98765432109876543210,"));
    assert_non_null(strstr(t, "-32601"));
    free(t);
}

static void test_notifications_unanswered(void **state)
{
    fx *f = *state;
    mcp_reply_kind k;
    assert_null(
        raw(f->sa, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/unknown\",\"params\":{}}", &k));
    assert_int_equal(k, MCP_REPLY_NONE);
    assert_null(raw(f->sa, "{\"jsonrpc\":\"1.0\",\"method\":\"notifications/initialized\"}", &k));
    assert_null(raw(f->sa,
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                    "cancelled\",\"params\":{\"requestId\":{}}}",
                    &k));
    /* a client's response to a server request is accepted silently */
    assert_null(raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", &k));
    assert_int_equal(k, MCP_REPLY_NONE);
}

static void test_errors(void **state)
{
    fx *f = *state;
    mcp_reply_kind k;
    char *t = raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,", &k);
    assert_int_equal(k, MCP_REPLY_INVALID);
    assert_non_null(strstr(t, "\"id\":null"));
    assert_non_null(strstr(t, "-32700"));
    free(t);
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"ping\"}");
    assert_int_equal(err_code_of(r), -32600);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":\"x\"}");
    assert_int_equal(err_code_of(r), -32600);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}");
    assert_int_equal(err_code_of(r), -32600);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    r = rpc(f->sa, "\"just a string\"");
    assert_int_equal(err_code_of(r), -32600);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"no/such\"}");
    assert_int_equal(err_code_of(r), -32601);
    /* the error names the method it did not find (a typo is visible to the caller) */
    json_t *err = json_object_get(r, "error");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "no/such"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "data"), "method")),
                        "no/such");
    json_decref(r);
    /* a huge name is not echoed back whole */
    char big[2200];
    int n = snprintf(big, sizeof big, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"");
    memset(big + n, 'm', 2000);
    snprintf(big + n + 2000, sizeof big - (size_t)n - 2000, "\"}");
    r = rpc(f->sa, big);
    assert_int_equal(err_code_of(r), -32601);
    err = json_object_get(r, "error");
    assert_true(strlen(json_string_value(json_object_get(err, "message"))) < 300);
    assert_null(json_object_get(json_object_get(err, "data"), "method"));
    json_decref(r);
}

static void test_batches(void **state)
{
    fx *f = *state;
    /* not on a 2025-11-25 session */
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    assert_true(json_is_object(r));
    assert_int_equal(err_code_of(r), -32600);
    json_decref(r);
    /* on 2025-03-26 */
    init_session(f->sb, "2025-03-26");
    r = rpc(f->sb, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                   "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"},"
                   "{\"jsonrpc\":\"2.0\",\"id\":\"2\",\"method\":\"tools/list\"},"
                   "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{"
                   "\"protocolVersion\":\"2025-03-26\"}},"
                   "5]");
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "id")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "id")), "2");
    assert_int_equal(err_code_of(json_array_get(r, 2)), -32600);
    assert_int_equal(err_code_of(json_array_get(r, 3)), -32600);
    json_decref(r);
    r = rpc(f->sb, "[]");
    assert_true(json_is_object(r));
    assert_int_equal(err_code_of(r), -32600);
    json_decref(r);
    mcp_reply_kind k;
    assert_null(
        raw(f->sb,
            "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]", &k));
    assert_int_equal(k, MCP_REPLY_NONE);
}

/* ---- hostile input: NUL characters, integers beyond int64 ---- */

/* the error message of a JSON-RPC error response, which must name `what` */
static void expect_rpc_error(json_t *r, int code, const char *what)
{
    assert_int_equal(err_code_of(r), code);
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    if (!msg || !strstr(msg, what))
        fail_msg("the error message does not name %s: %s", what, msg ? msg : "(none)");
}

/* like rpc, for answers whose id may not fit int64 (read as a real here) */
static json_t *rpc_bigid(mcp_session *s, const char *body)
{
    char *t = raw(s, body, NULL);
    json_t *v = json_loads(t, JSON_DECODE_INT_AS_REAL, NULL);
    free(t);
    assert_non_null(v);
    return v;
}

/* the text of a tools/call result that must be isError */
static const char *tool_error_text(json_t *resp)
{
    json_t *res = result_of(resp);
    assert_true(json_is_true(json_object_get(res, "isError")));
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(t);
    return t;
}

/* tools/call of test_validate with args (JSON text) under the request id id_json: the
 * result must be the invalid-arguments error, its text saying both what1 and what2 */
static void expect_validate_error(mcp_session *s, const char *id_json, const char *args,
                                  const char *what1, const char *what2)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"test_validate\",\"arguments\":%s}}",
             id_json, args);
    json_t *r = rpc_bigid(s, body);
    const char *txt = tool_error_text(r);
    if (!strstr(txt, what1) || !strstr(txt, what2))
        fail_msg("%s: expected an error saying %s %s, got %s", args, what1, what2, txt);
    json_decref(r);
}

static void test_nul_and_big_numbers(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    /* a NUL in a JSON-RPC field: Invalid Request naming the field, the id echoed; also
     * when the id does not fit int64 (that used to let the NUL through: "ping\u0000x"
     * was answered as ping) */
    const char *ids[] = {"12345678901234567890", "5", "-98765432109876543210", "\"s\""};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char body[300], want[80];
        snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{", ids[i]);
        snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\\u0000x\"}",
                 ids[i]);
        char *t = raw(f->sa, body, NULL);
        if (!str_starts_with(t, want) || !strstr(t, "-32600") || !strstr(t, "method contains"))
            fail_msg("%s: got %s", body, t);
        free(t);
        snprintf(
            body, sizeof body,
            "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\",\"params\":{\"x\":[\"\\u0000\"]}}",
            ids[i]);
        t = raw(f->sa, body, NULL);
        if (!str_starts_with(t, want) || !strstr(t, "-32600") || !strstr(t, "params.x[0] contains"))
            fail_msg("%s: got %s", body, t);
        free(t);
    }
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\\u0000\",\"id\":6,\"method\":\"ping\"}");
    expect_rpc_error(r, -32600, "jsonrpc");
    json_decref(r);
    /* a NUL in the id itself: the id cannot be echoed */
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"ping\"}");
    expect_rpc_error(r, -32600, "id");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    /* in the params of other methods, at any depth */
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"resources/read\",\"params\":{"
                   "\"uri\":\"test://static-text\\u0000../x\"}}");
    expect_rpc_error(r, -32600, "params.uri");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
                   "\"test_validate\\u0000\",\"arguments\":{\"name\":\"a\"}}}");
    expect_rpc_error(r, -32600, "params.name");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{\"name\":"
                   "\"test_validate\",\"arguments\":{\"name\":\"a\"},\"_meta\":{"
                   "\"progressToken\":\"p\\u0000\"}}}");
    expect_rpc_error(r, -32600, "params._meta.progressToken");
    json_decref(r);
    /* text too long for the message is cut at a character, not inside one (found by
     * fuzz_mcp: a cut UTF-8 sequence left the error object out, the reply was not JSON):
     * a member path (cut at 128 bytes) and an unknown tool's name (at 150) */
    static const struct {
        const char *head, *end, *tail, *want;
        size_t fill;
        int code;
    } longs[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\",\"params\":{\"", "\":[\"\\u0000\"]}}",
         "\xe7\x86\xad", "params.aaaaaaaa", 119, -32600},
        {"{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{\"name\":\"", "\"}}",
         "\xc5\xbe", "Unknown tool: aaaaaaaa", 149, -32602},
    };
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        char key[160], body[400];
        memset(key, 'a', longs[i].fill);
        strcpy(key + longs[i].fill, longs[i].tail); /* a character across the cut */
        snprintf(body, sizeof body, "%s%s%s", longs[i].head, key, longs[i].end);
        r = rpc(f->sa, body);
        expect_rpc_error(r, longs[i].code, longs[i].want);
        json_decref(r);
    }
    /* a notification carrying one is ignored (never answered) */
    mcp_reply_kind k;
    assert_null(raw(f->sa,
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                    "\"requestId\":1,\"reason\":\"\\u0000\"}}",
                    &k));
    assert_int_equal(k, MCP_REPLY_NONE);
    /* in tool arguments: the tool's invalid-arguments result naming the path; the
     * handler does not run */
    const char *bad[] = {"{\"name\":\"bob\\u0000\"}",
                         "{\"name\":\"bob\",\"count\":1,\"x\":[\"\\u0000\"]}"};
    const char *path[] = {"$.name", "$.x[0]"};
    for (size_t i = 0; i < 2; i++)
        for (int big = 0; big < 2; big++)
            expect_validate_error(f->sa, big ? "99999999999999999999" : "11", bad[i], path[i],
                                  "NUL");
    /* and there too a path too long for the answer is cut at a character */
    char lk[300], largs[400];
    memset(lk, 'a', 252);
    strcpy(lk + 252, "\xe7\x86\xad");
    snprintf(largs, sizeof largs, "{\"name\":\"bob\",\"%s\":[\"\\u0000\"]}", lk);
    expect_validate_error(f->sa, "12", largs, "$.aaaaaaaa", "aaaa");
    /* a too-big integer elsewhere than the id is the number it is: arguments get their
     * range error, not a parse error of the whole request */
    expect_validate_error(f->sa, "12", "{\"name\":\"a\",\"count\":99999999999999999999}",
                          "$.count must be <= 10", "");
    expect_validate_error(f->sa, "13", "{\"name\":\"a\",\"count\":-12345678901234567890123}",
                          "$.count must be >= 1", "");
    char *t = raw(f->sa,
                  "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"ping\","
                  "\"params\":{\"_meta\":{\"n\":1.5e2,\"m\":[12345678901234567890123,\"\\\"id\\\":"
                  "1\"]}}}",
                  NULL);
    assert_string_equal(
        t, "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"result\":{}}");
    free(t);
    /* big ids of the elements of a batch are each echoed as they were written */
    init_session(f->sb, "2025-03-26");
    t = raw(f->sb,
            "[{\"jsonrpc\":\"2.0\",\"id\":11111111111111111111,\"method\":\"ping\"},"
            "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\",\"params\":{\"big\":"
            "22222222222222222222}},"
            "{\"jsonrpc\":\"2.0\",\"id\":-33333333333333333333,\"method\":\"ping\\u0000\"}]",
            NULL);
    assert_non_null(strstr(t, "{\"jsonrpc\":\"2.0\",\"id\":11111111111111111111,\"result\":{}}"));
    assert_non_null(strstr(t, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}"));
    assert_non_null(strstr(t, "\"id\":-33333333333333333333,\"error\""));
    assert_null(strstr(t, "22222222222222222222"));
    free(t);
}

/* A NUL in a member name (valid JSON that no JSON object here can hold): Invalid Request
 * saying so, not a parse error; the id cannot be read, so it is null */
static void test_nul_in_member_name(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    const char *bodies[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"params\":{\"a\\u0000b\":1}}",
        ("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"test_validate\",\"arguments\":{\"name\":\"a\",\"\\u0000\":1}}}"),
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"\\u0000method\":\"ping\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *r = rpc(f->sa, bodies[i]);
        expect_rpc_error(r, -32600, "member name contains a NUL character");
        assert_true(json_is_null(json_object_get(r, "id")));
        json_decref(r);
    }
}

/* ---- lifecycle ---- */
static void test_version_negotiation(void **state)
{
    fx *f = *state;
    for (int i = 0; mcp_protocol_versions[i]; i++) {
        mcp_session *s = mcp_session_new(f->srv, &cap_ops, &f->a);
        mcp_reply rep;
        char body[300];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"c\","
                 "\"version\":\"1\"}}}",
                 mcp_protocol_versions[i]);
        assert_int_equal(mcp_session_handle(s, body, strlen(body), NULL, &rep), MCP_REPLY_RESPONSE);
        assert_true(rep.initialized);
        json_t *r = json_loads(rep.json, 0, NULL);
        json_t *res = result_of(r);
        assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")),
                            mcp_protocol_versions[i]);
        assert_string_equal(mcp_session_protocol_version(s), mcp_protocol_versions[i]);
        json_t *caps = json_object_get(res, "capabilities");
        assert_non_null(json_object_get(caps, "tools"));
        assert_non_null(json_object_get(caps, "resources"));
        assert_true(json_is_true(json_object_get(json_object_get(caps, "resources"), "subscribe")));
        assert_non_null(json_object_get(caps, "prompts"));
        assert_non_null(json_object_get(caps, "logging"));
        assert_non_null(json_object_get(caps, "completions"));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")),
            "fixture");
        assert_string_equal(json_string_value(json_object_get(res, "instructions")),
                            "Use the tools.");
        json_decref(r);
        mcp_reply_free(&rep);
        /* a second initialize is refused */
        r = rpc(s, body);
        assert_int_equal(err_code_of(r), -32600);
        json_decref(r);
        mcp_session_free(s);
    }
    assert_true(mcp_protocol_version_supported("2025-03-26"));
    assert_false(mcp_protocol_version_supported("2026-07-28"));
    assert_false(mcp_protocol_version_supported(NULL));
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                           "\"protocolVersion\":\"1999-01-01\",\"capabilities\":{}}}");
    assert_string_equal(json_string_value(json_object_get(result_of(r), "protocolVersion")),
                        MCP_LATEST_VERSION);
    json_decref(r);
}

static void test_pre_init(void **state)
{
    fx *f = *state;
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    assert_int_not_equal(json_object_get(r, "error") ? 1 : 0, 0);
    assert_int_equal(err_code_of(r), -32600);
    json_decref(r);
    char *t = raw(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
    free(t);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"server/discover\"}");
    assert_int_equal(err_code_of(r), -32601);
    json_decref(r);
}

static void test_ping_setlevel(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    char *t = raw(f->sa,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/"
                  "setLevel\",\"params\":{\"level\":\"debug\"}}",
                  NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    free(t);
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/"
                           "setLevel\",\"params\":{\"level\":\"loud\"}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    /* debug: the logging tool's three info messages arrive */
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_tool_with_logging\"}}");
    json_decref(r);
    assert_int_equal(cap_count(&f->a, "notifications/message"), 3);
    json_t *m = json_array_get(f->a.msgs, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "params"), "level")),
                        "info");
    /* error: none */
    json_decref(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"logging/"
                           "setLevel\",\"params\":{\"level\":\"error\"}}"));
    json_decref(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
                           "call\",\"params\":{\"name\":\"test_tool_with_logging\"}}"));
    assert_int_equal(cap_count(&f->a, "notifications/message"), 3);
}

/* ---- tools ---- */
static void test_tools_pagination(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *names = json_array();
    char cursor[64] = "";
    int pages = 0;
    for (;;) {
        json_t *r = cursor[0]
                        ? rpcf(f->sa,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                               "list\",\"params\":{\"cursor\":\"%s\"}}",
                               cursor)
                        : rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        json_t *res = result_of(r), *t;
        size_t i;
        assert_true(json_array_size(json_object_get(res, "tools")) <= 5);
        json_array_foreach (json_object_get(res, "tools"), i, t) {
            assert_non_null(json_object_get(t, "description"));
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(t, "inputSchema"), "type")),
                "object");
            json_array_append(names, json_object_get(t, "name"));
        }
        pages++;
        json_t *nc = json_object_get(res, "nextCursor");
        if (!nc) {
            json_decref(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
        json_decref(r);
    }
    assert_int_equal(json_array_size(names), 17);
    assert_int_equal(pages, 4);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "test_simple_text");
    for (size_t i = 0; i < json_array_size(names); i++)
        for (size_t j = i + 1; j < json_array_size(names); j++)
            assert_false(json_equal(json_array_get(names, i), json_array_get(names, j)));
    json_decref(names);
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                           "list\",\"params\":{\"cursor\":\"garbage\"}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                   "list\",\"params\":{\"cursor\":\"page-999\"}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(f->sa,
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"cursor\":7}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
}

static void test_tools_call(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                           "call\",\"params\":{\"name\":\"test_simple_text\",\"arguments\":{}}}");
    json_t *c0 = json_array_get(json_object_get(result_of(r), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")),
                        "This is a simple text response for testing.");
    json_decref(r);
    r = rpc(
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":[1]}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    const char *bad[] = {"{}",
                         "{\"name\":5}",
                         "{\"name\":\"\"}",
                         "{\"name\":\"a\",\"count\":11}",
                         "{\"name\":\"a\",\"count\":1.5}",
                         "{\"name\":\"a\",\"extra\":true}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = rpcf(f->sa,
                 "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/"
                 "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":%s}}",
                 bad[i]);
        json_t *res = result_of(r);
        assert_true(json_is_true(json_object_get(res, "isError")));
        const char *txt = json_string_value(
            json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
        assert_non_null(txt);
        assert_true(strlen(txt) > 0);
        json_decref(r);
    }
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":{\"name\":\"bob\","
                   "\"count\":3}}}");
    assert_null(json_object_get(result_of(r), "isError"));
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_error_handling\"}}");
    assert_true(json_is_true(json_object_get(result_of(r), "isError")));
    json_decref(r);
    /* structuredContent + the same JSON in a text block */
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_structured\",\"arguments\":{\"n\":21}}}");
    json_t *res = result_of(r);
    json_t *sc = json_object_get(res, "structuredContent");
    assert_int_equal(json_integer_value(json_object_get(sc, "double")), 42);
    json_t *txt = json_loads(json_string_value(json_object_get(
                                 json_array_get(json_object_get(res, "content"), 0), "text")),
                             0, NULL);
    assert_true(json_equal(txt, sc));
    json_decref(txt);
    json_decref(r);
    /* outputSchema is listed */
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/"
                   "list\",\"params\":{\"cursor\":\"page-10\"}}");
    json_t *t = json_array_get(json_object_get(result_of(r), "tools"), 4);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "test_structured");
    assert_non_null(json_object_get(t, "outputSchema"));
    json_decref(r);
}

/* ---- resources ---- */
static void test_resources(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}");
    assert_int_equal(json_array_size(json_object_get(result_of(r), "resources")), 3);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/templates/list\"}");
    json_t *t0 = json_array_get(json_object_get(result_of(r), "resourceTemplates"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "uriTemplate")),
                        "test://template/{id}/data");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/"
                   "read\",\"params\":{\"uri\":\"test://static-text\"}}");
    json_t *c0 = json_array_get(json_object_get(result_of(r), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")),
                        "This is the content of the static text resource.");
    assert_string_equal(json_string_value(json_object_get(c0, "mimeType")), "text/plain");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/"
                   "read\",\"params\":{\"uri\":\"test://static-binary\"}}");
    c0 = json_array_get(json_object_get(result_of(r), "contents"), 0);
    assert_true(strncmp(json_string_value(json_object_get(c0, "blob")), "iVBORw0KGgo", 11) == 0);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/"
                   "read\",\"params\":{\"uri\":\"test://template/123/data\"}}");
    c0 = json_array_get(json_object_get(result_of(r), "contents"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(c0, "text")), "123"));
    assert_string_equal(json_string_value(json_object_get(c0, "uri")), "test://template/123/data");
    json_decref(r);
    const char *missing[] = {"test://nothing", "test://template//data", "test://template/1/2/data",
                             "test://template/1/datax"};
    for (size_t i = 0; i < 4; i++) {
        r = rpcf(f->sa,
                 "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/"
                 "read\",\"params\":{\"uri\":\"%s\"}}",
                 missing[i]);
        assert_int_equal(err_code_of(r), -32002);
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_object_get(r, "error"), "data"), "uri")),
                            missing[i]);
        json_decref(r);
    }
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"resources/read\",\"params\":{}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
}

static void test_subscriptions(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    init_session(f->sb, "2025-11-25");
    char *t = raw(f->sa,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/"
                  "subscribe\",\"params\":{\"uri\":\"test://watched-resource\"}}",
                  NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    free(t);
    assert_int_equal(mcp_resource_updated(f->srv, "test://watched-resource"), 1);
    assert_int_equal(mcp_resource_updated(f->srv, "test://static-text"), 0);
    assert_int_equal(cap_count(&f->a, "notifications/resources/updated"), 1);
    assert_int_equal(cap_count(&f->b, "notifications/resources/updated"), 0);
    json_t *m = json_array_get(f->a.msgs, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "params"), "uri")),
                        "test://watched-resource");
    /* from inside a tool, too */
    json_decref(rpc(f->sb, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                           "call\",\"params\":{\"name\":\"test_touch_watched\"}}"));
    assert_int_equal(cap_count(&f->a, "notifications/resources/updated"), 2);
    t = raw(f->sa,
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/"
            "unsubscribe\",\"params\":{\"uri\":\"test://watched-resource\"}}",
            NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
    free(t);
    assert_int_equal(mcp_resource_updated(f->srv, "test://watched-resource"), 0);
    assert_int_equal(cap_count(&f->b, "notifications/resources/updated"), 0);
}

/* ---- template-aware resource updates ---- */
static json_t *r_any(mcp_call *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    return mcp_resource_text(uri, "text/plain", "x");
}

/* the URIs of the resources/updated notifications captured so far, sorted, then cleared */
static char *take_updated(cap *c)
{
    json_t *uris = json_array(), *m;
    size_t i;
    pthread_mutex_lock(&c->mu);
    json_array_foreach (c->msgs, i, m)
        if (strcmp(json_string_value(json_object_get(m, "method")),
                   "notifications/resources/updated") == 0)
            json_array_append(uris, json_object_get(json_object_get(m, "params"), "uri"));
    json_array_clear(c->msgs);
    pthread_mutex_unlock(&c->mu);
    /* sort (insertion) so the expectation does not depend on the subscription order */
    size_t n = json_array_size(uris);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(uris, b - 1)),
                                           json_string_value(json_array_get(uris, b))) > 0;
             b--) {
            json_t *x = json_incref(json_array_get(uris, b - 1));
            json_array_set(uris, b - 1, json_array_get(uris, b));
            json_array_set_new(uris, b, x);
        }
    char *t = json_dumps(uris, JSON_COMPACT);
    json_decref(uris);
    return t;
}

static void expect_updated(cap *c, const char *want)
{
    char *t = take_updated(c);
    assert_string_equal(t, want);
    free(t);
}

static void subscribe(mcp_session *s, const char *uri)
{
    json_t *r = rpcf(s,
                     "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/"
                     "subscribe\",\"params\":{\"uri\":\"%s\"}}",
                     uri);
    assert_non_null(result_of(r));
    json_decref(r);
}

static json_t *t_any(mcp_call *c, json_t *args, void *ud)
{
    (void)c;
    (void)args;
    (void)ud;
    return json_object();
}

/* Registration: what each kind needs, a key registered twice, the optional fields
 * of the listing, and no registration once a session exists. */
static void test_registration(void **state)
{
    (void)state;
    mcp_server_info info = {"reg", "1.0", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    const mcp_tool_def tool = {"t1", NULL, "a tool", NULL, NULL, NULL, t_any, NULL};
    assert_int_equal(mcp_server_add_tool(srv, &tool, &e), ERR_OK);
    assert_int_equal(mcp_server_add_tool(srv, &tool, &e), ERR_EXISTS);
    assert_string_equal(e.msg, "mcp: tool t1 registered twice");
    const mcp_tool_def bad_tool = {"has space", NULL, "x", NULL, NULL, NULL, t_any, NULL};
    assert_int_equal(mcp_server_add_tool(srv, &bad_tool, &e), ERR_INVALID);
    assert_string_equal(e.msg, "mcp: tool needs a name of 1-64 [A-Za-z0-9_./-] and a handler");
    assert_int_equal(mcp_server_add_tool(srv, NULL, &e), ERR_INVALID);

    const mcp_resource_def res = {"x://r", "r", "R", "the r", "text/plain", r_any, NULL};
    assert_int_equal(mcp_server_add_resource(srv, &res, &e), ERR_OK);
    assert_int_equal(mcp_server_add_resource(srv, &res, &e), ERR_EXISTS);
    assert_string_equal(e.msg, "mcp: resource x://r registered twice");
    const mcp_resource_def no_uri = {"", "r", NULL, NULL, NULL, r_any, NULL};
    assert_int_equal(mcp_server_add_resource(srv, &no_uri, &e), ERR_INVALID);
    assert_string_equal(e.msg, "mcp: resource needs uri, name and a handler");

    const mcp_template_def tpl = {"x://{a}", "t", NULL, NULL, "text/plain", r_any, NULL, NULL};
    assert_int_equal(mcp_server_add_template(srv, &tpl, &e), ERR_OK);
    assert_int_equal(mcp_server_add_template(srv, &tpl, &e), ERR_OK); /* no key: allowed */
    const mcp_template_def no_fn = {"x://{a}", "t", NULL, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(mcp_server_add_template(srv, &no_fn, &e), ERR_INVALID);
    assert_string_equal(e.msg, "mcp: template needs uri_template, name and a handler");

    const mcp_prompt_def pr = {"p", NULL, NULL, NULL, 0, t_any, NULL};
    assert_int_equal(mcp_server_add_prompt(srv, &pr, &e), ERR_OK);
    assert_int_equal(mcp_server_add_prompt(srv, &pr, &e), ERR_EXISTS);
    assert_string_equal(e.msg, "mcp: prompt p registered twice");

    cap a;
    cap_init(&a);
    mcp_session *s = mcp_session_new(srv, &cap_ops, &a);
    const mcp_tool_def late = {"t2", NULL, "late", NULL, NULL, NULL, t_any, NULL};
    assert_int_equal(mcp_server_add_tool(srv, &late, &e), ERR_INVALID);
    assert_string_equal(e.msg, "mcp: registry is frozen (sessions exist)");
    assert_int_equal(mcp_server_add_resource(srv, &no_uri, &e), ERR_INVALID);
    assert_string_equal(e.msg, "mcp: registry is frozen (sessions exist)");

    init_session(s, "2025-11-25");
    json_t *r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}");
    json_t *res0 = json_array_get(json_object_get(result_of(r), "resources"), 0);
    assert_int_equal(json_object_size(res0), 5); /* uri, name, title, description, mimeType */
    assert_string_equal(json_string_value(json_object_get(res0, "title")), "R");
    assert_string_equal(json_string_value(json_object_get(res0, "description")), "the r");
    assert_string_equal(json_string_value(json_object_get(res0, "mimeType")), "text/plain");
    json_decref(r);
    r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/templates/list\"}");
    json_t *tl = json_object_get(result_of(r), "resourceTemplates");
    assert_int_equal(json_array_size(tl), 2);
    assert_int_equal(json_object_size(json_array_get(tl, 0)), 3); /* uriTemplate, name, mimeType */
    json_decref(r);
    r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
    assert_int_equal(json_array_size(json_object_get(result_of(r), "tools")), 1);
    json_decref(r);
    mcp_session_free(s);
    mcp_server_free(srv);
    cap_fini(&a);
}

static void test_subscriptions_template(void **state)
{
    (void)state;
    mcp_server_info info = {"tmpl", "1.0", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    const mcp_resource_def direct = {"x://a/items/5", "direct", NULL, NULL,
                                     "text/plain",    r_any,    NULL};
    assert_int_equal(mcp_server_add_resource(srv, &direct, &e), ERR_OK);
    const char *ts[] = {"x://{a}/items/latest", "x://{a}/items/{n}", "x://{a}"};
    for (size_t i = 0; i < 3; i++) {
        const mcp_template_def d = {ts[i], "t", NULL, NULL, "text/plain", r_any, NULL, NULL};
        assert_int_equal(mcp_server_add_template(srv, &d, &e), ERR_OK);
    }
    cap a, b;
    cap_init(&a);
    cap_init(&b);
    mcp_session *sa = mcp_session_new(srv, &cap_ops, &a), *sb = mcp_session_new(srv, &cap_ops, &b);
    init_session(sa, "2025-11-25");
    init_session(sb, "2025-06-18");
    const char *subs_a[] = {"x://S/items/10",     "x://S/items/37", "x://T/items/10", "x://S",
                            "x://S/items/latest", "x://a/items/5",  "x://S/other/1"};
    for (size_t i = 0; i < sizeof subs_a / sizeof *subs_a; i++)
        subscribe(sa, subs_a[i]);
    subscribe(sb, "x://S/items/37");
    subscribe(sb, "x://S%41/items/1"); /* a = "SA" once decoded */
    expect_updated(&a, "[]");
    expect_updated(&b, "[]");

    json_t *bound = json_pack("{s:s}", "a", "S");
    /* every items/{n} of S: not T's, not items/latest (an earlier template owns it), not
     * x://S itself (another template), and each once */
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 3);
    expect_updated(&a, "[\"x://S/items/10\",\"x://S/items/37\"]");
    expect_updated(&b, "[\"x://S/items/37\"]");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}", bound), 1);
    expect_updated(&a, "[\"x://S\"]");
    expect_updated(&b, "[]");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/latest", bound), 1);
    expect_updated(&a, "[\"x://S/items/latest\"]");
    json_decref(bound);
    /* values compare percent-decoded; a direct resource is never a template's */
    bound = json_pack("{s:s}", "a", "SA");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 1);
    expect_updated(&b, "[\"x://S%41/items/1\"]");
    json_decref(bound);
    bound = json_pack("{s:s}", "a", "a");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 0);
    json_decref(bound);
    /* both variables bound; none bound (NULL and {}) */
    bound = json_pack("{s:s,s:s}", "a", "S", "n", "37");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 2);
    expect_updated(&a, "[\"x://S/items/37\"]");
    expect_updated(&b, "[\"x://S/items/37\"]");
    json_decref(bound);
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", NULL), 5);
    expect_updated(&a, "[\"x://S/items/10\",\"x://S/items/37\",\"x://T/items/10\"]");
    expect_updated(&b, "[\"x://S%41/items/1\",\"x://S/items/37\"]");
    bound = json_object();
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 5);
    json_decref(bound);
    free(take_updated(&a)), free(take_updated(&b));
    /* misuse: unregistered template, unknown variable, non-string value, not an object */
    assert_int_equal(mcp_resource_updated_template(srv, "x://{b}/items/{n}", NULL), -1);
    bound = json_pack("{s:s}", "zz", "S");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), -1);
    json_decref(bound);
    bound = json_pack("{s:i}", "a", 1);
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), -1);
    json_decref(bound);
    bound = json_string("S");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), -1);
    json_decref(bound);
    assert_int_equal(mcp_resource_updated_template(NULL, "x://{a}", NULL), -1);
    expect_updated(&a, "[]");
    /* unsubscribing stops them; the exact-URI form still works alongside */
    json_decref(rpc(sb, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/"
                        "unsubscribe\",\"params\":{\"uri\":\"x://S/items/37\"}}"));
    bound = json_pack("{s:s}", "a", "S");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 2);
    json_decref(bound);
    expect_updated(&b, "[]");
    assert_int_equal(mcp_resource_updated(srv, "x://S/items/10"), 1);
    expect_updated(&a, "[\"x://S/items/10\",\"x://S/items/10\",\"x://S/items/37\"]");
    mcp_session_free(sa);
    mcp_session_free(sb);
    /* no sessions: nothing to send */
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}", NULL), 0);
    mcp_server_free(srv);
    cap_fini(&a);
    cap_fini(&b);
}

/* ---- the subscription index: cost, limits, checks, filters ---- */

/* A server with the templates x://{a}/items/{n} and x://{a} and n initialised sessions
 * on one capture. */
static mcp_server *subs_server(mcp_session **s, size_t n, cap *c)
{
    mcp_server_info info = {"subs", "1.0", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    const char *ts[] = {"x://{a}/items/{n}", "x://{a}"};
    for (size_t i = 0; i < 2; i++) {
        const mcp_template_def d = {ts[i], "t", NULL, NULL, "text/plain", r_any, NULL, NULL};
        assert_int_equal(mcp_server_add_template(srv, &d, &e), ERR_OK);
    }
    cap_init(c);
    for (size_t i = 0; i < n; i++)
        s[i] = mcp_session_new(srv, &cap_ops, c);
    for (size_t i = 0; i < n; i++)
        init_session(s[i], "2025-03-26");
    return srv;
}

static const char *sub_outcome(mcp_session *s, const char *uri, bool on)
{
    static char buf[96];
    json_t *r = rpcf(
        s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/%s\",\"params\":{\"uri\":\"%s\"}}",
        on ? "subscribe" : "unsubscribe", uri);
    json_t *err = json_object_get(r, "error");
    const char *scope = json_string_value(json_object_get(json_object_get(err, "data"), "scope"));
    if (!err)
        snprintf(buf, sizeof buf, "ok");
    else
        snprintf(buf, sizeof buf, "%d%s%s", err_code_of(r), scope ? " " : "", scope ? scope : "");
    json_decref(r);
    return buf;
}

/* An update finds its subscribers through the index: it looks at the subscriptions of
 * the URIs it names, however many sessions and other subscriptions there are. */
static void test_subscription_index_cost(void **state)
{
    (void)state;
    enum {
        N = 300
    };
    mcp_session *s[N];
    cap c;
    mcp_server *srv = subs_server(s, N, &c);
    char uri[64];
    for (size_t i = 0; i < N; i++) {
        snprintf(uri, sizeof uri, "x://S%zu/items/%zu", i, i % 7);
        assert_string_equal(sub_outcome(s[i], uri, true), "ok");
        snprintf(uri, sizeof uri, "x://S%zu", i);
        assert_string_equal(sub_outcome(s[i], uri, true), "ok");
    }
    assert_string_equal(sub_outcome(s[8], "x://S7", true), "ok"); /* a second subscriber */
    mcp_subscription_stats st0, st;
    mcp_server_subscription_stats(srv, &st0);
    assert_int_equal(st0.subscriptions, 2 * N + 1);
    assert_int_equal(st0.uris, 2 * N);
    json_t *bound = json_pack("{s:s}", "a", "S7");
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}/items/{n}", bound), 1);
    mcp_server_subscription_stats(srv, &st);
    assert_int_equal(st.examined - st0.examined, 1);
    assert_int_equal(mcp_resource_updated_template(srv, "x://{a}", bound), 2);
    mcp_server_subscription_stats(srv, &st0);
    assert_int_equal(st0.examined - st.examined, 2);
    assert_int_equal(mcp_resource_updated(srv, "x://S9/items/2"), 1);
    assert_int_equal(mcp_resource_updated(srv, "x://S9/items/3"), 0);
    mcp_server_subscription_stats(srv, &st);
    assert_int_equal(st.examined - st0.examined, 1);
    json_decref(bound);
    assert_int_equal(cap_count(&c, "notifications/resources/updated"), 4);
    /* ending sessions drops their subscriptions, and URIs nobody holds */
    for (size_t i = 0; i < N; i++)
        mcp_session_free(s[i]);
    mcp_server_subscription_stats(srv, &st);
    assert_int_equal(st.subscriptions, 0);
    assert_int_equal(st.uris, 0);
    mcp_server_free(srv);
    cap_fini(&c);
}

/* Caps per session and in the server (subscribing again is free, unsubscribing makes
 * room); with known_only a URI nothing serves is -32002 */
static void test_subscription_limits(void **state)
{
    (void)state;
    mcp_session *s[2];
    cap c;
    mcp_server *srv = subs_server(s, 0, &c);
    mcp_subscription_limits l = {.per_session = 2, .total = 3, .known_only = true};
    mcp_server_set_subscription_limits(srv, &l);
    for (size_t i = 0; i < 2; i++)
        s[i] = mcp_session_new(srv, &cap_ops, &c);
    for (size_t i = 0; i < 2; i++)
        init_session(s[i], "2025-03-26");
    assert_string_equal(sub_outcome(s[0], "x://A", true), "ok");
    assert_string_equal(sub_outcome(s[0], "x://B", true), "ok");
    assert_string_equal(sub_outcome(s[0], "x://C", true), "-32003 session");
    assert_string_equal(sub_outcome(s[0], "x://A", true), "ok");
    assert_string_equal(sub_outcome(s[1], "x://A", true), "ok");
    assert_string_equal(sub_outcome(s[1], "x://B", true), "-32003 server");
    assert_string_equal(sub_outcome(s[0], "x://A", false), "ok");
    assert_string_equal(sub_outcome(s[1], "x://B", true), "ok");
    assert_int_equal(mcp_session_subscription_count(s[0]), 1);
    assert_int_equal(mcp_session_subscription_count(s[1]), 2);
    assert_string_equal(sub_outcome(s[0], "y:/nothing/serves/this", true), "-32002");
    assert_string_equal(sub_outcome(s[0], "y:/nothing/serves/this", false), "ok");
    mcp_session_unsubscribe_all(s[1]);
    assert_int_equal(mcp_session_subscription_count(s[1]), 0);
    for (size_t i = 0; i < 2; i++)
        mcp_session_free(s[i]);
    mcp_server_free(srv);
    cap_fini(&c);
}

/* the product's check decides who subscribes (and with what subscriber); its filter who
 * hears an update */
static bool check_sub(mcp_call *call, const char *uri, json_t *vars, bool on, void **subscriber,
                      void *ud)
{
    (void)ud;
    const char *a = json_string_value(json_object_get(vars, "a"));
    if (on && a && strcmp(a, "secret") == 0) {
        mcp_call_set_error(call, -32001, "not yours", NULL);
        return false;
    }
    (void)uri;
    *subscriber = mcp_call_session(call); /* the filter gets it back */
    return true;
}

static bool only(void *ud, mcp_session *s, void *subscriber, const char *uri)
{
    (void)uri;
    assert_ptr_equal(subscriber, s);
    return s == ud;
}

static void test_subscribe_check_and_filter(void **state)
{
    (void)state;
    mcp_session *s[2];
    cap c;
    mcp_server *srv = subs_server(s, 0, &c);
    err_t e;
    assert_int_equal(mcp_server_set_subscribe_check(srv, "x://{a}", check_sub, NULL, &e), ERR_OK);
    assert_int_equal(mcp_server_set_subscribe_check(srv, "x://{b}", check_sub, NULL, &e),
                     ERR_NOTFOUND);
    for (size_t i = 0; i < 2; i++)
        s[i] = mcp_session_new(srv, &cap_ops, &c);
    assert_int_equal(mcp_server_set_subscribe_check(srv, "x://{a}", check_sub, NULL, &e),
                     ERR_INVALID); /* frozen */
    for (size_t i = 0; i < 2; i++)
        init_session(s[i], "2025-03-26");
    assert_string_equal(sub_outcome(s[0], "x://secret", true), "-32001");
    assert_string_equal(sub_outcome(s[0], "x://open", true), "ok");
    assert_string_equal(sub_outcome(s[1], "x://open", true), "ok");
    json_t *bound = json_pack("{s:s}", "a", "open");
    assert_int_equal(mcp_resource_updated_where(srv, "x://{a}", bound, only, s[1]), 1);
    assert_int_equal(mcp_resource_updated_where(srv, "x://{a}", bound, NULL, NULL), 2);
    json_decref(bound);
    for (size_t i = 0; i < 2; i++)
        mcp_session_free(s[i]);
    mcp_server_free(srv);
    cap_fini(&c);
}

/* ---- argument validation failures: default text and the product's builder ---- */
static void test_invalid_args_default(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    static const struct {
        const char *args, *text;
    } cases[] = {
        {"{\"count\":1}", "Invalid arguments for tool test_validate: $.name is required"},
        {"{\"name\":5}",
         "Invalid arguments for tool test_validate: $.name must be of type string, got integer"},
        {"{\"name\":\"\"}", "Invalid arguments for tool test_validate: $.name must be at least 1 "
                            "characters long, got 0"},
        {"{\"name\":\"a\",\"count\":11}",
         "Invalid arguments for tool test_validate: $.count must be <= 10, got 11"},
        {"{\"name\":\"a\",\"count\":0}",
         "Invalid arguments for tool test_validate: $.count must be >= 1, got 0"},
        {"{\"name\":\"a\",\"count\":1.5}",
         "Invalid arguments for tool test_validate: $.count must be of type integer, got number"},
        {"{\"name\":\"a\",\"extra\":true}", "Invalid arguments for tool test_validate: $.extra is "
                                            "not an accepted argument (accepted: name, count)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = rpcf(f->sa,
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                         "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":%s}}",
                         cases[i].args);
        assert_string_equal(tool_error_text(r), cases[i].text);
        json_decref(r);
    }
}

typedef struct hook_rec {
    int calls;
    int mode; /* 0 = own result without isError, 1 = NULL, 2 = malformed */
    char tool[64], argument[64], path[64], problem[128], message[256];
    bool had_argument;
} hook_rec;

static json_t *hook(mcp_call *c, const mcp_invalid_args *ia, void *ud)
{
    hook_rec *h = ud;
    assert_non_null(c);
    assert_string_equal(mcp_call_method(c), "tools/call");
    h->calls++;
    h->had_argument = ia->argument != NULL;
    snprintf(h->tool, sizeof h->tool, "%s", ia->tool);
    snprintf(h->argument, sizeof h->argument, "%s", ia->argument ? ia->argument : "");
    snprintf(h->path, sizeof h->path, "%s", ia->path);
    snprintf(h->problem, sizeof h->problem, "%s", ia->problem);
    snprintf(h->message, sizeof h->message, "%s", ia->message);
    if (h->mode == 1)
        return NULL;
    if (h->mode == 2)
        return json_string("not a result");
    char buf[300];
    snprintf(buf, sizeof buf, "ENVELOPE %s %s", ia->argument ? ia->argument : "-", ia->problem);
    return mcp_result_text(buf);
}

static json_t *t_nop(mcp_call *c, json_t *args, void *ud)
{
    (void)c, (void)args, (void)ud;
    return mcp_result_text("ok");
}

/* A session on srv, the tool def added and the hook recording into h (a: its capture). */
static mcp_session *hook_session(mcp_server *srv, const mcp_tool_def *def, hook_rec *h, cap *a)
{
    err_t e;
    assert_int_equal(mcp_server_add_tool(srv, def, &e), ERR_OK);
    mcp_server_set_invalid_args_fn(srv, hook, h);
    cap_init(a);
    mcp_session *s = mcp_session_new(srv, &cap_ops, a);
    init_session(s, "2025-11-25");
    return s;
}

static void test_invalid_args_hook(void **state)
{
    (void)state;
    mcp_server_info info = {"hook", "1.0", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    assert_true(mcp_fixtures_register(srv, &e));
    const mcp_tool_def nested = {
        "nested",
        NULL,
        "Nested arguments",
        "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
        "\"string\",\"enum\":[\"x\",\"y\"]},\"maxItems\":2},"
        "\"n\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]},"
        "\"o\":{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"boolean\"}},\"required\":["
        "\"k\"]}}}",
        NULL,
        NULL,
        t_nop,
        NULL};
    hook_rec h = {0};
    cap a;
    mcp_session *s = hook_session(srv, &nested, &h, &a);

    json_t *r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                       "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":{\"name\":"
                       "\"a\",\"count\":\"3\"}}}");
    assert_string_equal(tool_error_text(r),
                        "ENVELOPE count must be of type integer, got string"); /* isError added */
    json_decref(r);
    assert_int_equal(h.calls, 1);
    assert_string_equal(h.tool, "test_validate");
    assert_string_equal(h.argument, "count");
    assert_string_equal(h.path, "$.count");
    assert_string_equal(h.problem, "must be of type integer, got string");
    assert_string_equal(
        h.message,
        "Invalid arguments for tool test_validate: $.count must be of type integer, got string");

    static const struct {
        const char *args, *argument, *path, *problem;
    } cases[] = {
        {"{\"tags\":[\"x\",1]}", "tags", "$.tags[1]", "must be of type string, got integer"},
        {"{\"tags\":[\"z\"]}", "tags", "$.tags[0]", "must be one of \"x\", \"y\""},
        {"{\"tags\":[\"x\",\"y\",\"x\"]}", "tags", "$.tags", "must have at most 2 items, got 3"},
        {"{\"n\":\"5\"}", "n", "$.n", "must be of type integer or null, got string"},
        {"{\"o\":{}}", "o", "$.o.k", "is required"},
        {"{\"o\":{\"k\":1}}", "o", "$.o.k", "must be of type boolean, got integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        r = rpcf(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                 "call\",\"params\":{\"name\":\"nested\",\"arguments\":%s}}",
                 cases[i].args);
        tool_error_text(r);
        json_decref(r);
        assert_true(h.had_argument);
        assert_string_equal(h.argument, cases[i].argument);
        assert_string_equal(h.path, cases[i].path);
        assert_string_equal(h.problem, cases[i].problem);
    }
    /* valid arguments never reach the hook */
    int calls = h.calls;
    r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
               "call\",\"params\":{\"name\":\"nested\",\"arguments\":{\"tags\":[\"x\"],\"n\":null,"
               "\"o\":{\"k\":true}}}}");
    assert_null(json_object_get(result_of(r), "isError"));
    json_decref(r);
    assert_int_equal(h.calls, calls);
    /* a builder that gives up, or returns garbage: the default text */
    for (int mode = 1; mode <= 2; mode++) {
        h.mode = mode;
        r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/"
                   "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":{}}}");
        assert_string_equal(tool_error_text(r),
                            "Invalid arguments for tool test_validate: $.name is required");
        json_decref(r);
    }
    assert_int_equal(h.calls, calls + 2);
    /* request-shape errors stay JSON-RPC errors, without the builder */
    r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
               "call\",\"params\":{\"name\":\"nested\",\"arguments\":[1]}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    assert_int_equal(h.calls, calls + 2);
    mcp_session_free(s);
    mcp_server_free(srv);
    cap_fini(&a);
}

/* anyOf whose alternatives carry constraints (the portable spelling of a nullable or
 * any-JSON argument): a value no alternative accepts fails as the one alternative of its
 * type does; of no alternative's type, naming their types; of two, that no form matched.
 * What an alternative accepts passes. */
static void test_invalid_args_any_of(void **state)
{
    (void)state;
    mcp_server_info info = {"alts", "1.0", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    const mcp_tool_def alts = {
        .name = "alts",
        .description = "anyOf arguments",
        .fn = t_nop,
        .input_schema =
            "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
            "\"since\":{\"anyOf\":[{\"type\":\"integer\",\"minimum\":0},{\"type\":\"null\"}]},"
            "\"tags\":{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"string\","
            "\"maxLength\":3},\"maxItems\":2},{\"type\":\"null\"}]},"
            "\"two\":{\"anyOf\":[{\"type\":\"string\",\"maxLength\":2},{\"type\":\"string\","
            "\"enum\":[\"long-word\"]}]},"
            "\"any\":{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":true},{\"type\":"
            "\"array\",\"items\":{}},{\"type\":\"string\"},{\"type\":\"number\"},{\"type\":"
            "\"boolean\"},{\"type\":\"null\"}]}}}"};
    hook_rec h = {0};
    cap a;
    mcp_session *s = hook_session(srv, &alts, &h, &a);
    static const struct {
        const char *args, *path, *problem;
    } bad[] = {
        {"{\"since\":-1}", "$.since", "must be >= 0, got -1"},
        {"{\"since\":\"1\"}", "$.since", "must be of type integer or null, got string"},
        {"{\"since\":1.5}", "$.since", "must be of type integer or null, got number"},
        {"{\"tags\":[\"abcd\"]}", "$.tags[0]", "must be at most 3 characters long, got 4"},
        {"{\"tags\":[\"a\",\"b\",\"c\"]}", "$.tags", "must have at most 2 items, got 3"},
        {"{\"tags\":\"a\"}", "$.tags", "must be of type array or null, got string"},
        {"{\"two\":\"abc\"}", "$.two", "does not match any of the allowed forms"},
        {"{\"two\":5}", "$.two", "must be of type string, got integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *r = rpcf(s,
                         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                         "call\",\"params\":{\"name\":\"alts\",\"arguments\":%s}}",
                         bad[i].args);
        tool_error_text(r);
        json_decref(r);
        assert_int_equal(h.calls, (int)i + 1);
        assert_string_equal(h.path, bad[i].path);
        assert_string_equal(h.problem, bad[i].problem);
    }
    static const char *const good[] = {
        "{\"since\":0}",           "{\"since\":null}",
        "{\"since\":7.0}",         "{\"tags\":null}",
        "{\"tags\":[\"ab\"]}",     "{\"two\":\"ab\"}",
        "{\"two\":\"long-word\"}", "{\"any\":{\"a\":[1]}}",
        "{\"any\":[[1,[2]],{}]}",  "{\"any\":\"s\"}",
        "{\"any\":1.5}",           "{\"any\":true}",
        "{\"any\":null}",          "{}",
    };
    int calls = h.calls;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        json_t *r = rpcf(s,
                         "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
                         "call\",\"params\":{\"name\":\"alts\",\"arguments\":%s}}",
                         good[i]);
        if (json_object_get(result_of(r), "isError"))
            fail_msg("refused: %s", good[i]);
        json_decref(r);
    }
    assert_int_equal(h.calls, calls);
    mcp_session_free(s);
    mcp_server_free(srv);
    cap_fini(&a);
}

/* ---- prompts and completion ---- */
static void test_prompts(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}");
    json_t *ps = json_object_get(result_of(r), "prompts");
    assert_int_equal(json_array_size(ps), 4);
    json_t *args = json_object_get(json_array_get(ps, 1), "arguments");
    assert_true(json_is_true(json_object_get(json_array_get(args, 0), "required")));
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/"
                   "get\",\"params\":{\"name\":\"test_prompt_with_arguments\",\"arguments\":{"
                   "\"arg1\":\"A\",\"arg2\":\"B\"}}}");
    json_t *m0 = json_array_get(json_object_get(result_of(r), "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "role")), "user");
    const char *txt = json_string_value(json_object_get(json_object_get(m0, "content"), "text"));
    assert_non_null(strstr(txt, "'A'"));
    assert_non_null(strstr(txt, "'B'"));
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/"
                   "get\",\"params\":{\"name\":\"test_prompt_with_arguments\",\"arguments\":{"
                   "\"arg1\":\"A\"}}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/"
                   "get\",\"params\":{\"name\":\"test_prompt_with_arguments\",\"arguments\":{"
                   "\"arg1\":\"A\",\"arg2\":2}}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/get\",\"params\":{\"name\":\"nope\"}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"prompts/"
                   "get\",\"params\":{\"name\":\"test_prompt_with_embedded_resource\","
                   "\"arguments\":{\"resourceUri\":\"test://x\"}}}");
    m0 = json_array_get(json_object_get(result_of(r), "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m0, "content"), "type")),
                        "resource");
    json_decref(r);
}

static void test_completion(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/"
                           "complete\",\"params\":{\"ref\":{\"type\":\"ref/"
                           "prompt\",\"name\":\"test_prompt_with_arguments\"},\"argument\":{"
                           "\"name\":\"arg1\",\"value\":\"pa\"}}}");
    json_t *vals = json_object_get(json_object_get(result_of(r), "completion"), "values");
    assert_int_equal(json_array_size(vals), 3);
    assert_string_equal(json_string_value(json_array_get(vals, 0)), "paris");
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"completion/"
                   "complete\",\"params\":{\"ref\":{\"type\":\"ref/"
                   "prompt\",\"name\":\"test_prompt_with_arguments\"},\"argument\":{\"name\":"
                   "\"arg2\",\"value\":\"\"}}}");
    vals = json_object_get(json_object_get(result_of(r), "completion"), "values");
    assert_true(json_is_array(vals));
    assert_int_equal(json_array_size(vals), 0);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"completion/"
                   "complete\",\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"test://"
                   "template/{id}/data\"},\"argument\":{\"name\":\"id\",\"value\":\"12\"}}}");
    vals = json_object_get(json_object_get(result_of(r), "completion"), "values");
    assert_int_equal(json_array_size(vals), 2);
    json_decref(r);
    r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"completion/"
                   "complete\",\"params\":{\"ref\":{\"type\":\"ref/"
                   "prompt\",\"name\":\"nope\"},\"argument\":{\"name\":\"a\",\"value\":\"\"}}}");
    assert_int_equal(err_code_of(r), -32602);
    json_decref(r);
}

/* ---- progress and cancellation ---- */
static void test_progress(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    json_t *r = rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                           "call\",\"params\":{\"name\":\"test_tool_with_progress\",\"_meta\":{"
                           "\"progressToken\":\"tok-1\"}}}");
    json_decref(r);
    assert_int_equal(cap_count(&f->a, "notifications/progress"), 3);
    double last = -1;
    size_t i;
    json_t *m;
    json_array_foreach (f->a.msgs, i, m) {
        json_t *p = json_object_get(m, "params");
        assert_string_equal(json_string_value(json_object_get(p, "progressToken")), "tok-1");
        assert_true(json_number_value(json_object_get(p, "progress")) > last);
        last = json_number_value(json_object_get(p, "progress"));
        assert_true(json_number_value(json_object_get(p, "total")) == 100);
    }
    assert_true(last == 100);
    /* no token: no progress */
    json_decref(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                           "call\",\"params\":{\"name\":\"test_tool_with_progress\"}}"));
    assert_int_equal(cap_count(&f->a, "notifications/progress"), 3);
}

static json_t *t_mono(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    assert_int_equal(mcp_call_progress(c, 10, -1, NULL), 0);
    assert_int_equal(mcp_call_progress(c, 10, -1, NULL), -1);
    assert_int_equal(mcp_call_progress(c, 5, -1, NULL), -1);
    assert_int_equal(mcp_call_progress(c, 10.5, -1, "m"), 0);
    assert_int_equal(json_integer_value(mcp_call_progress_token(c)), 99);
    return mcp_result_text("ok");
}

static void test_progress_monotonic(void **state)
{
    (void)state;
    mcp_server_info info = {"m", "1", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    mcp_tool_def d = {"mono", NULL, "monotonic", NULL, NULL, NULL, t_mono, NULL};
    assert_int_equal(mcp_server_add_tool(srv, &d, NULL), ERR_OK);
    cap c;
    cap_init(&c);
    mcp_session *s = mcp_session_new(srv, &cap_ops, &c);
    assert_int_not_equal(mcp_server_add_tool(srv, &d, NULL), ERR_OK); /* frozen */
    init_session(s, "2025-06-18");
    json_decref(rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                       "call\",\"params\":{\"name\":\"mono\",\"_meta\":{\"progressToken\":99}}}"));
    assert_int_equal(json_array_size(c.msgs), 2);
    /* no prompts or resources registered: their methods do not exist */
    json_t *r = rpc(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/list\"}");
    assert_int_equal(err_code_of(r), -32601);
    json_decref(r);
    mcp_session_free(s);
    mcp_server_free(srv);
    cap_fini(&c);
}

typedef struct call_thread {
    mcp_session *s;
    const char *body;
    mcp_reply reply;
    mcp_reply_kind kind;
} call_thread;

static void *run_call(void *arg)
{
    call_thread *ct = arg;
    ct->kind = mcp_session_handle(ct->s, ct->body, strlen(ct->body), NULL, &ct->reply);
    return NULL;
}

static void wait_for(cap *c, const char *method, size_t n)
{
    pthread_mutex_lock(&c->mu);
    for (;;) {
        size_t k = 0, i;
        json_t *m;
        json_array_foreach (c->msgs, i, m)
            if (strcmp(json_string_value(json_object_get(m, "method")), method) == 0)
                k++;
        if (k >= n)
            break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

static void test_cancellation(void **state)
{
    fx *f = *state;
    init_session(f->sa, "2025-11-25");
    call_thread ct = {
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":\"blk\",\"method\":\"tools/"
        "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":1}}}",
        {0},
        0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_call, &ct), 0);
    wait_for(&f->a, "notifications/progress", 1);
    /* another request is served meanwhile on this thread */
    json_decref(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"));
    /* a cancellation for another id changes nothing; the right one ends the call */
    assert_null(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                           "cancelled\",\"params\":{\"requestId\":\"other\"}}"));
    assert_null(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                           "cancelled\",\"params\":{\"requestId\":\"blk\",\"reason\":\"user\"}}"));
    pthread_join(th, NULL);
    assert_int_equal(ct.kind, MCP_REPLY_NONE);
    assert_null(ct.reply.json);

    /* released (not cancelled) calls answer normally */
    call_thread c2 = {
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/"
        "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":2}}}",
        {0},
        0};
    assert_int_equal(pthread_create(&th, NULL, run_call, &c2), 0);
    wait_for(&f->a, "notifications/progress", 2);
    mcp_fixtures_release();
    pthread_join(th, NULL);
    assert_int_equal(c2.kind, MCP_REPLY_RESPONSE);
    assert_non_null(strstr(c2.reply.json, "released"));
    mcp_reply_free(&c2.reply);
}

/* Initialises session a with the sampling capability and starts test_sampling on a
 * thread (ct, th); returns the sampling/createMessage request it sent (new ref). */
static json_t *start_sampling(fx *f, call_thread *ct, pthread_t *th)
{
    json_decref(rpc(
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\","
        "\"capabilities\":{\"sampling\":{}},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"));
    *ct = (call_thread){
        f->sa,
        "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"tools/"
        "call\",\"params\":{\"name\":\"test_sampling\",\"arguments\":{\"prompt\":\"hi\"}}}",
        {0},
        0};
    assert_int_equal(pthread_create(th, NULL, run_call, ct), 0);
    wait_for(&f->a, "sampling/createMessage", 1);
    pthread_mutex_lock(&f->a.mu);
    json_t *req = json_incref(json_array_get(f->a.msgs, 0));
    pthread_mutex_unlock(&f->a.mu);
    return req;
}

static void test_client_request(void **state)
{
    fx *f = *state;
    call_thread ct;
    pthread_t th;
    json_t *req = start_sampling(f, &ct, &th);
    assert_non_null(mcp_session_client_capability(f->sa, "sampling"));
    assert_null(mcp_session_client_capability(f->sa, "elicitation"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(req, "params"), "maxTokens")), 100);
    char *id = json_dumps(json_object_get(req, "id"), JSON_ENCODE_ANY);
    json_decref(req);
    /* an answer to an unknown id is ignored; the right one completes the call */
    assert_null(rpc(f->sa, "{\"jsonrpc\":\"2.0\",\"id\":9999,\"result\":{}}"));
    assert_null(rpcf(f->sa,
                     "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"role\":\"assistant\","
                     "\"content\":{\"type\":\"text\",\"text\":\"pong\"},\"model\":\"m\"}}",
                     id));
    free(id);
    pthread_join(th, NULL);
    assert_int_equal(ct.kind, MCP_REPLY_RESPONSE);
    assert_non_null(strstr(ct.reply.json, "LLM response: pong"));
    mcp_reply_free(&ct.reply);
    /* no elicitation capability: a tool error, no request sent */
    json_t *r =
        rpc(f->sa,
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
            "call\",\"params\":{\"name\":\"test_elicitation\",\"arguments\":{\"message\":\"m\"}}}");
    assert_true(json_is_true(json_object_get(result_of(r), "isError")));
    json_decref(r);
    assert_int_equal(cap_count(&f->a, "elicitation/create"), 0);
}

/* A client's answer to our request that carries a NUL reaches the waiting call as an
 * error naming where, never as a value. */
static void test_client_response_nul(void **state)
{
    fx *f = *state;
    call_thread ct;
    pthread_t th;
    json_t *req = start_sampling(f, &ct, &th);
    char *id = json_dumps(json_object_get(req, "id"), JSON_ENCODE_ANY);
    json_decref(req);
    mcp_reply_kind k;
    char body[300];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"role\":\"assistant\",\"content\":{"
             "\"type\":\"text\",\"text\":\"po\\u0000ng\"},\"model\":\"m\"}}",
             id);
    free(id);
    assert_null(raw(f->sa, body, &k));
    assert_int_equal(k, MCP_REPLY_NONE);
    pthread_join(th, NULL);
    assert_int_equal(ct.kind, MCP_REPLY_RESPONSE);
    json_t *r = json_loads(ct.reply.json, 0, NULL);
    const char *txt = tool_error_text(r);
    if (!strstr(txt, "result.content.text") || !strstr(txt, "NUL"))
        fail_msg("expected an error naming result.content.text, got %s", txt);
    json_decref(r);
    mcp_reply_free(&ct.reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_verbatim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_and_big_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_member_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pre_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_setlevel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
        cmocka_unit_test(test_subscriptions_template),
        cmocka_unit_test(test_subscription_index_cost),
        cmocka_unit_test(test_subscription_limits),
        cmocka_unit_test(test_subscribe_check_and_filter),
        cmocka_unit_test(test_registration),
        cmocka_unit_test_setup_teardown(test_invalid_args_default, setup, teardown),
        cmocka_unit_test(test_invalid_args_hook),
        cmocka_unit_test(test_invalid_args_any_of),
        cmocka_unit_test_setup_teardown(test_prompts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
        cmocka_unit_test(test_progress_monotonic),
        cmocka_unit_test_setup_teardown(test_cancellation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_response_nul, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
