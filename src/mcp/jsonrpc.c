/* mcp/jsonrpc.c — JSON-RPC 2.0 framing: parse a body once into an mcp_message (single
 * message or batch), classify it, keep each request id as its verbatim JSON text (big
 * integers included), refuse every string holding a NUL character (\u0000), and
 * serialise responses without re-typing the id.
 * Must not: know MCP methods or session state (that is session.c), except that the
 * arguments of tools/call are checked by the tool's validation; let a message holding a
 * NUL reach a handler. */
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "mcp/mcp_internal.h"

static int sbuf_dump_cb(const char *buf, size_t size, void *data)
{
    sbuf_append((sbuf_t *)data, buf, size);
    return 0;
}

void mcp_json_append(sbuf_t *b, const json_t *v)
{
    json_dump_callback(v, sbuf_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

void mcp_rpc_result(sbuf_t *b, const char *id_raw, json_t *result)
{
    sbuf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    sbuf_puts(b, id_raw ? id_raw : "null");
    sbuf_puts(b, ",\"result\":");
    if (result && mcp_structured_append(b, result))
        ;
    else if (result)
        mcp_json_append(b, result);
    else
        sbuf_puts(b, "{}");
    sbuf_putc(b, '}');
    json_decref(result);
}

void mcp_rpc_error(sbuf_t *b, const char *id_raw, int code, const char *message, json_t *data)
{
    /* a message that is not UTF-8 (a bug: each is cut at a character) would leave the
     * error object out and the reply not JSON: say less instead */
    if (!message || !str_utf8_valid(message, strlen(message)))
        message = "error";
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(err, "data", data);
    sbuf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    sbuf_puts(b, id_raw ? id_raw : "null");
    sbuf_puts(b, ",\"error\":");
    mcp_json_append(b, err);
    sbuf_putc(b, '}');
    json_decref(err);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The digits of the too-big "id" of each message of a body: element i of a batch (0 for
 * a single message); NULL where there is none. */
typedef struct big_ids {
    char **digits;
    size_t n;
} big_ids;

static void big_ids_set(big_ids *b, size_t i, const char *s, size_t len)
{
    if (i >= b->n) {
        size_t n = b->n ? b->n : 4;
        while (n <= i)
            n *= 2;
        b->digits = xrealloc(b->digits, n * sizeof *b->digits);
        memset(b->digits + b->n, 0, (n - b->n) * sizeof *b->digits);
        b->n = n;
    }
    free(b->digits[i]);
    b->digits[i] = xstrndup(s, len);
}

static void big_ids_free(big_ids *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->digits[i]);
    free(b->digits);
}

/* Whether the integer token s[0, n) ("-"? digits) lies outside int64. */
static bool int64_overflows(const char *s, size_t n)
{
    bool neg = n > 0 && s[0] == '-';
    if (neg)
        s++, n--;
    while (n > 1 && s[0] == '0')
        s++, n--;
    if (n != 19)
        return n > 19;
    return memcmp(s, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* jansson refuses a whole text for one integer beyond int64. Rewrite each such integer
 * (outside strings): the value of a top-level "id" member (of the root object, or of an
 * object directly in a root array) becomes a string of its digits, recorded in *ids so
 * that the id is echoed verbatim; any other becomes the real it is ("<digits>.0"), so the
 * argument checks refuse it by its range instead of the whole request failing. */
static char *patch_big_ints(const char *s, size_t n, size_t *outlen, big_ids *ids)
{
    sbuf_t out = SBUF_INIT;
    size_t i = 0;
    while (i < n && is_ws(s[i]))
        i++;
    int want = (i < n && s[i] == '[') ? 2 : 1;
    int depth = 0;
    size_t elem = 0;  /* index of the current element of a root array */
    int id_state = 0; /* 1: just read a top-level "id" key, 2: and its ':' */
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                if (s[j] == '\\')
                    j++;
                j++;
            }
            if (j >= n) { /* unterminated: let jansson report it */
                sbuf_append(&out, s + i, n - i);
                break;
            }
            bool is_id = depth == want && j - i + 1 == 4 && memcmp(s + i, "\"id\"", 4) == 0;
            sbuf_append(&out, s + i, j - i + 1);
            i = j;
            id_state = is_id ? 1 : 0;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + 1;
            bool integer = true;
            for (; j < n && (strchr("0123456789+-.eE", s[j]) && s[j] != '\0'); j++)
                if (s[j] == '.' || s[j] == 'e' || s[j] == 'E')
                    integer = false;
            if (!integer || !int64_overflows(s + i, j - i)) {
                sbuf_append(&out, s + i, j - i);
            } else if (id_state == 2) {
                big_ids_set(ids, elem, s + i, j - i);
                sbuf_putc(&out, '"');
                sbuf_append(&out, s + i, j - i);
                sbuf_putc(&out, '"');
            } else {
                sbuf_append(&out, s + i, j - i);
                sbuf_puts(&out, ".0");
            }
            i = j - 1;
            id_state = 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        else if (c == ',' && depth == 1 && want == 2)
            elem++;
        if (c == ':' && id_state == 1)
            id_state = 2;
        else if (!is_ws(c))
            id_state = 0;
        sbuf_putc(&out, c);
    }
    *outlen = out.len;
    if (!out.p)
        return xstrdup("");
    return sbuf_detach(&out);
}

/* ---- NUL characters ---- */

/* The length of path after snprintf wrote w more characters at len (truncated at cap). */
static size_t path_len(size_t len, int w, size_t cap)
{
    if (w < 0)
        return len;
    return len + (size_t)w < cap ? len + (size_t)w : cap - 1;
}

static bool find_nul(const json_t *v, const json_t *skip, char *path, size_t cap, size_t len)
{
    if (v == skip)
        return false;
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
    const char *k;
    json_t *x;
    size_t i;
    int w = 0;
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, x) {
            w = snprintf(path + len, cap - len, "%s%s", len ? "." : "", k);
            if (find_nul(x, skip, path, cap, path_len(len, w, cap)))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x) {
            w = snprintf(path + len, cap - len, "[%zu]", i);
            if (find_nul(x, skip, path, cap, path_len(len, w, cap)))
                return true;
        }
    }
    path[len] = '\0';
    return false;
}

bool mcp_json_find_nul(const json_t *v, const json_t *skip, char *path, size_t cap)
{
    if (cap == 0)
        return false;
    size_t len = strnlen(path, cap - 1);
    path[len] = '\0';
    if (!find_nul(v, skip, path, cap, len))
        return false;
    /* a long path was cut to fit, maybe inside a character: what is said of it must stay
     * UTF-8 (found by fuzz_mcp: the error object could not be made, the reply was not
     * JSON) */
    str_utf8_cut(path);
    return true;
}

/* The body had a NUL character (\u0000) in a string: jansson read it only with
 * JSON_ALLOW_NUL, so that the answer can say where and carry the id. Every such message
 * is refused here, and no NUL reaches a handler: a request is an Invalid Request naming
 * the member, a notification is ignored, a response reaches the waiting call as an error.
 * Only the arguments of a tools/call are left to the tool's validation (mcp_schema_validate
 * refuses a NUL there as invalid arguments, which the product reports in its own terms). */
static void refuse_nul(mcp_message *m, json_t *obj)
{
    const json_t *skip = NULL;
    if (m->kind == MSG_REQUEST && strcmp(m->method, "tools/call") == 0 && json_is_object(m->params))
        skip = json_object_get(m->params, "arguments");
    char path[128] = "";
    if (!json_is_object(obj) || !mcp_json_find_nul(obj, skip, path, sizeof path))
        return;
    if (strcmp(path, "id") == 0) { /* an id holding a NUL is no id to answer with */
        free(m->id_raw);
        m->id_raw = NULL;
        m->id = NULL;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "%s contains a NUL character (\\u0000), which is not accepted", path);
    free(m->invalid_owned);
    m->invalid_owned = xstrdup(msg);
    if (m->kind == MSG_RESPONSE) {
        json_object_del(obj, "result");
        json_object_set_new(obj, "error",
                            json_pack("{s:i,s:s}", "code", MCP_INVALID_REQUEST, "message", msg));
        return;
    }
    m->invalid = m->invalid_owned;
    if (m->kind == MSG_REQUEST) { /* no method or params of it stay visible */
        m->kind = MSG_INVALID;
        m->method = NULL;
        m->params = NULL;
    }
}

/* What kind of message obj is, and its id (big_id: the digits of a too-big id). */
static void classify_shape(mcp_message *m, json_t *obj, const char *big_id)
{
    m->kind = MSG_INVALID;
    m->obj = obj;
    if (!json_is_object(obj)) {
        m->invalid = "a message must be a JSON object";
        return;
    }
    json_t *id = json_object_get(obj, "id");
    if (id) {
        if (big_id && json_is_string(id)) {
            m->id_raw = xstrdup(big_id);
            m->id = id;
        } else if (json_is_string(id) || json_is_integer(id)) {
            m->id_raw = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
            m->id = id;
        }
    }
    json_t *jv = json_object_get(obj, "jsonrpc");
    json_t *method = json_object_get(obj, "method");
    if (!id && json_is_string(method)) {
        /* a notification, possibly malformed: never answered */
        m->kind = MSG_NOTIFICATION;
        m->method = json_string_value(method);
        m->params = json_object_get(obj, "params");
        if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0)
            m->invalid = "jsonrpc must be \"2.0\"";
        return;
    }
    if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0) {
        m->invalid = "jsonrpc must be \"2.0\"";
        return;
    }
    if (id && !m->id_raw) {
        m->invalid = "id must be a string or an integer";
        return;
    }
    if (!method) {
        if (id && (json_object_get(obj, "result") || json_object_get(obj, "error")))
            m->kind = MSG_RESPONSE;
        else
            m->invalid = "missing method";
        return;
    }
    if (!json_is_string(method)) {
        m->invalid = "method must be a string";
        return;
    }
    if (!id) {
        m->invalid = "missing id";
        return;
    }
    m->kind = MSG_REQUEST;
    m->method = json_string_value(method);
    m->params = json_object_get(obj, "params");
}

static void classify(mcp_message *m, json_t *obj, const big_ids *ids, size_t i, bool nul)
{
    classify_shape(m, obj, i < ids->n ? ids->digits[i] : NULL);
    if (nul)
        refuse_nul(m, obj);
}

mcp_message *mcp_message_parse(const char *body, size_t len)
{
    mcp_message *m = xcalloc(1, sizeof *m);
    json_error_t jerr;
    size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    const char *text = body;
    char *patched = NULL;
    big_ids ids = {0};
    bool nul = false;
    m->root = json_loadb(text, len, flags, &jerr);
    for (int again = 0; !m->root && again < 2; again++) {
        if (json_error_code(&jerr) == json_error_numeric_overflow && !patched)
            text = patched = patch_big_ints(body, len, &len, &ids);
        else if (json_error_code(&jerr) == json_error_null_character && !nul)
            nul = true, flags |= JSON_ALLOW_NUL; /* see refuse_nul */
        else
            break;
        m->root = json_loadb(text, len, flags, &jerr);
    }
    free(patched);
    if (!m->root && json_error_code(&jerr) == json_error_null_byte_in_key) {
        /* valid JSON, but a member name no object here can hold: its id cannot be read */
        m->kind = MSG_INVALID;
        m->invalid = "a member name contains a NUL character (\\u0000), which is not accepted";
    } else if (!m->root) {
        m->kind = MSG_PARSE_ERROR;
        m->invalid = "parse error";
    } else if (json_is_array(m->root)) {
        m->kind = MSG_BATCH;
        m->nitems = json_array_size(m->root);
        m->items = m->nitems ? xcalloc(m->nitems, sizeof *m->items) : NULL;
        for (size_t i = 0; i < m->nitems; i++) {
            mcp_message *it = xcalloc(1, sizeof *it);
            classify(it, json_array_get(m->root, i), &ids, i, nul);
            m->items[i] = it;
        }
    } else {
        classify(m, m->root, &ids, 0, nul);
    }
    big_ids_free(&ids);
    return m;
}

void mcp_msg_free(mcp_message *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nitems; i++)
        mcp_msg_free(m->items[i]);
    free(m->items);
    free(m->id_raw);
    free(m->invalid_owned);
    json_decref(m->root);
    free(m);
}

void mcp_message_free(mcp_message *m)
{
    mcp_msg_free(m);
}
bool mcp_message_is_request(const mcp_message *m)
{
    return m && m->kind == MSG_REQUEST;
}
bool mcp_message_is_batch(const mcp_message *m)
{
    return m && m->kind == MSG_BATCH;
}
const char *mcp_message_method(const mcp_message *m)
{
    return m ? m->method : NULL;
}

void mcp_reply_free(mcp_reply *r)
{
    if (!r)
        return;
    free(r->json);
    r->json = NULL;
    r->len = 0;
    r->kind = MCP_REPLY_NONE;
}
