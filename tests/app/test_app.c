/* tests/app/test_app.c — the operations of ctxd as agents use them: an in-process
 * mcp_server with app/ registered, driven with JSON strings through
 * mcp_session_handle (as a client would) on a real store (SQLite file or :memory:,
 * argv[1]). Several agents of different types collaborate in one session; the
 * visibility matrix over every read path; default deny; permissions; every error code
 * reachable from the tools; memory types and TTL (injected clock); since_id; search;
 * audit rows; rate limiting; resources, subscriptions and prompts; the per-MCP-session
 * state; maintenance passes. The fixture and helpers are app_harness.h.
 * Must not: sleep (the clock is injected) or leave files behind. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/schemas.h"
#include "app_harness.h"

/* ---- tests ---- */

static void test_collaboration_visibility(void **state)
{
    fx *f = *state;
    char *c1 = auth_agent(f, "claude-1", "claude", NULL);
    char *c2 = auth_agent(f, "claude-2", "claude", NULL);
    char *g1 = auth_agent(f, "gemini-1", "gemini", NULL);
    char *ad = auth_agent(f, "admin-1", "admin", "[\"read\",\"write\",\"admin\",\"debug\"]");
    char *ge = auth_agent(f, "generic-1", "generic", NULL);
    char *sid = new_session(f, c1);
    int64_t pub = post(f, c1, sid, "public finding about the parser", "public");
    int64_t prv = post(f, c1, sid, "claude private note zebra", "private");
    int64_t ao = post(f, c1, sid, "for claude agents only", "agent_only");
    int64_t adm = post(f, ad, sid, "admin only directive", "admin_only");
    int64_t gp = post(f, g1, sid, "gemini private note", "private");
    (void)ao;
    (void)gp;
    assert_int_equal(nvisible(f, c1, sid), 3);
    assert_int_equal(nvisible(f, c2, sid), 2);
    assert_int_equal(nvisible(f, g1, sid), 2);
    assert_int_equal(nvisible(f, ad, sid), 5);
    assert_int_equal(nvisible(f, ge, sid), 1);

    /* get_message */
    expect_code(tool(f, "get_message",
                     json_pack("{s:I s:s}", "message_id", (json_int_t)prv, "auth_token", c2)),
                "MESSAGE_NOT_FOUND");
    expect_code(tool(f, "get_message",
                     json_pack("{s:I s:s}", "message_id", (json_int_t)adm, "auth_token", c1)),
                "MESSAGE_NOT_FOUND");
    json_t *sc = tool(f, "get_message",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)prv, "auth_token", ad));
    expect_ok(sc);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sc, "message"), "content")),
        "claude private note zebra");
    json_decref(sc);

    /* visibility_filter */
    expect_code(tool(f, "get_messages",
                     json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter", "secret",
                               "auth_token", c1)),
                "INVALID_VISIBILITY");
    expect_code(tool(f, "get_messages",
                     json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter",
                               "admin_only", "auth_token", c1)),
                "PERMISSION_DENIED");
    sc = tool(f, "get_messages",
              json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter", "private",
                        "auth_token", c1));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 1);
    json_decref(sc);
    sc = tool(f, "get_messages",
              json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter", "admin_only",
                        "auth_token", ad));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 1);
    json_decref(sc);
    /* admins see everything: the private filter selects every agent's private messages */
    sc = tool(f, "get_messages",
              json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter", "private",
                        "auth_token", ad));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 2);
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), 2);
    json_decref(sc);
    sc = tool(f, "get_messages",
              json_pack("{s:s s:s s:i s:i s:s}", "session_id", sid, "visibility_filter", "private",
                        "offset", 1, "limit", 5, "auth_token", ad));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 1);
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(json_object_get(sc, "messages"), 0), "id")),
                     gp);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s s:s}", "session_id", sid, "query", "gemini private note",
                        "search_scope", "private", "auth_token", ad));
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(json_object_get(sc, "results"), 0), "message"), "id")),
        gp);
    assert_int_equal(json_integer_value(json_object_get(sc, "message_count")), 2);
    json_decref(sc);

    /* thread: replies (one private) */
    json_t *rep = tool(f, "add_message",
                       json_pack("{s:s s:s s:I s:s}", "session_id", sid, "content", "reply",
                                 "parent_message_id", (json_int_t)pub, "auth_token", g1));
    expect_ok(rep);
    json_decref(rep);
    rep = tool(f, "add_message",
               json_pack("{s:s s:s s:s s:I s:s}", "session_id", sid, "content", "hidden reply",
                         "visibility", "private", "parent_message_id", (json_int_t)pub,
                         "auth_token", g1));
    expect_ok(rep);
    json_decref(rep);
    sc = tool(f, "get_thread",
              json_pack("{s:I s:s}", "message_id", (json_int_t)pub, "auth_token", c2));
    expect_ok(sc);
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 2);
    json_decref(sc);
    sc = tool(f, "get_thread",
              json_pack("{s:I s:s}", "message_id", (json_int_t)pub, "auth_token", g1));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 3);
    json_decref(sc);
    /* replying to a message the caller cannot see */
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:I s:s}", "session_id", sid, "content", "x",
                               "parent_message_id", (json_int_t)prv, "auth_token", c2)),
                "MESSAGE_NOT_FOUND");

    /* search respects visibility; verbatim -> 100 */
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s}", "session_id", sid, "query", "private note zebra",
                        "auth_token", c2));
    expect_ok(sc);
    json_t *res = json_object_get(sc, "results");
    for (size_t i = 0; i < json_array_size(res); i++)
        assert_int_not_equal(json_integer_value(json_object_get(
                                 json_object_get(json_array_get(res, i), "message"), "id")),
                             prv);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s}", "session_id", sid, "query", "private note zebra",
                        "auth_token", c1));
    res = json_object_get(sc, "results");
    assert_true(json_array_size(res) >= 1);
    json_t *top = json_array_get(res, 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(top, "message"), "id")),
                     prv);
    assert_true(json_number_value(json_object_get(top, "score")) == 100.0);
    assert_string_equal(json_string_value(json_object_get(top, "relevance")), "high");
    json_decref(sc);
    /* search_scope public excludes own private */
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s s:s}", "session_id", sid, "query", "private note zebra",
                        "search_scope", "public", "auth_token", c1));
    res = json_object_get(sc, "results");
    for (size_t i = 0; i < json_array_size(res); i++)
        assert_int_not_equal(json_integer_value(json_object_get(
                                 json_object_get(json_array_get(res, i), "message"), "id")),
                             prv);
    json_decref(sc);

    /* search_by_sender sees only visible ones */
    sc =
        tool(f, "search_by_sender",
             json_pack("{s:s s:s s:s}", "session_id", sid, "sender", "claude-1", "auth_token", g1));
    expect_ok(sc);
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), 1);
    json_decref(sc);

    /* get_session: newest first, visible count */
    sc = tool(f, "get_session", json_pack("{s:s s:s}", "session_id", sid, "auth_token", c2));
    expect_ok(sc);
    assert_int_equal(json_integer_value(json_object_get(sc, "message_count")), 3);
    json_decref(sc);

    /* permissions */
    expect_code(
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", sid, "content", "hi", "auth_token", ge)),
        "PERMISSION_DENIED");
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:s s:s}", "session_id", sid, "content", "hi",
                               "visibility", "admin_only", "auth_token", c1)),
                "PERMISSION_DENIED");
    expect_code(tool(f, "get_performance_metrics", json_pack("{s:s}", "auth_token", c1)),
                "PERMISSION_DENIED");
    sc = tool(f, "get_performance_metrics", json_pack("{s:s}", "auth_token", ad));
    expect_ok(sc);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(sc, "tools"), "add_message"), "requests")) >=
                5);
    assert_non_null(json_object_get(json_object_get(sc, "database"), "pool"));
    json_decref(sc);
    /* list_sessions */
    sc = tool(f, "list_sessions", json_pack("{s:s}", "auth_token", ge));
    expect_ok(sc);
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), 1);
    json_decref(sc);
    free(c1);
    free(c2);
    free(g1);
    free(ad);
    free(ge);
    free(sid);
}

static void test_default_deny_and_tokens(void **state)
{
    fx *f = *state;
    char *c1 = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, c1);
    /* a connection (MCP session) that never authenticated: default deny */
    expect_code(toolc(&f->c[2], "get_messages", json_pack("{s:s}", "session_id", sid)),
                "AUTH_FAILED");
    expect_code(toolc(&f->c[2], "create_session", json_pack("{s:s}", "purpose", "x")),
                "AUTH_FAILED");
    /* the one that authenticated acts as claude-1 without auth_token... */
    json_t *own = tool(f, "add_message",
                       json_pack("{s:s s:s}", "session_id", sid, "content", "no token needed"));
    expect_ok(own);
    json_decref(own);
    own = tool(f, "get_messages", json_pack("{s:s}", "session_id", sid));
    expect_ok(own);
    json_t *m0 = json_array_get(json_object_get(own, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "sender")), "claude-1");
    json_decref(own);
    /* ...but only for a request presenting the credential it authenticated with: the
     * session id alone is not one */
    f->c[0].req.api_key_ok = false;
    expect_code(tool(f, "get_messages", json_pack("{s:s}", "session_id", sid)), "AUTH_FAILED");
    f->c[0].req.api_key_ok = true;
    /* an explicit auth_token wins over the remembered identity */
    char *g2 = authc(&f->c[1], "gemini-2", "gemini", NULL);
    own = tool(
        f, "add_message",
        json_pack("{s:s s:s s:s}", "session_id", sid, "content", "as gemini", "auth_token", g2));
    expect_ok(own);
    json_decref(own);
    own = tool(f, "get_messages", json_pack("{s:s}", "session_id", sid));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(own, "messages"), 1), "sender")),
                        "gemini-2");
    json_decref(own);
    free(g2);
    expect_code(
        tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", "garbage")),
        "INVALID_TOKEN_FORMAT");
    expect_code(tool(f, "get_messages",
                     json_pack("{s:s s:s}", "session_id", sid, "auth_token",
                               "sct_0b7e7a4e-2d8f-4b8e-9c1d-3f2a1b0c9d8e")),
                "TOKEN_AUTHENTICATION_FAILED");
    /* no API key on the transport */
    f->c[1].req.api_key_ok = false;
    expect_code(toolc(&f->c[1], "authenticate_agent",
                      json_pack("{s:s s:s}", "agent_id", "x", "agent_type", "claude")),
                "AUTH_FAILED");
    expect_code(tool(f, "authenticate_agent",
                     json_pack("{s:s s:s}", "agent_id", "", "agent_type", "claude")),
                "INVALID_INPUT");
    /* refresh, then the old token no longer works */
    json_t *sc = tool(f, "refresh_token", json_pack("{s:s}", "current_token", c1));
    expect_ok(sc);
    char *c1b = strdup(json_string_value(json_object_get(sc, "token")));
    assert_true(json_integer_value(json_object_get(sc, "expires_in")) > 0);
    json_decref(sc);
    expect_code(
        tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", c1)),
        "TOKEN_AUTHENTICATION_FAILED");
    expect_ok(
        sc = tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", c1b)));
    json_decref(sc);
    expect_code(tool(f, "refresh_token", json_pack("{s:s}", "current_token", "nope")),
                "INVALID_TOKEN_FORMAT");
    /* expiry: protected tokens last 1 h; an expired one is answered as an unknown one
     * (the same before and after the maintenance deletes it) */
    f->now += (utc_us)7200 * 1000000;
    expect_code(
        tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", c1b)),
        "TOKEN_AUTHENTICATION_FAILED");
    expect_code(tool(f, "refresh_token", json_pack("{s:s}", "current_token", c1b)),
                "TOKEN_AUTHENTICATION_FAILED");
    free(c1);
    free(c1b);
    free(sid);
}

static void test_error_codes(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    expect_code(
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", sid, "content", " \x01\t ", "auth_token", t)),
        "INVALID_INPUT");
    char *big = malloc(100002);
    memset(big, 'a', 100001);
    big[100001] = 0;
    expect_code(
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", sid, "content", big, "auth_token", t)),
        "CONTENT_TOO_LARGE");
    big[100000] = 0; /* exactly the limit */
    json_t *sc =
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", sid, "content", big, "auth_token", t));
    expect_ok(sc);
    json_decref(sc);
    free(big);
    /* sanitising: control chars removed, trimmed */
    sc = tool(f, "add_message",
              json_pack("{s:s s:s s:s}", "session_id", sid, "content",
                        "  a\x01"
                        "b\nc\x7f  ",
                        "auth_token", t));
    int64_t mid = json_integer_value(json_object_get(sc, "message_id"));
    json_decref(sc);
    sc = tool(f, "get_message",
              json_pack("{s:I s:s}", "message_id", (json_int_t)mid, "auth_token", t));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sc, "message"), "content")), "ab\nc");
    json_decref(sc);
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:s s:s}", "session_id", sid, "content", "x", "visibility",
                               "everyone", "auth_token", t)),
                "INVALID_VISIBILITY");
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:[i] s:s}", "session_id", sid, "content", "x", "metadata",
                               1, "auth_token", t)),
                "INVALID_METADATA_FORMAT");
    expect_code(
        tool(f, "create_session",
             json_pack("{s:s s:s s:s}", "purpose", "x", "metadata", "not json", "auth_token", t)),
        "INVALID_METADATA_FORMAT");
    json_t *m = json_object();
    for (int i = 0; i < 51; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(m, k, json_integer(i));
    }
    expect_code(tool(f, "create_session",
                     json_pack("{s:s s:o s:s}", "purpose", "x", "metadata", m, "auth_token", t)),
                "INVALID_METADATA_FORMAT");
    expect_code(
        tool(f, "create_session", json_pack("{s:s s:s}", "purpose", "   ", "auth_token", t)),
        "INVALID_INPUT");
    expect_code(
        tool(f, "get_messages",
             json_pack("{s:s s:s}", "session_id", "session_0123456789abcdef", "auth_token", t)),
        "SESSION_NOT_FOUND");
    expect_code(
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", "nope", "content", "x", "auth_token", t)),
        "SESSION_NOT_FOUND");
    expect_code(
        tool(f, "get_message", json_pack("{s:i s:s}", "message_id", 999999, "auth_token", t)),
        "MESSAGE_NOT_FOUND");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:s}", "key", "a b", "value", 1, "auth_token", t)),
                "INVALID_KEY");
    expect_code(
        tool(f, "set_memory", json_pack("{s:s s:i s:s}", "key", "", "value", 1, "auth_token", t)),
        "INVALID_KEY");
    char longkey[300];
    memset(longkey, 'k', 256);
    longkey[256] = 0;
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:s}", "key", longkey, "value", 1, "auth_token", t)),
                "INVALID_KEY");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:i s:s}", "key", "k", "value", 1, "expires_in", -1,
                               "auth_token", t)),
                "INVALID_TTL_VALUE");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:i s:s}", "key", "k", "value", 1, "expires_in", 31536001,
                               "auth_token", t)),
                "INVALID_TTL_VALUE");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:s s:s}", "key", "k", "value", 1, "expires_in", "soon",
                               "auth_token", t)),
                "INVALID_TTL_FORMAT");
    expect_ok(sc = tool(f, "set_memory",
                        json_pack("{s:s s:i s:s}", "key", "k", "value", 1, "auth_token", t)));
    json_decref(sc);
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:b s:s}", "key", "k", "value", 2, "overwrite", 0,
                               "auth_token", t)),
                "KEY_EXISTS");
    expect_code(tool(f, "get_memory", json_pack("{s:s s:s}", "key", "missing", "auth_token", t)),
                "MEMORY_NOT_FOUND");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:s s:s}", "key", "k", "value", 1, "session_id",
                               "session_0123456789abcdef", "auth_token", t)),
                "SESSION_NOT_FOUND");
    expect_code(tool(f, "search_by_timerange",
                     json_pack("{s:s s:s s:s s:s}", "session_id", sid, "start_time", "yesterday",
                               "end_time", "2030-01-01", "auth_token", t)),
                "INVALID_DATETIME");
    sc = tool(f, "search_by_timerange",
              json_pack("{s:s s:s s:s s:s}", "session_id", sid, "start_time", "2000-01-01T00:00:00",
                        "end_time", "2099-01-01 00:00", "auth_token", t));
    expect_ok(sc);
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), 2);
    json_decref(sc);
    free(t);
    free(sid);
}

static void test_memory(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *o = auth_agent(f, "claude-2", "claude", NULL);
    char *sid = new_session(f, t);
    const char *vals[] = {
        "\"123\"", "123", "12.5", "true", "null", "[1,\"a\"]", "{\"x\":{\"y\":[1]}}", "\"\""};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        json_error_t je;
        json_t *v = json_loads(vals[i], JSON_DECODE_ANY, &je);
        json_t *sc = tool(f, "set_memory",
                          json_pack("{s:s s:O s:s}", "key", "typed", "value", v, "auth_token", t));
        expect_ok(sc);
        assert_string_equal(json_string_value(json_object_get(sc, "scope")), "global");
        json_decref(sc);
        sc = tool(f, "get_memory", json_pack("{s:s s:s}", "key", "typed", "auth_token", t));
        expect_ok(sc);
        assert_true(json_equal(json_object_get(sc, "value"), v));
        json_decref(sc);
        json_decref(v);
    }
    /* another agent does not see it */
    expect_code(tool(f, "get_memory", json_pack("{s:s s:s}", "key", "typed", "auth_token", o)),
                "MEMORY_NOT_FOUND");
    /* session scope + TTL with the injected clock */
    json_t *sc = tool(f, "set_memory",
                      json_pack("{s:s s:s s:s s:i s:s}", "key", "a_b", "value", "v", "session_id",
                                sid, "expires_in", 10, "auth_token", t));
    expect_ok(sc);
    assert_true(json_is_true(json_object_get(sc, "session_scoped")));
    assert_true(json_is_string(json_object_get(sc, "expires_at")));
    json_decref(sc);
    expect_ok(sc = tool(f, "set_memory",
                        json_pack("{s:s s:s s:s}", "key", "axb", "value", "v", "auth_token", t)));
    json_decref(sc);
    sc = tool(f, "list_memory", json_pack("{s:s s:s}", "session_id", "all", "auth_token", t));
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), 3);
    json_decref(sc);
    sc = tool(f, "list_memory",
              json_pack("{s:s s:s s:s}", "session_id", "all", "prefix", "a_", "auth_token", t));
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), 1); /* literal '_' */
    json_decref(sc);
    sc = tool(f, "list_memory", json_pack("{s:s}", "auth_token", t));
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), 2); /* global only */
    json_decref(sc);
    f->now += (utc_us)9 * 1000000;
    expect_ok(
        sc = tool(f, "get_memory",
                  json_pack("{s:s s:s s:s}", "key", "a_b", "session_id", sid, "auth_token", t)));
    json_decref(sc);
    f->now += (utc_us)2 * 1000000;
    expect_code(tool(f, "get_memory",
                     json_pack("{s:s s:s s:s}", "key", "a_b", "session_id", sid, "auth_token", t)),
                "MEMORY_NOT_FOUND");
    /* delete */
    sc = tool(f, "delete_memory", json_pack("{s:s s:s}", "key", "axb", "auth_token", t));
    expect_ok(sc);
    assert_true(json_is_true(json_object_get(sc, "deleted")));
    json_decref(sc);
    sc = tool(f, "delete_memory", json_pack("{s:s s:s}", "key", "axb", "auth_token", t));
    assert_true(json_is_false(json_object_get(sc, "deleted")));
    json_decref(sc);
    free(t);
    free(o);
    free(sid);
}

static void test_since_id_and_audit(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char b[16];
        snprintf(b, sizeof b, "m%d", i);
        ids[i] = post(f, t, sid, b, "public");
    }
    json_t *sc = tool(f, "get_messages",
                      json_pack("{s:s s:I s:s}", "session_id", sid, "since_id", (json_int_t)ids[2],
                                "auth_token", t));
    json_t *ms = json_object_get(sc, "messages");
    assert_int_equal(json_array_size(ms), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ms, 0), "id")), ids[3]);
    assert_false(json_is_true(json_object_get(sc, "has_more")));
    json_decref(sc);
    sc = tool(f, "get_messages",
              json_pack("{s:s s:i s:s}", "session_id", sid, "limit", 2, "auth_token", t));
    assert_true(json_is_true(json_object_get(sc, "has_more")));
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), 5);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(sc, "messages"), 0), "content")),
                        "m0");
    json_decref(sc);
    expect_ok(sc = tool(f, "set_memory",
                        json_pack("{s:s s:i s:s}", "key", "k", "value", 1, "auth_token", t)));
    json_decref(sc);
    expect_ok(sc = tool(f, "delete_memory", json_pack("{s:s s:s}", "key", "k", "auth_token", t)));
    json_decref(sc);
    /* a failed write leaves no audit row */
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:s}", "session_id", "session_0123456789abcdef", "content",
                               "x", "auth_token", t)),
                "SESSION_NOT_FOUND");
    store_audits au;
    err_t e;
    store_audit_query q = {.agent_id = "claude-1", .limit = 100};
    assert_int_equal(store_audit_list(f->db.st, &q, &au, &e), ERR_OK);
    int created = 0, added = 0, mset = 0, mdel = 0, authd = 0;
    for (size_t i = 0; i < au.n; i++) {
        authd += !strcmp(au.v[i].event_type, "agent_authenticated");
        created += !strcmp(au.v[i].event_type, "session_created");
        added += !strcmp(au.v[i].event_type, "message_added");
        mset += !strcmp(au.v[i].event_type, "memory_set");
        mdel += !strcmp(au.v[i].event_type, "memory_deleted");
    }
    assert_int_equal(created, 1);
    assert_int_equal(added, 5);
    assert_int_equal(mset, 1);
    assert_int_equal(mdel, 1);
    assert_int_equal(authd, 1);
    store_audits_free(&au);
    free(t);
    free(sid);
}

static void test_rate_limit(void **state)
{
    fx *f = *state;
    /* burst 3 at 1/s: authenticate takes one from "test", then per agent */
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    json_t *sc;
    for (int i = 0; i < 3; i++) {
        expect_ok(sc = tool(f, "list_sessions", json_pack("{s:s}", "auth_token", t)));
        json_decref(sc);
    }
    sc = tool(f, "list_sessions", json_pack("{s:s}", "auth_token", t));
    assert_true(json_is_true(json_object_get(sc, "recoverable")));
    assert_true(json_integer_value(json_object_get(sc, "retry_after")) >= 1);
    expect_code(sc, "RATE_LIMITED");
    f->mono += 2000000;
    expect_ok(sc = tool(f, "list_sessions", json_pack("{s:s}", "auth_token", t)));
    json_decref(sc);
    free(t);
}

static json_t *read_res(client *cl, const char *uri)
{
    return rpc(cl, "resources/read", json_pack("{s:s}", "uri", uri));
}

static const char *res_text(json_t *r)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(r, "result"), "contents"), 0), "text"));
}

static void test_resources_prompts(void **state)
{
    fx *f = *state;
    client *a = &f->c[1], *b = &f->c[2];
    /* unauthenticated connection: denied */
    char uri[128];
    json_t *r = read_res(b, "server://info/x");
    assert_non_null(res_text(r));
    json_decref(r);
    r = read_res(b, "docs://tools/add_message");
    assert_non_null(strstr(res_text(r), "add_message"));
    json_decref(r);
    char *ta = authc(a, "claude-1", "claude", NULL);
    char *sid = new_session(f, ta);
    snprintf(uri, sizeof uri, "session://%s", sid);
    r = read_res(b, uri);
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);
    char *tb = authc(b, "gemini-1", "gemini", NULL);
    /* b subscribes */
    r = rpc(b, "resources/subscribe", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
    post(f, ta, sid, "visible to all", "public");
    post(f, ta, sid, "claude secret", "private");
    size_t n = 0, i;
    json_t *m;
    json_array_foreach (b->cap.msgs, i, m)
        if (json_string_value(json_object_get(m, "method")) &&
            !strcmp(json_string_value(json_object_get(m, "method")),
                    "notifications/resources/updated"))
            n++;
    /* only the public message's: b (gemini) may not read claude's private one, so it is
     * not told about it either (docs/mcp-interface.md, "Subscriptions") */
    assert_int_equal(n, 1);
    r = read_res(b, uri);
    const char *txt = res_text(r);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "visible to all"));
    assert_null(strstr(txt, "claude secret"));
    json_decref(r);
    r = read_res(a, uri);
    assert_non_null(strstr(res_text(r), "claude secret"));
    json_decref(r);
    snprintf(uri, sizeof uri, "session://%s/messages/1", sid);
    r = read_res(a, uri);
    assert_non_null(strstr(res_text(r), "claude secret"));
    assert_null(strstr(res_text(r), "visible to all"));
    json_decref(r);
    /* memory: own only */
    json_t *sc = toolc(b, "set_memory",
                       json_pack("{s:s s:s s:s}", "key", "note", "value", "gem", "auth_token", tb));
    expect_ok(sc);
    json_decref(sc);
    r = read_res(b, "agent://gemini-1/memory");
    assert_non_null(strstr(res_text(r), "gem"));
    json_decref(r);
    r = read_res(a, "agent://gemini-1/memory");
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);
    /* prompts */
    r = rpc(b, "prompts/get",
            json_pack("{s:s s:{s:s}}", "name", "debug-session", "arguments", "session_id", sid));
    json_t *msgs = json_object_get(json_object_get(r, "result"), "messages");
    const char *pt = json_string_value(
        json_object_get(json_object_get(json_array_get(msgs, 0), "content"), "text"));
    assert_non_null(pt);
    assert_non_null(strstr(pt, "visible to all"));
    assert_null(strstr(pt, "claude secret"));
    json_decref(r);
    r = rpc(b, "prompts/get",
            json_pack("{s:s s:{s:s s:s}}", "name", "setup-collaboration", "arguments", "purpose",
                      "design review", "expert_roles", "architect, tester"));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
    free(ta);
    free(tb);
    free(sid);
}

/* the array of strings sorted, as compact JSON (malloc'd); steals arr */
static char *sorted_json(json_t *arr)
{
    size_t n = json_array_size(arr);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(arr, b - 1)),
                                           json_string_value(json_array_get(arr, b))) > 0;
             b--) {
            json_t *x = json_incref(json_array_get(arr, b - 1));
            json_array_set(arr, b - 1, json_array_get(arr, b));
            json_array_set_new(arr, b, x);
        }
    char *t = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return t;
}

/* "session://" sid suffix */
static json_t *suri(const char *sid, const char *suffix)
{
    char u[128];
    snprintf(u, sizeof u, "session://%s%s", sid, suffix);
    return json_string(u);
}

/* asserts that client cl received exactly the resources/updated notifications for these
 * URIs (pairs of session id and suffix, NULL-terminated; any order) since the last call and
 * no notifications/message; clears the capture */
static void expect_updates(client *cl, ...)
{
    json_t *want = json_array(), *got = json_array(), *m;
    va_list ap;
    va_start(ap, cl);
    for (const char *sid; (sid = va_arg(ap, const char *));)
        json_array_append_new(want, suri(sid, va_arg(ap, const char *)));
    va_end(ap);
    size_t i;
    pthread_mutex_lock(&cl->cap.mu);
    json_array_foreach (cl->cap.msgs, i, m) {
        const char *meth = json_string_value(json_object_get(m, "method"));
        assert_false(meth && strcmp(meth, "notifications/message") == 0);
        if (meth && strcmp(meth, "notifications/resources/updated") == 0)
            json_array_append(got, json_object_get(json_object_get(m, "params"), "uri"));
    }
    json_array_clear(cl->cap.msgs);
    pthread_mutex_unlock(&cl->cap.mu);
    char *w = sorted_json(want), *g = sorted_json(got);
    assert_string_equal(g, w);
    free(w);
    free(g);
}

static void sub(client *cl, const char *sid, const char *suffix, bool on)
{
    json_t *r = rpc(cl, on ? "resources/subscribe" : "resources/unsubscribe",
                    json_pack("{s:o}", "uri", suri(sid, suffix)));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
}

/* any session://{id}/messages/{limit} subscription hears about a new message of that
 * session (not only the common window sizes), and nothing but resources/updated is sent */
static void test_resource_updates_by_template(void **state)
{
    fx *f = *state;
    client *a = &f->c[1], *b = &f->c[2];
    char *ta = authc(a, "claude-1", "claude", NULL);
    char *tb = authc(b, "gemini-1", "gemini", NULL);
    char *s1 = new_session(f, ta), *s2 = new_session(f, ta);
    sub(a, s1, "", true);
    sub(b, s1, "/messages/37", true);
    sub(b, s1, "/messages/5", true);
    sub(b, s2, "/messages/37", true);
    expect_updates(a, NULL);
    expect_updates(b, NULL);
    post(f, ta, s1, "hello", "public");
    expect_updates(a, s1, "", NULL);
    expect_updates(b, s1, "/messages/37", s1, "/messages/5", NULL);
    json_t *sc =
        toolc(b, "add_message",
              json_pack("{s:s s:s s:s}", "session_id", s2, "content", "hi", "auth_token", tb));
    expect_ok(sc);
    json_decref(sc);
    expect_updates(a, NULL);
    expect_updates(b, s2, "/messages/37", NULL);
    /* a failed post notifies nobody; unsubscribing stops the updates */
    expect_code(
        tool(f, "add_message",
             json_pack("{s:s s:s s:s}", "session_id", s1, "content", " ", "auth_token", ta)),
        "INVALID_INPUT");
    expect_updates(b, NULL);
    sub(b, s1, "/messages/37", false);
    /* (public: a private message of a's would not be announced to b at all) */
    post(f, ta, s1, "again", "public");
    expect_updates(b, s1, "/messages/5", NULL);
    expect_updates(a, s1, "", NULL);
    free(ta), free(tb), free(s1), free(s2);
}

/* arguments that fail a tool's input schema are INVALID_INPUT envelopes naming the
 * argument, while limits with their own codes keep them */
static void expect_invalid_arg(json_t *sc, const char *arg, const char *expect_in_error)
{
    char *t = json_dumps(sc, 0);
    const char *err = json_string_value(json_object_get(sc, "error"));
    if (!err || !strstr(err, expect_in_error)) {
        fprintf(stderr, "expected '%s' in the error of %s\n", expect_in_error, t);
        fail();
    }
    const char *sug = json_string_value(json_array_get(json_object_get(sc, "suggestions"), 0));
    char quoted[80];
    snprintf(quoted, sizeof quoted, "'%s'", arg);
    if (!sug || !strstr(sug, quoted)) {
        fprintf(stderr, "expected a suggestion naming %s in %s\n", quoted, t);
        fail();
    }
    free(t);
    json_t *ctx = json_object_get(sc, "context");
    assert_string_equal(json_string_value(json_object_get(ctx, "argument")), arg);
    assert_true(json_is_false(json_object_get(sc, "recoverable")));
    expect_code(sc, "INVALID_INPUT");
}

static void count_get_messages_errors(void *ud, const app_tool_stats *st)
{
    if (strcmp(st->tool, "get_messages") == 0)
        *(uint64_t *)ud = st->errors;
}

static void test_invalid_args_envelope(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    expect_invalid_arg(
        tool(f, "get_messages",
             json_pack("{s:s s:s s:s}", "session_id", sid, "limit", "ten", "auth_token", t)),
        "limit", "$.limit must be of type integer, got string");
    expect_invalid_arg(
        tool(f, "get_messages",
             json_pack("{s:s s:i s:s}", "session_id", sid, "limit", 5000, "auth_token", t)),
        "limit", "$.limit must be <= 1000, got 5000");
    expect_invalid_arg(
        tool(f, "get_messages",
             json_pack("{s:s s:i s:s}", "session_id", sid, "offset", -1, "auth_token", t)),
        "offset", "$.offset must be >= 0");
    expect_invalid_arg(
        tool(f, "add_message",
             json_pack("{s:s s:i s:s}", "session_id", sid, "content", 42, "auth_token", t)),
        "content", "$.content must be of type string, got integer");
    expect_invalid_arg(
        tool(f, "add_message", json_pack("{s:s s:s}", "session_id", sid, "auth_token", t)),
        "content", "$.content is required");
    expect_invalid_arg(tool(f, "add_message",
                            json_pack("{s:s s:s s:b s:s}", "session_id", sid, "content", "x",
                                      "colour", 1, "auth_token", t)),
                       "colour", "$.colour is not an accepted argument");
    expect_invalid_arg(
        tool(f, "list_sessions", json_pack("{s:s s:s}", "active_only", "yes", "auth_token", t)),
        "active_only", "must be of type boolean, got string");
    expect_invalid_arg(
        tool(f, "get_message", json_pack("{s:i s:s}", "message_id", 0, "auth_token", t)),
        "message_id", "$.message_id must be >= 1, got 0");
    expect_invalid_arg(tool(f, "set_memory",
                            json_pack("{s:s s:i s:s s:s}", "key", "k", "value", 1, "overwrite",
                                      "no", "auth_token", t)),
                       "overwrite", "must be of type boolean");
    /* limits moved into the schemas */
    expect_invalid_arg(
        tool(f, "create_session", json_pack("{s:s s:s}", "purpose", "", "auth_token", t)),
        "purpose", "$.purpose must be at least 1 characters long, got 0");
    char long_id[120];
    memset(long_id, 'x', 101);
    long_id[101] = 0;
    expect_invalid_arg(tool(f, "authenticate_agent",
                            json_pack("{s:s s:s}", "agent_id", long_id, "agent_type", "claude")),
                       "agent_id", "$.agent_id must be at most 100 characters long, got 101");
    memset(long_id, 'y', 51);
    long_id[51] = 0;
    expect_invalid_arg(tool(f, "authenticate_agent",
                            json_pack("{s:s s:s}", "agent_id", "a", "agent_type", long_id)),
                       "agent_type", "$.agent_type must be at most 50 characters long, got 51");
    long_id[50] = 0; /* exactly the limit passes */
    json_t *sc = tool(f, "authenticate_agent",
                      json_pack("{s:s s:s}", "agent_id", "a", "agent_type", long_id));
    expect_ok(sc);
    json_decref(sc);
    /* limits with their own codes keep them */
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:i s:s}", "key", "k", "value", 1, "expires_in", 31536001,
                               "auth_token", t)),
                "INVALID_TTL_VALUE");
    expect_code(tool(f, "set_memory",
                     json_pack("{s:s s:i s:s}", "key", "a b", "value", 1, "auth_token", t)),
                "INVALID_KEY");
    expect_code(tool(f, "add_message",
                     json_pack("{s:s s:s s:s s:s}", "session_id", sid, "content", "x", "visibility",
                               "everyone", "auth_token", t)),
                "INVALID_VISIBILITY");
    /* the failures are counted: in the tool's statistics and under INVALID_INPUT */
    assert_true(atomic_load(&f->app->err_counts[APP_INVALID_INPUT]) >= 12);
    uint64_t gm_errors = 0;
    app_foreach_tool_stats(f->app, count_get_messages_errors, &gm_errors);
    assert_int_equal(gm_errors, 3);
    free(t);
    free(sid);
}

static void test_more_tools(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *ge = auth_agent(f, "generic-1", "generic", NULL);
    char *sid = new_session(f, t);
    /* search: accents/case, metadata values, threshold, relevance */
    json_t *sc =
        tool(f, "add_message",
             json_pack("{s:s s:s s:{s:s} s:s}", "session_id", sid, "content", "Le CAFÉ est fermé",
                       "metadata", "ticket", "BUG-4711", "auth_token", t));
    expect_ok(sc);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s}", "session_id", sid, "query", "cafe est", "auth_token", t));
    assert_int_equal(json_array_size(json_object_get(sc, "results")), 1);
    assert_true(json_number_value(json_object_get(json_array_get(json_object_get(sc, "results"), 0),
                                                  "score")) == 100.0);
    assert_int_equal(json_integer_value(json_object_get(sc, "message_count")), 1);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s}", "session_id", sid, "query", "BUG-4711", "auth_token", t));
    assert_int_equal(json_array_size(json_object_get(sc, "results")), 1);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:b s:s}", "session_id", sid, "query", "BUG-4711",
                        "search_metadata", 0, "auth_token", t));
    assert_int_equal(json_array_size(json_object_get(sc, "results")), 0);
    json_decref(sc);
    /* many messages: every one is searched (pages), one result per message, limit kept */
    for (int i = 0; i < 1200; i++) {
        store_message m = {.session_id = sid,
                           .sender = "bulk",
                           .sender_type = "claude",
                           .content =
                               i == 1100 ? "needle in the haystack" : "filler text of no interest"};
        err_t e;
        assert_int_equal(store_message_add(f->db.st, &m, NULL, &e), ERR_OK);
    }
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:s}", "session_id", sid, "query", "needle in the haystack",
                        "auth_token", t));
    json_t *res = json_object_get(sc, "results");
    assert_true(json_array_size(res) >= 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(res, 0), "message"), "content")),
                        "needle in the haystack");
    assert_int_equal(json_integer_value(json_object_get(sc, "message_count")), 1201);
    json_decref(sc);
    sc = tool(f, "search_context",
              json_pack("{s:s s:s s:i s:i s:s}", "session_id", sid, "query", "filler text", "limit",
                        7, "fuzzy_threshold", 50, "auth_token", t));
    assert_int_equal(json_array_size(json_object_get(sc, "results")), 7);
    json_decref(sc);
    /* guidance by access level */
    sc = tool(f, "get_usage_guidance",
              json_pack("{s:s s:s}", "guidance_type", "security", "auth_token", ge));
    expect_ok(sc);
    assert_string_equal(json_string_value(json_object_get(sc, "access_level")), "READ_ONLY");
    json_decref(sc);
    /* a read-only agent cannot keep memory */
    expect_code(
        tool(f, "set_memory", json_pack("{s:s s:i s:s}", "key", "k", "value", 1, "auth_token", ge)),
        "PERMISSION_DENIED");
    /* list_sessions paging */
    char *sid2 = new_session(f, t);
    sc = tool(f, "list_sessions", json_pack("{s:i s:s}", "limit", 1, "auth_token", t));
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), 2);
    assert_true(json_is_true(json_object_get(sc, "has_more")));
    json_decref(sc);
    free(t);
    free(ge);
    free(sid);
    free(sid2);
}

static void test_trusted_and_limits(void **state)
{
    fx *f = *state;
    /* trusted transport: no token needed */
    app_conn *tc = app_conn_new(true);
    f->c[1].req.conn = tc;
    json_t *sc = toolc(&f->c[1], "create_session", json_pack("{s:s}", "purpose", "trusted"));
    expect_ok(sc);
    assert_string_equal(json_string_value(json_object_get(sc, "created_by")), "local");
    json_decref(sc);
    f->c[1].req.conn = f->c[1].conn;
    app_conn_free(tc);
    /* configured limits: a small memory value limit */
    app_opts o = {.store = f->db.st,
                  .auth = f->auth,
                  .limits = {.memory_value_max = 8, .content_max_chars = 5}};
    app_t *small;
    err_t e;
    assert_int_equal(app_new(&o, &small, &e), ERR_OK);
    mcp_server_info info = app_server_info();
    mcp_server *srv = mcp_server_new(&info);
    assert_int_equal(app_register(small, srv, &e), ERR_OK);
    client cl = {0};
    fx tmp = *f;
    tmp.srv = srv;
    client_open(&tmp, &cl);
    char *t = authc(&cl, "claude-1", "claude", NULL);
    expect_code(
        toolc(&cl, "set_memory",
              json_pack("{s:s s:s s:s}", "key", "k", "value", "0123456789", "auth_token", t)),
        "MEMORY_LIMIT_EXCEEDED");
    expect_ok(sc =
                  toolc(&cl, "set_memory",
                        json_pack("{s:s s:s s:s}", "key", "k", "value", "short", "auth_token", t)));
    json_decref(sc);
    sc = toolc(&cl, "create_session", json_pack("{s:s s:s}", "purpose", "p", "auth_token", t));
    char *sid = strdup(json_string_value(json_object_get(sc, "session_id")));
    json_decref(sc);
    /* 5 code points of 2 bytes each pass, 6 do not */
    expect_ok(sc = toolc(&cl, "add_message",
                         json_pack("{s:s s:s s:s}", "session_id", sid, "content",
                                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "auth_token", t)));
    json_decref(sc);
    expect_code(
        toolc(&cl, "add_message",
              json_pack("{s:s s:s s:s}", "session_id", sid, "content", "abcdef", "auth_token", t)),
        "CONTENT_TOO_LARGE");
    client_close(&cl);
    mcp_server_free(srv);
    app_free(small);
    free(t);
    free(sid);
}

/* the error code (data.code) of a failed resources/read, or NULL if it succeeded */
static const char *res_denied(json_t *r)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(r, "error"), "data"), "code"));
}

/* Without a conn in the app_req the MCP session's state (app_session_open) remembers
 * the identity: per session, and gone with the session's state. */
static void test_session_state(void **state)
{
    fx *f = *state;
    client *a = &f->c[1], *b = &f->c[2];
    a->req.conn = b->req.conn = NULL;
    app_session_open(a->s, false);
    app_session_open(b->s, false);
    free(authc(a, "claude-1", "claude", NULL));
    free(authc(b, "gemini-1", "gemini", NULL));
    const struct {
        client *cl;
        const char *uri, *denied;
    } cases[] = {
        {a, "agent://claude-1/memory", NULL},
        {a, "agent://gemini-1/memory", "PERMISSION_DENIED"},
        {b, "agent://gemini-1/memory", NULL},
        {b, "agent://claude-1/memory", "PERMISSION_DENIED"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = read_res(cases[i].cl, cases[i].uri);
        if (cases[i].denied)
            assert_string_equal(res_denied(r), cases[i].denied);
        else
            assert_non_null(res_text(r));
        json_decref(r);
    }
    /* b's session gets fresh state: nothing is remembered */
    app_session_close(b->s);
    app_session_open(b->s, false);
    json_t *r = read_res(b, "agent://gemini-1/memory");
    assert_string_equal(res_denied(r), "AUTH_FAILED");
    json_decref(r);
    r = read_res(a, "agent://claude-1/memory");
    assert_non_null(res_text(r));
    json_decref(r);
    app_session_close(a->s);
    app_session_close(b->s);
    a->req.conn = a->conn;
    b->req.conn = b->conn;
}

static bool mem_exists(fx *f, const char *key)
{
    store_memory m;
    err_t e;
    err_code rc = store_memory_get(f->db.st, "claude-1", NULL, key, f->now, &m, &e);
    assert_true(rc == ERR_OK || rc == ERR_NOTFOUND);
    store_memory_clear(&m);
    return rc == ERR_OK;
}

static int64_t rows(fx *f, const char *table)
{
    int64_t n = 0;
    err_t e;
    assert_int_equal(store_count_rows(f->db.st, table, &n, &e), ERR_OK);
    return n;
}

/* app_maintenance_run removes what has expired as of the time it is given, and audit
 * records only past the retention */
static void test_maintenance(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    json_t *sc;
    expect_ok(sc = tool(f, "set_memory",
                        json_pack("{s:s s:s s:i s:s}", "key", "ttl", "value", "v", "expires_in", 10,
                                  "auth_token", t)));
    json_decref(sc);
    expect_ok(sc = tool(f, "set_memory",
                        json_pack("{s:s s:s s:s}", "key", "keep", "value", "v", "auth_token", t)));
    json_decref(sc);
    int64_t audits = rows(f, "audit_log"), tokens = rows(f, "secure_tokens");
    assert_true(audits > 0 && tokens > 0);
    app_maintenance_run(f->db.st, f->now, 30);
    assert_true(mem_exists(f, "ttl"));
    /* 11 s later the entry has expired: gone (even for a reader at the earlier time) */
    app_maintenance_run(f->db.st, f->now + (utc_us)11 * 1000000, 0);
    assert_false(mem_exists(f, "ttl"));
    assert_true(mem_exists(f, "keep"));
    assert_int_equal(rows(f, "audit_log"), audits);
    assert_int_equal(rows(f, "secure_tokens"), tokens);
    /* a year on: the token has expired, the audit records are past 30 days */
    app_maintenance_run(f->db.st, utc_now() + (utc_us)366 * 86400 * 1000000, 30);
    assert_int_equal(rows(f, "audit_log"), 0);
    assert_int_equal(rows(f, "secure_tokens"), 0);
    assert_true(mem_exists(f, "keep"));
    free(t);
}

/* the envelope's mapping of store errors: only transient ones are recoverable */
static void test_envelope_mapping(void **state)
{
    fx *f = *state;
    err_t e;
    struct {
        err_code in;
        const char *code;
        bool rec;
    } cases[] = {
        {ERR_BUSY, "DATABASE_UNAVAILABLE", true},    {ERR_CONN, "DATABASE_UNAVAILABLE", true},
        {ERR_TIMEOUT, "DATABASE_UNAVAILABLE", true}, {ERR_FATAL, "DATABASE_UNAVAILABLE", false},
        {ERR_INVALID, "INVALID_INPUT", false},       {ERR_UNIQUE, "INVALID_INPUT", false},
        {ERR_CONSTRAINT, "INVALID_INPUT", false},    {ERR_NOTFOUND, "SESSION_NOT_FOUND", false},
        {ERR_EXISTS, "KEY_EXISTS", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err_set(&e, cases[i].in, "x");
        json_t *r = app_error_store(f->app, &e, APP_SESSION_NOT_FOUND, "thing");
        assert_true(json_is_true(json_object_get(r, "isError")));
        json_t *sc = json_object_get(r, "structuredContent");
        assert_string_equal(json_string_value(json_object_get(sc, "code")), cases[i].code);
        assert_int_equal(json_is_true(json_object_get(sc, "recoverable")), cases[i].rec);
        assert_int_equal(json_object_get(sc, "retry_after") != NULL, cases[i].rec);
        json_decref(r);
    }
}

/* tools/list is exactly the golden list (tests/app/tools_list.json): every tool's name,
 * title, description, input schema and annotations, in order */
static void test_tools_list(void **state)
{
    fx *f = *state;
    json_error_t je;
    json_t *want = json_load_file(CTXD_TOOLS_GOLDEN, 0, &je);
    if (!want)
        fail_msg("%s: %s", CTXD_TOOLS_GOLDEN, je.text);
    json_t *r = rpc(&f->c[0], "tools/list", NULL);
    json_t *got = json_object_get(json_object_get(r, "result"), "tools");
    assert_int_equal(json_array_size(got), json_array_size(want));
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        if (!json_equal(w, g)) {
            char *ws = json_dumps(w, JSON_SORT_KEYS), *gs = json_dumps(g, JSON_SORT_KEYS);
            fprintf(stderr, "tool %zu differs:\nwant %s\ngot  %s\n", i, ws, gs);
            free(ws);
            free(gs);
            fail();
        }
    }
    json_decref(r);
    json_decref(want);
}

/* every embedded schemas/<tool>.json loads (its "@..." values resolved) as an object
 * schema, and the files are exactly the registered tools plus shared.json */
static void test_embedded_schemas(void **state)
{
    fx *f = *state;
    json_t *r = rpc(&f->c[0], "tools/list", NULL);
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    size_t nfiles = 0;
    err_t e;
    for (const app_schema_file *sf = app_schema_files; sf->name; sf++) {
        json_error_t je;
        json_t *raw = json_loadb(sf->json, sf->len, 0, &je);
        if (!raw)
            fail_msg("schemas/%s.json: %s", sf->name, je.text);
        json_decref(raw);
        if (!strcmp(sf->name, "shared"))
            continue;
        nfiles++;
        json_t *v = app_schema_load(sf->name, &e);
        if (!v)
            fail_msg("%s", e.msg);
        assert_string_equal(json_string_value(json_object_get(v, "type")), "object");
        assert_true(json_is_object(json_object_get(v, "properties")));
        bool listed = false;
        for (size_t i = 0; i < json_array_size(tools); i++) {
            json_t *t = json_array_get(tools, i);
            if (!strcmp(json_string_value(json_object_get(t, "name")), sf->name)) {
                assert_true(json_equal(json_object_get(t, "inputSchema"), v));
                listed = true;
            }
        }
        assert_true(listed);
        json_decref(v);
    }
    assert_int_equal(nfiles, json_array_size(tools));
    assert_null(app_schema_load("no_such_tool", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    json_decref(r);
}

enum {
    NBIG = 1100 /* more than one page (500) of the old full-session scan, twice */
};

/* get_messages with visibility_filter = filter as tok, checked against the posted
 * ids/visibilities: the page [offset, offset + limit) of the matching ids > since,
 * count, total_count, has_more and next_since_id */
static void expect_filtered(fx *f, const char *tok, const char *sid, const char *filter,
                            const int64_t *ids, const char *const *vis, int64_t since, long offset,
                            long limit)
{
    static int64_t want[NBIG];
    size_t nw = 0;
    for (size_t i = 0; i < NBIG; i++)
        if (ids[i] > since && !strcmp(vis[i], filter))
            want[nw++] = ids[i];
    json_t *args = json_pack("{s:s s:s s:i s:i s:s}", "session_id", sid, "visibility_filter",
                             filter, "offset", (int)offset, "limit", (int)limit, "auth_token", tok);
    if (since)
        json_object_set_new(args, "since_id", json_integer(since));
    json_t *sc = tool(f, "get_messages", args);
    expect_ok(sc);
    size_t from = (size_t)offset < nw ? (size_t)offset : nw;
    size_t to = (size_t)(offset + limit) < nw ? (size_t)(offset + limit) : nw;
    json_t *ms = json_object_get(sc, "messages");
    assert_int_equal(json_array_size(ms), to - from);
    for (size_t i = from; i < to; i++) {
        json_t *m = json_array_get(ms, i - from);
        assert_int_equal(json_integer_value(json_object_get(m, "id")), want[i]);
        assert_string_equal(json_string_value(json_object_get(m, "visibility")), filter);
    }
    assert_int_equal(json_integer_value(json_object_get(sc, "count")), to - from);
    assert_int_equal(json_integer_value(json_object_get(sc, "total_count")), nw);
    assert_int_equal(json_is_true(json_object_get(sc, "has_more")), to < nw);
    json_t *next = json_object_get(sc, "next_since_id");
    if (to > from)
        assert_int_equal(json_integer_value(next), want[to - 1]);
    else
        assert_null(next);
    json_decref(sc);
}

/* An admin's visibility_filter selects that visibility from every sender, with the
 * counts and paging of any other read, on a session of more than 500 messages */
static void test_admin_filter_paging(void **state)
{
    fx *f = *state;
    char *c1 = auth_agent(f, "claude-1", "claude", NULL);
    char *g1 = auth_agent(f, "gemini-1", "gemini", NULL);
    char *ad = auth_agent(f, "admin-1", "admin", "[\"read\",\"write\",\"admin\",\"debug\"]");
    char *sid = new_session(f, c1);
    static int64_t ids[NBIG];
    static const char *vis[NBIG];
    size_t npriv_needle = 0;
    for (size_t i = 0; i < NBIG; i++) {
        static const char *const v[] = {"public", "private", "private", "agent_only"};
        const char *tok = i % 10 == 9 ? ad : i % 4 == 2 || i % 4 == 3 ? g1 : c1;
        vis[i] = i % 10 == 9 ? "admin_only" : v[i % 4];
        char content[64];
        bool needle = i % 97 == 1 || i % 97 == 4;
        snprintf(content, sizeof content, needle ? "needle-xyz %zu" : "message %zu", i);
        npriv_needle += needle && !strcmp(vis[i], "private");
        ids[i] = post(f, tok, sid, content, vis[i]);
    }
    expect_filtered(f, ad, sid, "private", ids, vis, 0, 0, 50);
    expect_filtered(f, ad, sid, "private", ids, vis, 0, 0, 1000);
    expect_filtered(f, ad, sid, "private", ids, vis, 0, 480, 100);
    expect_filtered(f, ad, sid, "private", ids, vis, 0, 600, 1000);
    expect_filtered(f, ad, sid, "private", ids, vis, ids[300], 10, 7);
    expect_filtered(f, ad, sid, "private", ids, vis, ids[NBIG - 2], 0, 10);
    expect_filtered(f, ad, sid, "agent_only", ids, vis, 0, 200, 30);
    expect_filtered(f, ad, sid, "agent_only", ids, vis, ids[700], 0, 1000);
    expect_filtered(f, ad, sid, "public", ids, vis, ids[100], 250, 40);
    expect_filtered(f, ad, sid, "admin_only", ids, vis, 0, 100, 50);

    /* search_context: the admin's private scope searches every private message */
    size_t npriv = 0;
    for (size_t i = 0; i < NBIG; i++)
        npriv += !strcmp(vis[i], "private");
    json_t *sc = tool(f, "search_context",
                      json_pack("{s:s s:s s:s s:i s:s}", "session_id", sid, "query", "needle-xyz",
                                "search_scope", "private", "limit", 100, "auth_token", ad));
    expect_ok(sc);
    assert_int_equal(json_integer_value(json_object_get(sc, "message_count")), npriv);
    json_t *res = json_object_get(sc, "results");
    assert_int_equal(json_array_size(res), npriv_needle);
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *m = json_object_get(json_array_get(res, i), "message");
        assert_string_equal(json_string_value(json_object_get(m, "visibility")), "private");
        assert_non_null(strstr(json_string_value(json_object_get(m, "content")), "needle-xyz"));
    }
    json_decref(sc);
    free(c1);
    free(g1);
    free(ad);
    free(sid);
}

/* add_message's parent rule, as the tools answer it: a parent the poster cannot see is
 * answered as an absent one; a visible one of another session is invalid input; a
 * missing session is SESSION_NOT_FOUND */
static void expect_error(json_t *sc, const char *code, const char *error)
{
    assert_string_equal(json_string_value(json_object_get(sc, "error")), error);
    expect_code(sc, code);
}

static void test_parent_rule(void **state)
{
    fx *f = *state;
    char *c1 = auth_agent(f, "claude-1", "claude", NULL);
    char *g1 = auth_agent(f, "gemini-1", "gemini", NULL);
    char *s1 = new_session(f, c1), *s2 = new_session(f, c1);
    int64_t prv = post(f, c1, s1, "private note", "private");
    int64_t other = post(f, c1, s2, "elsewhere", "public");
#define REPLY(tok, sid, parent) \
    tool(f, "add_message", \
         json_pack("{s:s s:s s:I s:s}", "session_id", sid, "content", "re", "parent_message_id", \
                   (json_int_t)(parent), "auth_token", tok))
    expect_error(REPLY(g1, s1, prv), "MESSAGE_NOT_FOUND", "parent message not found");
    expect_error(REPLY(g1, s1, other + 1000), "MESSAGE_NOT_FOUND", "parent message not found");
    expect_error(REPLY(g1, s1, other), "INVALID_INPUT",
                 "parent_message_id belongs to another session");
    /* the session is checked first (before the store owned the rule, the app read the
     * parent first and answered "parent message not found" here) */
    expect_error(REPLY(g1, "session_0123456789abcdef", prv + 1000), "SESSION_NOT_FOUND",
                 "session not found");
    json_t *sc = REPLY(c1, s1, prv);
    expect_ok(sc);
    json_decref(sc);
#undef REPLY
    free(c1);
    free(g1);
    free(s1);
    free(s2);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collaboration_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_deny_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since_id_and_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup_rl, teardown),
        cmocka_unit_test_setup_teardown(test_resources_prompts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_updates_by_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_args_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embedded_schemas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_filter_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_rule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
