/* fuzz/fuzz_mcp.c — libFuzzer harness for the JSON-RPC / MCP dispatcher with ctxd's app
 * registered (mcp/ + app/ on the in-memory store of app_fixture.c): each input is one MCP
 * session fed one message per line, as the stdio transport does.
 *
 * The first byte chooses the caller and the session (its low bits, so '0'..'9' work):
 *   bits 0-1  0 anonymous (no API key, no token); 1 authenticated: the API key and
 *             "Authorization: Bearer <admin JWT>"; 2 the API key only (authenticate_agent
 *             works); 3 a trusted transport (its identity without a token)
 *   bit 2     the session negotiates 2025-03-26 (batches allowed) instead of 2025-11-25
 *   bit 3     no initialize: the lines reach an uninitialised session
 * The rest is up to 16 lines, each a JSON-RPC message or batch.
 *
 * Properties: every reply is the kind it says (none without text; a response or an
 * invalid-body error with compact JSON of its stated length), a JSON-RPC 2.0 response or a
 * batch of them, each with exactly one of result and error (an error with an integer
 * code and a message); an invalid body is -32700 or -32600; no reply or notification
 * contains the JWT secret or the API key unless the input did; the database is back at its starting content
 * after each input (fz_app_reset).
 * FUZZ_VERBOSE=1 in the environment prints every message and its reply (for reading a
 * reproducer).
 * Must not: sleep, or keep one input's session or identity for the next. */
#include "fuzz.h"

#include "app_fixture.h"

#define MAX_LINES 16

static bool g_verbose; /* FUZZ_VERBOSE=1: print every message and its reply */

static const uint8_t *g_in; /* the current input */
static size_t g_in_len;

/* Whether the input holds the characters of `secret` in order within a span of 16 times
 * its length: the input itself wrote it, perhaps with bytes the server drops (control
 * characters, which message content loses) or JSON escapes (\u0072) in between. */
static bool input_spells(const char *secret)
{
    size_t k = strlen(secret), span = 16 * k;
    for (const uint8_t *p = g_in; (p = memchr(p, secret[0], g_in_len - (size_t)(p - g_in))); p++) {
        size_t j = 0, left = g_in_len - (size_t)(p - g_in);
        for (size_t i = 0; i < left && i < span && j < k; i++)
            if (p[i] == (uint8_t)secret[j])
                j++;
        if (j == k)
            return true;
    }
    return false;
}

/* Neither the JWT secret nor the API key is in s, unless the input put it there. */
static bool no_secret(const char *s, size_t n)
{
    static const char *const secrets[] = {FZ_JWT_SECRET, FZ_API_KEY};
    for (size_t i = 0; i < 2; i++)
        if (memmem(s, n, secrets[i], strlen(secrets[i])) && !input_spells(secrets[i]))
            return false;
    return true;
}

static int on_send(void *ud, void *stream, const char *json, size_t len)
{
    (void)ud;
    (void)stream;
    json_error_t je;
    json_t *v = json_loadb(json, len, 0, &je);
    FZ_CHECK(json_is_object(v), "a notification is not a JSON object: %.*s", (int)len, json);
    FZ_CHECK(no_secret(json, len), "a notification shows a secret");
    json_decref(v);
    return 0;
}
static const mcp_transport_ops ops = {on_send};

static void check_response(const json_t *r, const char *text)
{
    FZ_CHECK(json_is_object(r), "a response is not an object: %s", text);
    const json_t *ver = json_object_get(r, "jsonrpc");
    FZ_CHECK(json_is_string(ver) && strcmp(json_string_value(ver), "2.0") == 0,
             "no jsonrpc 2.0: %s", text);
    FZ_CHECK(json_object_get(r, "id") != NULL, "a response without id: %s", text);
    const json_t *res = json_object_get(r, "result"), *err = json_object_get(r, "error");
    FZ_CHECK((res != NULL) != (err != NULL), "not exactly one of result and error: %s", text);
    if (err)
        FZ_CHECK(json_is_integer(json_object_get(err, "code")) &&
                     json_is_string(json_object_get(err, "message")),
                 "a malformed error: %s", text);
    else
        FZ_CHECK(json_is_object(res), "a result that is not an object: %s", text);
}

static void check_reply(mcp_reply_kind k, const mcp_reply *r)
{
    if (k == MCP_REPLY_NONE) {
        FZ_CHECK(r->json == NULL, "a reply of kind none with text: %s", r->json);
        return;
    }
    FZ_CHECK(k == MCP_REPLY_RESPONSE || k == MCP_REPLY_INVALID, "reply kind %d", (int)k);
    FZ_CHECK(r->json && strlen(r->json) == r->len, "reply text and length disagree");
    FZ_CHECK(no_secret(r->json, r->len), "a reply shows a secret: %s", r->json);
    json_error_t je;
    json_t *v = json_loadb(r->json, r->len, JSON_REJECT_DUPLICATES, &je);
    if (!v && (strstr(je.text, "too big") || strstr(je.text, "overflow")))
        return; /* an id is echoed verbatim: JSON numbers have no range, jansson's have */
    FZ_CHECK(v != NULL, "a reply is not JSON (%s): %s", je.text, r->json);
    if (json_is_array(v)) {
        FZ_CHECK(k == MCP_REPLY_RESPONSE && json_array_size(v) > 0, "an empty batch reply");
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
            check_response(x, r->json);
    } else {
        check_response(v, r->json);
    }
    if (k == MCP_REPLY_INVALID) {
        json_int_t code = json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
        FZ_CHECK(code == MCP_PARSE_ERROR || code == MCP_INVALID_REQUEST,
                 "an invalid body answered with %lld", (long long)code);
    }
    json_decref(v);
}

static void handle(mcp_session *s, app_req *req, const char *body, size_t len)
{
    mcp_reply r;
    memset(&r, 0x5a, sizeof r);
    mcp_reply_kind k = mcp_session_handle(s, body, len, &(mcp_request_ctx){NULL, req}, &r);
    FZ_CHECK(k == r.kind, "returned kind %d, reply says %d", (int)k, (int)r.kind);
    if (g_verbose)
        fprintf(stderr, "<- %.*s\n-> %s\n", (int)len, body, r.json ? r.json : "(none)");
    check_reply(k, &r);
    mcp_reply_free(&r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    fz_app_get();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return -1;
    fz_app *f = fz_app_get();
    g_in = data;
    g_in_len = size;
    unsigned mode = data[0];
    unsigned caller = mode & 3;
    app_req req = {.rate_key = "fuzz"};
    req.api_key_ok = caller == 1 || caller == 2;
    req.bearer = caller == 1 ? f->bearer : NULL;

    mcp_session *s = mcp_session_new(f->srv, &ops, NULL);
    app_session_open(s, caller == 3);
    if (!(mode & 8)) {
        char *init = fz_initialize_body(mode & 4 ? "2025-03-26" : "2025-11-25");
        handle(s, &req, init, strlen(init));
        free(init);
        handle(s, &req, FZ_INITIALIZED, strlen(FZ_INITIALIZED));
    }
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    for (int i = 0; i < MAX_LINES && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        handle(s, &req, p, (size_t)(le - p));
        p = le + 1;
    }
    app_session_close(s);
    mcp_session_free(s);
    fz_app_reset(f);
    return 0;
}
