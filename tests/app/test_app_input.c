/* tests/app/test_app_input.c — hostile input to the tools, as a client sends it (JSON
 * text through mcp_session_handle): a NUL character (\u0000) in any string argument —
 * agent_id, content, memory key and value, metadata, session ids, tokens, nested values —
 * is INVALID_INPUT naming the argument, also when the request's id does not fit int64,
 * and nothing is stored; numbers that do not fit where they go (1e300, -1e300, 2^32,
 * 2^63, fractions) are refused by range before they become C integers, naming the
 * argument and its range (the sanitizer build aborted on them before).
 * Must not: sleep (the clock is injected) or leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"

/* tools/call of `name` on client 0 with the arguments given as JSON text and the request
 * id as JSON text (id_json, e.g. "7" or a number beyond int64); returns structuredContent
 * (new ref). A protocol error instead of a tool result fails the test. */
static json_t *tool_text_id(fx *f, const char *id_json, const char *name, const char *args_json)
{
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b,
                "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"%s\",\"arguments\":%s}}",
                id_json, name, args_json);
    mcp_reply rep;
    client *cl = &f->c[0];
    mcp_reply_kind k =
        mcp_session_handle(cl->s, sbuf_cstr(&b), b.len, &(mcp_request_ctx){NULL, &cl->req}, &rep);
    sbuf_free(&b);
    if (k != MCP_REPLY_RESPONSE)
        fail_msg("%s %s: expected a tool result, got %s", name, args_json,
                 rep.json ? rep.json : "nothing");
    json_t *r = json_loads(rep.json, 0, NULL);
    if (!r) /* an id beyond int64 */
        r = json_loads(rep.json, JSON_DECODE_INT_AS_REAL, NULL);
    assert_non_null(r);
    char *idtext = json_dumps(json_object_get(r, "id"), JSON_ENCODE_ANY);
    if (!strstr(rep.json, id_json) || !idtext)
        fail_msg("the id %s is not echoed in %s", id_json, rep.json);
    free(idtext);
    mcp_reply_free(&rep);
    json_t *sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    if (!sc)
        fail_msg("%s: no structuredContent", name);
    json_incref(sc);
    json_decref(r);
    return sc;
}

static json_t *tool_text(fx *f, const char *name, const char *args_json)
{
    return tool_text_id(f, "7", name, args_json);
}

/* an INVALID_INPUT envelope naming argument `arg` (in the message and the context) */
static void expect_invalid(json_t *sc, const char *arg)
{
    const char *err = json_string_value(json_object_get(sc, "error"));
    const char *got =
        json_string_value(json_object_get(json_object_get(sc, "context"), "argument"));
    if (!err || !strstr(err, arg) || !got || strcmp(got, arg) != 0) {
        char *t = json_dumps(sc, 0);
        fail_msg("expected INVALID_INPUT naming %s, got %s", arg, t);
    }
    expect_code(sc, "INVALID_INPUT");
}

static json_int_t count_of(json_t *sc, const char *field)
{
    expect_ok(sc);
    json_int_t n = json_integer_value(json_object_get(sc, field));
    json_decref(sc);
    return n;
}

/* ---- NUL characters ---- */

static void test_nul_in_arguments(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    char a[1024];
    /* agent_id: "root\u0000x" must not authenticate as root (or as anyone) */
    expect_invalid(tool_text(f, "authenticate_agent",
                             "{\"agent_id\":\"root\\u0000x\",\"agent_type\":\"admin\"}"),
                   "agent_id");
    expect_invalid(tool_text_id(f, "12345678901234567890", "authenticate_agent",
                                "{\"agent_id\":\"root\\u0000x\",\"agent_type\":\"admin\"}"),
                   "agent_id");
    expect_invalid(tool_text(f, "authenticate_agent",
                             "{\"agent_id\":\"bob\",\"agent_type\":\"claude\\u0000admin\"}"),
                   "agent_type");
    /* content, visibility, metadata (nested values too) of a message */
    const char *msg_args[][2] = {
        {"\"content\":\"before\\u0000after\"", "content"},
        {"\"content\":\"x\",\"visibility\":\"public\\u0000\"", "visibility"},
        {"\"content\":\"x\",\"metadata\":{\"note\":\"a\\u0000b\"}", "metadata"},
        {"\"content\":\"x\",\"metadata\":{\"deep\":[1,{\"k\":\"\\u0000\"}]}", "metadata"},
    };
    for (size_t i = 0; i < sizeof msg_args / sizeof msg_args[0]; i++) {
        snprintf(a, sizeof a, "{\"session_id\":\"%s\",%s,\"auth_token\":\"%s\"}", sid,
                 msg_args[i][0], t);
        expect_invalid(tool_text(f, "add_message", a), msg_args[i][1]);
        expect_invalid(tool_text_id(f, "-98765432109876543210", "add_message", a), msg_args[i][1]);
    }
    /* session ids: a valid id followed by \u0000 and anything is not that session */
    snprintf(a, sizeof a, "{\"session_id\":\"%s\\u0000zz\",\"auth_token\":\"%s\"}", sid, t);
    expect_invalid(tool_text(f, "get_messages", a), "session_id");
    snprintf(a, sizeof a,
             "{\"session_id\":\"%s\\u0000zz\",\"content\":\"hello\",\"auth_token\":\"%s\"}", sid,
             t);
    expect_invalid(tool_text(f, "add_message", a), "session_id");
    /* the token itself */
    snprintf(a, sizeof a, "{\"session_id\":\"%s\",\"auth_token\":\"%s\\u0000\"}", sid, t);
    expect_invalid(tool_text(f, "get_messages", a), "auth_token");
    /* memory: key, value (a string, nested in an object or array), metadata, session id */
    const char *mem_args[][2] = {
        {"\"key\":\"k\\u0000x\",\"value\":1", "key"},
        {"\"key\":\"k\",\"value\":\"v\\u0000\"", "value"},
        {"\"key\":\"k\",\"value\":{\"a\":[\"x\",\"y\\u0000z\"]}", "value"},
        {"\"key\":\"k\",\"value\":1,\"metadata\":{\"m\":\"\\u0000\"}", "metadata"},
        {"\"key\":\"k\",\"value\":1,\"expires_in\":\"10\\u0000\"", "expires_in"},
    };
    for (size_t i = 0; i < sizeof mem_args / sizeof mem_args[0]; i++) {
        snprintf(a, sizeof a, "{%s,\"auth_token\":\"%s\"}", mem_args[i][0], t);
        expect_invalid(tool_text(f, "set_memory", a), mem_args[i][1]);
        expect_invalid(tool_text_id(f, "99999999999999999999", "set_memory", a), mem_args[i][1]);
    }
    snprintf(a, sizeof a,
             "{\"key\":\"k\",\"value\":1,\"session_id\":\"%s\\u0000\",\"auth_token\":\"%s\"}", sid,
             t);
    expect_invalid(tool_text(f, "set_memory", a), "session_id");
    snprintf(a, sizeof a, "{\"key\":\"k\\u0000x\",\"auth_token\":\"%s\"}", t);
    expect_invalid(tool_text(f, "get_memory", a), "key");
    /* search arguments */
    snprintf(a, sizeof a, "{\"session_id\":\"%s\",\"query\":\"q\\u0000\",\"auth_token\":\"%s\"}",
             sid, t);
    expect_invalid(tool_text(f, "search_context", a), "query");
    /* session purpose and metadata */
    snprintf(a, sizeof a, "{\"purpose\":\"p\\u0000q\",\"auth_token\":\"%s\"}", t);
    expect_invalid(tool_text(f, "create_session", a), "purpose");
    snprintf(a, sizeof a,
             "{\"purpose\":\"p\",\"metadata\":{\"x\":\"\\u0000\"},\"auth_token\":\"%s\"}", t);
    expect_invalid(tool_text(f, "create_session", a), "metadata");

    /* nothing was stored: no message, no memory, one session, no agent "root" */
    assert_int_equal(nvisible(f, t, sid), 0);
    snprintf(a, sizeof a, "{\"session_id\":\"all\",\"auth_token\":\"%s\"}", t);
    assert_int_equal(count_of(tool_text(f, "list_memory", a), "count"), 0);
    snprintf(a, sizeof a, "{\"active_only\":false,\"auth_token\":\"%s\"}", t);
    assert_int_equal(count_of(tool_text(f, "list_sessions", a), "count"), 1);
    store_audits au;
    err_t e;
    store_audit_query aq = {.agent_id = "root", .limit = 10};
    assert_int_equal(store_audit_list(f->db.st, &aq, &au, &e), ERR_OK);
    assert_int_equal(au.n, 0);
    store_audits_free(&au);
    /* a NUL-free value of the same shapes is accepted */
    snprintf(a, sizeof a, "{\"key\":\"k\",\"value\":{\"a\":[\"x\",\"y z\"]},\"auth_token\":\"%s\"}",
             t);
    json_t *sc = tool_text(f, "set_memory", a);
    expect_ok(sc);
    json_decref(sc);
    free(t);
    free(sid);
}

/* ---- numbers ---- */

typedef struct num_case {
    const char *tool;
    const char *arg;
    const char *value;   /* JSON text */
    const char *want;    /* "ok", or the envelope code */
    const char *mention; /* what the error must also say, or NULL */
} num_case;

/* a case without a further mention */
#define C(tool, arg, value, want) \
    { \
        tool, arg, value, want, NULL \
    }
#define HUGE_VALUES(tool, arg, code) \
    C(tool, arg, "1e300", code), C(tool, arg, "-1e300", code), C(tool, arg, "9.3e18", code), \
        C(tool, arg, "-9.3e18", code), C(tool, arg, "1.5", "INVALID_INPUT")

static const num_case num_cases[] = {
    HUGE_VALUES("get_messages", "limit", "INVALID_INPUT"),
    C("get_messages", "limit", "4294967296", "INVALID_INPUT"),
    HUGE_VALUES("get_messages", "offset", "INVALID_INPUT"),
    {"get_messages", "offset", "4294967296", "INVALID_INPUT", "from 0 to 2147483647"},
    C("get_messages", "offset", "2147483648", "INVALID_INPUT"),
    C("get_messages", "offset", "2147483647", "ok"),
    HUGE_VALUES("get_messages", "since_id", "INVALID_INPUT"),
    C("get_messages", "since_id", "4294967296", "ok"),
    C("get_messages", "since_id", "9223372036854775807", "ok"),
    C("get_messages", "since_id", "1e3", "ok"),
    HUGE_VALUES("get_message", "message_id", "INVALID_INPUT"),
    C("get_message", "message_id", "4294967296", "MESSAGE_NOT_FOUND"),
    HUGE_VALUES("get_thread", "message_id", "INVALID_INPUT"),
    HUGE_VALUES("add_message", "parent_message_id", "INVALID_INPUT"),
    C("add_message", "parent_message_id", "4294967296", "MESSAGE_NOT_FOUND"),
    /* no message has id 0 or below: such a parent is refused, never read as "no parent" */
    C("add_message", "parent_message_id", "0", "INVALID_INPUT"),
    C("add_message", "parent_message_id", "-1", "INVALID_INPUT"),
    HUGE_VALUES("set_memory", "expires_in", "INVALID_TTL_VALUE"),
    C("set_memory", "expires_in", "4294967296", "INVALID_TTL_VALUE"),
    C("set_memory", "expires_in", "\"1e300\"", "INVALID_TTL_FORMAT"),
    C("set_memory", "expires_in", "\"99999999999999999999\"", "INVALID_TTL_FORMAT"),
    C("set_memory", "expires_in", "6e1", "ok"),
    HUGE_VALUES("list_memory", "limit", "INVALID_INPUT"),
    HUGE_VALUES("search_by_sender", "limit", "INVALID_INPUT"),
    HUGE_VALUES("search_by_timerange", "limit", "INVALID_INPUT"),
    HUGE_VALUES("search_context", "limit", "INVALID_INPUT"),
    C("search_context", "fuzzy_threshold", "1e300", "INVALID_INPUT"),
    C("search_context", "fuzzy_threshold", "-1e300", "INVALID_INPUT"),
    C("search_context", "fuzzy_threshold", "4294967296", "INVALID_INPUT"),
    C("search_context", "fuzzy_threshold", "1.5", "ok"),
};

/* integers written out beyond int64 (JavaScript's JSON.stringify(2 ** 63) writes
 * 9223372036854776000): one does not make the whole request unreadable */
#define BIG_LITERALS(tool, arg, code) \
    C(tool, arg, "9223372036854775808", code), C(tool, arg, "-9223372036854775809", code), \
        C(tool, arg, "9223372036854776000", code), \
        C(tool, arg, "123456789012345678901234567890", code)

static const num_case big_literal_cases[] = {
    BIG_LITERALS("get_messages", "limit", "INVALID_INPUT"),
    BIG_LITERALS("get_messages", "offset", "INVALID_INPUT"),
    BIG_LITERALS("get_messages", "since_id", "INVALID_INPUT"),
    BIG_LITERALS("get_message", "message_id", "INVALID_INPUT"),
    BIG_LITERALS("add_message", "parent_message_id", "INVALID_INPUT"),
    BIG_LITERALS("set_memory", "expires_in", "INVALID_TTL_VALUE"),
    BIG_LITERALS("search_context", "fuzzy_threshold", "INVALID_INPUT"),
};

/* the required arguments of each tool besides the one under test */
static void base_args(const char *tool, const char *sid, const char *tok, char *buf, size_t n)
{
    if (!strcmp(tool, "get_message") || !strcmp(tool, "get_thread") || !strcmp(tool, "list_memory"))
        snprintf(buf, n, "\"auth_token\":\"%s\"", tok);
    else if (!strcmp(tool, "set_memory"))
        snprintf(buf, n, "\"key\":\"k\",\"value\":1,\"auth_token\":\"%s\"", tok);
    else if (!strcmp(tool, "add_message"))
        snprintf(buf, n, "\"session_id\":\"%s\",\"content\":\"reply\",\"auth_token\":\"%s\"", sid,
                 tok);
    else if (!strcmp(tool, "search_context"))
        snprintf(buf, n, "\"session_id\":\"%s\",\"query\":\"hello\",\"auth_token\":\"%s\"", sid,
                 tok);
    else if (!strcmp(tool, "search_by_sender"))
        snprintf(buf, n, "\"session_id\":\"%s\",\"sender\":\"claude-1\",\"auth_token\":\"%s\"", sid,
                 tok);
    else if (!strcmp(tool, "search_by_timerange"))
        snprintf(buf, n,
                 "\"session_id\":\"%s\",\"start_time\":\"2020-01-01T00:00:00Z\",\"end_time\":"
                 "\"2999-01-01T00:00:00Z\",\"auth_token\":\"%s\"",
                 sid, tok);
    else
        snprintf(buf, n, "\"session_id\":\"%s\",\"auth_token\":\"%s\"", sid, tok);
}

/* Each case through its tool on a session holding one message; the answer must be the
 * case's (an INVALID_* error names the argument, and `mention` when set). */
static void run_cases(fx *f, const num_case *cases, size_t n)
{
    char *tok = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, tok);
    post(f, tok, sid, "hello world", "public");
    for (size_t i = 0; i < n; i++) {
        const num_case *c = &cases[i];
        char base[400], a[600];
        base_args(c->tool, sid, tok, base, sizeof base);
        snprintf(a, sizeof a, "{\"%s\":%s,%s}", c->arg, c->value, base);
        json_t *sc = tool_text(f, c->tool, a);
        const char *err = json_string_value(json_object_get(sc, "error"));
        if (c->mention && (!err || !strstr(err, c->mention)))
            fail_msg("%s %s=%s: the error does not say %s: %s", c->tool, c->arg, c->value,
                     c->mention, err ? err : "(none)");
        if (!strcmp(c->want, "ok")) {
            if (!ok(sc))
                fail_msg("%s %s=%s: expected success, got %s", c->tool, c->arg, c->value,
                         json_dumps(sc, 0));
            json_decref(sc);
        } else if (!strcmp(c->want, "INVALID_INPUT")) {
            expect_invalid(sc, c->arg);
        } else {
            if (!strncmp(c->want, "INVALID", 7) && (!err || !strstr(err, c->arg)))
                fail_msg("%s %s=%s: the error does not name %s: %s", c->tool, c->arg, c->value,
                         c->arg, err ? err : "(none)");
            expect_code(sc, c->want);
        }
    }
    /* nothing was posted by the refused replies */
    assert_int_equal(nvisible(f, tok, sid), 1);
    free(tok);
    free(sid);
}

static void test_huge_numbers(void **state)
{
    run_cases(*state, num_cases, sizeof num_cases / sizeof num_cases[0]);
}

/* list_sessions' offset: a huge one must never wrap to the first page (it used to:
 * 4294967296 became 0); out of range is INVALID_INPUT like every other argument */
static void test_list_sessions_offset(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    free(new_session(f, t));
    const char *offsets[] = {"0", "4294967296", "1e300", "9223372036854775808", "-1e300"};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        char a[300];
        snprintf(a, sizeof a, "{\"offset\":%s,\"auth_token\":\"%s\"}", offsets[i], t);
        json_t *sc = tool_text(f, "list_sessions", a);
        size_t n = json_array_size(json_object_get(sc, "sessions"));
        if (i == 0)
            assert_int_equal(n, 1);
        else if (ok(sc))
            fail_msg("offset %s was accepted (%zu sessions)", offsets[i], n);
        else
            assert_string_equal(json_string_value(json_object_get(sc, "code")), "INVALID_INPUT");
        json_decref(sc);
    }
    free(t);
}

static void test_big_integer_literals(void **state)
{
    run_cases(*state, big_literal_cases, sizeof big_literal_cases / sizeof big_literal_cases[0]);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nul_in_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_integer_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sessions_offset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
