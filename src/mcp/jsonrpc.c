/* mcp/jsonrpc.c — JSON-RPC 2.0 framing: parse a body once into an mcp_message (single
 * message or batch), classify it, keep each request id as its verbatim JSON text (big
 * integers included), and serialise responses without re-typing the id.
 * Must not: know MCP methods or session state (that is session.c). */
#include <stdlib.h>
#include <string.h>

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
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message ? message : "error");
    if (data)
        json_object_set_new(err, "data", data);
    sbuf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    sbuf_puts(b, id_raw ? id_raw : "null");
    sbuf_puts(b, ",\"error\":");
    mcp_json_append(b, err);
    sbuf_putc(b, '}');
    json_decref(err);
}

/* Integers beyond int64 make jansson refuse the whole text. Rewrite the integer values of
 * top-level "id" members (of the root object, or of objects directly in a root array) as
 * strings "\u0000<digits>" so the body parses; the digits are echoed verbatim later. */
static char *patch_big_ids(const char *s, size_t n, size_t *outlen)
{
    sbuf_t out = SBUF_INIT;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    int want = (i < n && s[i] == '[') ? 2 : 1;
    int depth = 0;
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
            sbuf_append(&out, s + i, j - i + 1);
            bool is_id = depth == want && j - i + 1 == 4 && memcmp(s + i, "\"id\"", 4) == 0;
            i = j;
            if (!is_id)
                continue;
            size_t k = i + 1;
            while (k < n && strchr(" \t\r\n", s[k]))
                k++;
            if (k >= n || s[k] != ':')
                continue;
            k++;
            while (k < n && strchr(" \t\r\n", s[k]))
                k++;
            size_t m = k;
            if (m < n && s[m] == '-')
                m++;
            size_t digits = m;
            while (m < n && s[m] >= '0' && s[m] <= '9')
                m++;
            if (m == digits || (m < n && strchr(".eE", s[m])))
                continue;
            sbuf_append(&out, s + i + 1, k - i - 1);
            sbuf_puts(&out, "\"\\u0000");
            sbuf_append(&out, s + k, m - k);
            sbuf_putc(&out, '"');
            i = m - 1;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        sbuf_putc(&out, c);
    }
    *outlen = out.len;
    if (!out.p)
        return xstrdup("");
    return sbuf_detach(&out);
}

static void classify(mcp_message *m, json_t *obj)
{
    m->kind = MSG_INVALID;
    m->obj = obj;
    if (!json_is_object(obj)) {
        m->invalid = "a message must be a JSON object";
        return;
    }
    json_t *id = json_object_get(obj, "id");
    if (id) {
        if (json_is_string(id) && json_string_length(id) > 0 && json_string_value(id)[0] == '\0') {
            m->id_raw = xstrndup(json_string_value(id) + 1, json_string_length(id) - 1);
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

mcp_message *mcp_message_parse(const char *body, size_t len)
{
    mcp_message *m = xcalloc(1, sizeof *m);
    json_error_t jerr;
    m->root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!m->root && json_error_code(&jerr) == json_error_numeric_overflow) {
        size_t plen;
        char *patched = patch_big_ids(body, len, &plen);
        m->root = json_loadb(patched, plen,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        free(patched);
    }
    if (!m->root) {
        m->kind = MSG_PARSE_ERROR;
        m->invalid = "parse error";
        return m;
    }
    if (json_is_array(m->root)) {
        m->kind = MSG_BATCH;
        m->nitems = json_array_size(m->root);
        m->items = m->nitems ? xcalloc(m->nitems, sizeof *m->items) : NULL;
        for (size_t i = 0; i < m->nitems; i++) {
            mcp_message *it = xcalloc(1, sizeof *it);
            classify(it, json_array_get(m->root, i));
            m->items[i] = it;
        }
        return m;
    }
    classify(m, m->root);
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
