/* mcp/content.c — builders for content blocks and the result objects handlers return
 * (CallToolResult, ReadResourceResult, GetPromptResult), and base64.
 * Must not: hold state or send anything. */
#include <stdio.h>
#include <stdlib.h>

#include "mcp/mcp_internal.h"

char *mcp_base64(const void *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static json_t *b64_string(const void *data, size_t len)
{
    char *b = mcp_base64(data, len);
    json_t *s = json_string(b);
    free(b);
    return s;
}

json_t *mcp_text(const char *text)
{
    return json_pack("{s:s,s:s}", "type", "text", "text", text ? text : "");
}

static json_t *media(const char *type, const void *data, size_t len, const char *mime)
{
    return json_pack("{s:s,s:o,s:s}", "type", type, "data", b64_string(data, len), "mimeType",
                     mime ? mime : "application/octet-stream");
}

json_t *mcp_image(const void *data, size_t len, const char *mime)
{
    return media("image", data, len, mime);
}
json_t *mcp_audio(const void *data, size_t len, const char *mime)
{
    return media("audio", data, len, mime);
}

static json_t *res_text(const char *uri, const char *mime, const char *text)
{
    json_t *r = json_pack("{s:s,s:s}", "uri", uri, "text", text ? text : "");
    if (mime)
        json_object_set_new(r, "mimeType", json_string(mime));
    return r;
}

static json_t *res_blob(const char *uri, const char *mime, const void *data, size_t len)
{
    json_t *r = json_pack("{s:s,s:o}", "uri", uri, "blob", b64_string(data, len));
    if (mime)
        json_object_set_new(r, "mimeType", json_string(mime));
    return r;
}

json_t *mcp_embedded_text(const char *uri, const char *mime, const char *text)
{
    return json_pack("{s:s,s:o}", "type", "resource", "resource", res_text(uri, mime, text));
}

json_t *mcp_embedded_blob(const char *uri, const char *mime, const void *data, size_t len)
{
    return json_pack("{s:s,s:o}", "type", "resource", "resource", res_blob(uri, mime, data, len));
}

json_t *mcp_resource_link(const char *uri, const char *name, const char *mime)
{
    json_t *r = json_pack("{s:s,s:s,s:s}", "type", "resource_link", "uri", uri, "name", name);
    if (mime)
        json_object_set_new(r, "mimeType", json_string(mime));
    return r;
}

json_t *mcp_result_new(void)
{
    return json_pack("{s:[]}", "content");
}

json_t *mcp_result_add(json_t *result, json_t *block)
{
    json_array_append_new(json_object_get(result, "content"), block);
    return result;
}

json_t *mcp_result_text(const char *text)
{
    return mcp_result_add(mcp_result_new(), mcp_text(text));
}

json_t *mcp_result_error(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_t *r = mcp_result_text(buf);
    json_object_set_new(r, "isError", json_true());
    return r;
}

/* The value is dumped once here; mcp_rpc_result reuses that text (structured.c). */
json_t *mcp_result_structured(json_t *value)
{
    char *txt = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *text = json_string(txt ? txt : "null");
    free(txt);
    json_t *r =
        mcp_result_add(mcp_result_new(), json_pack("{s:s,s:O}", "type", "text", "text", text));
    json_object_set_new(r, "structuredContent", value);
    mcp_structured_note(value, text);
    json_decref(text);
    return r;
}

json_t *mcp_resource_text(const char *uri, const char *mime, const char *text)
{
    return json_pack("{s:[o]}", "contents", res_text(uri, mime, text));
}

json_t *mcp_resource_blob(const char *uri, const char *mime, const void *data, size_t len)
{
    return json_pack("{s:[o]}", "contents", res_blob(uri, mime, data, len));
}

json_t *mcp_prompt_result(const char *description)
{
    json_t *r = json_pack("{s:[]}", "messages");
    if (description)
        json_object_set_new(r, "description", json_string(description));
    return r;
}

json_t *mcp_prompt_add(json_t *result, const char *role, json_t *block)
{
    json_array_append_new(json_object_get(result, "messages"),
                          json_pack("{s:s,s:o}", "role", role, "content", block));
    return result;
}
