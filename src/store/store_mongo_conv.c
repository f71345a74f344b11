/* store/store_mongo_conv.c — the MongoDB store's value encodings: JSON text
 * (metadata, memory values) <-> BSON values with their JSON types kept
 * (integers as int32 when they fit, else int64; reals as double; objects as
 * documents; arrays as arrays), times as int64 microseconds since the epoch
 * (exact to the microsecond; read back tolerant of int32/int64/double because
 * some servers re-encode numbers), typed field getters, and the small documents
 * of commands (index keys and sort orders, {field: {op: value}}).
 * Must not: talk to the server or know about collections. */
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "base/sbuf.h"

static void append_value(bson_t *doc, const char *key, const json_t *v);

static void append_children(bson_t *child, const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x)
            append_value(child, k, x);
        return;
    }
    size_t i;
    json_t *x;
    char buf[16];
    json_array_foreach (v, i, x) {
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        append_value(child, k, x);
    }
}

static void append_value(bson_t *doc, const char *key, const json_t *v)
{
    bson_t child;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        bson_append_document_begin(doc, key, -1, &child);
        append_children(&child, v);
        bson_append_document_end(doc, &child);
        break;
    case JSON_ARRAY:
        bson_append_array_begin(doc, key, -1, &child);
        append_children(&child, v);
        bson_append_array_end(doc, &child);
        break;
    case JSON_STRING:
        bson_append_utf8(doc, key, -1, json_string_value(v), (int)json_string_length(v));
        break;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n >= INT32_MIN && n <= INT32_MAX)
            bson_append_int32(doc, key, -1, (int32_t)n);
        else
            bson_append_int64(doc, key, -1, (int64_t)n);
        break;
    }
    case JSON_REAL: bson_append_double(doc, key, -1, json_real_value(v)); break;
    case JSON_TRUE: bson_append_bool(doc, key, -1, true); break;
    case JSON_FALSE: bson_append_bool(doc, key, -1, false); break;
    default: bson_append_null(doc, key, -1); break;
    }
}

void smongo_append_json(bson_t *doc, const char *key, const json_t *v)
{
    if (!v)
        bson_append_null(doc, key, -1);
    else
        append_value(doc, key, v);
}

err_code smongo_parse_json(const char *json, const char *what, json_t **out, err_t *e)
{
    *out = NULL;
    if (!json)
        return ERR_OK;
    json_error_t je;
    *out = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out)
        return err_set(e, ERR_INVALID, "%s is not valid JSON: %s", what, je.text);
    return ERR_OK;
}

err_code smongo_append_json_text(bson_t *doc, const char *key, const char *json, const char *what,
                                 err_t *e)
{
    json_t *v = NULL;
    err_code rc = smongo_parse_json(json, what, &v, e);
    if (rc == ERR_OK)
        smongo_append_json(doc, key, v);
    json_decref(v);
    return rc;
}

static json_t *children_to_json(const bson_iter_t *it, bool array)
{
    bson_iter_t ch;
    json_t *out = array ? json_array() : json_object();
    if (!bson_iter_recurse(it, &ch))
        return out;
    while (bson_iter_next(&ch)) {
        json_t *x = smongo_iter_to_json(&ch);
        if (array)
            json_array_append_new(out, x);
        else
            json_object_set_new(out, bson_iter_key(&ch), x);
    }
    return out;
}

json_t *smongo_iter_to_json(const bson_iter_t *it)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_DOCUMENT: return children_to_json(it, false);
    case BSON_TYPE_ARRAY: return children_to_json(it, true);
    case BSON_TYPE_UTF8: {
        uint32_t n = 0;
        const char *s = bson_iter_utf8(it, &n);
        return json_stringn_nocheck(s, n);
    }
    case BSON_TYPE_INT32: return json_integer(bson_iter_int32(it));
    case BSON_TYPE_INT64: return json_integer((json_int_t)bson_iter_int64(it));
    case BSON_TYPE_DOUBLE: return json_real(bson_iter_double(it));
    case BSON_TYPE_BOOL: return json_boolean(bson_iter_bool(it));
    case BSON_TYPE_DATE_TIME: return json_integer((json_int_t)bson_iter_date_time(it));
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(it), hex);
        return json_string(hex);
    }
    default: return json_null();
    }
}

static bool find(const bson_t *doc, const char *key, bson_iter_t *it)
{
    return doc && bson_iter_init_find(it, doc, key);
}

bool smongo_has(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return find(doc, key, &it) && !BSON_ITER_HOLDS_NULL(&it);
}

char *smongo_get_json_text(const bson_t *doc, const char *key, bool null_is_null)
{
    bson_iter_t it;
    if (!find(doc, key, &it) || BSON_ITER_HOLDS_NULL(&it))
        return null_is_null ? NULL : xstrdup("null");
    json_t *v = smongo_iter_to_json(&it);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return s;
}

char *smongo_get_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (!find(doc, key, &it) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    uint32_t n = 0;
    const char *s = bson_iter_utf8(&it, &n);
    return xstrndup(s, n);
}

int64_t smongo_get_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (!find(doc, key, &it) || !BSON_ITER_HOLDS_NUMBER(&it))
        return 0;
    return bson_iter_as_int64(&it);
}

bool smongo_get_bool(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return find(doc, key, &it) && bson_iter_as_bool(&it);
}

void smongo_append_time(bson_t *doc, const char *key, utc_us t)
{
    if (t)
        bson_append_int64(doc, key, -1, t);
    else
        bson_append_null(doc, key, -1);
}

void smongo_append_str(bson_t *doc, const char *key, const char *s)
{
    if (s)
        bson_append_utf8(doc, key, -1, s, -1);
    else
        bson_append_null(doc, key, -1);
}

void smongo_append_keys(bson_t *d, const char *key, const char *const *fields, size_t n)
{
    bson_t keys;
    bson_append_document_begin(d, key, -1, &keys);
    for (size_t i = 0; i < n && fields[i]; i++) {
        const char *f = fields[i];
        bson_append_int32(&keys, f[0] == '-' ? f + 1 : f, -1, f[0] == '-' ? -1 : 1);
    }
    bson_append_document_end(d, &keys);
}

void smongo_append_op(bson_t *d, const char *field, const char *op, int64_t v)
{
    bson_t sub;
    bson_append_document_begin(d, field, -1, &sub);
    bson_append_int64(&sub, op, -1, v);
    bson_append_document_end(d, &sub);
}

/* ---- documents into store records ----------------------------------------------------- */

static void read_session(const bson_t *d, void *rec)
{
    store_session *s = rec;
    s->id = smongo_get_str(d, "id");
    s->purpose = smongo_get_str(d, "purpose");
    s->created_by = smongo_get_str(d, "created_by");
    s->metadata = smongo_get_json_text(d, "metadata", true);
    s->is_active = smongo_get_bool(d, "is_active");
    s->created_at = smongo_get_time(d, "created_at");
    s->updated_at = smongo_get_time(d, "updated_at");
    s->access = smongo_get_json_text(d, "access", true);
}

static void clear_session(void *rec)
{
    store_session_clear(rec);
}

const smongo_rec smongo_session_rec = {sizeof(store_session), read_session, clear_session};

static void read_message(const bson_t *d, void *rec)
{
    store_message *m = rec;
    m->id = smongo_get_int(d, "id");
    m->session_id = smongo_get_str(d, "session_id");
    m->sender = smongo_get_str(d, "sender");
    m->sender_type = smongo_get_str(d, "sender_type");
    m->content = smongo_get_str(d, "content");
    char *vis = smongo_get_str(d, "visibility");
    m->visibility = store_visibility_stored(vis, vis ? strlen(vis) : 0);
    free(vis);
    m->message_type = smongo_get_str(d, "message_type");
    m->metadata = smongo_get_json_text(d, "metadata", true);
    m->parent_id = smongo_get_int(d, "parent_message_id");
    m->created_at = smongo_get_time(d, "created_at");
}

static void clear_message(void *rec)
{
    store_message_clear(rec);
}

const smongo_rec smongo_message_rec = {sizeof(store_message), read_message, clear_message};

static void read_memory(const bson_t *d, void *rec)
{
    store_memory *m = rec;
    m->agent_id = smongo_get_str(d, "agent_id");
    m->session_id = smongo_get_str(d, "session_id");
    m->key = smongo_get_str(d, "key");
    m->value = smongo_get_json_text(d, "value", false);
    m->metadata = smongo_get_json_text(d, "metadata", true);
    m->created_at = smongo_get_time(d, "created_at");
    m->updated_at = smongo_get_time(d, "updated_at");
    m->expires_at = smongo_get_time(d, "expires_at");
}

static void clear_memory(void *rec)
{
    store_memory_clear(rec);
}

const smongo_rec smongo_memory_rec = {sizeof(store_memory), read_memory, clear_memory};

static void read_audit(const bson_t *d, void *rec)
{
    store_audit *a = rec;
    a->id = smongo_get_int(d, "id");
    a->at = smongo_get_time(d, "created_at");
    a->event_type = smongo_get_str(d, "event_type");
    a->agent_id = smongo_get_str(d, "agent_id");
    a->session_id = smongo_get_str(d, "session_id");
    a->resource = smongo_get_str(d, "resource");
    a->metadata = smongo_get_json_text(d, "metadata", true);
}

static void clear_audit(void *rec)
{
    store_audit_clear(rec);
}

const smongo_rec smongo_audit_rec = {sizeof(store_audit), read_audit, clear_audit};

static void read_token(const bson_t *d, void *rec)
{
    store_token *t = rec;
    t->token_hash = smongo_get_str(d, "token_hash");
    t->agent_id = smongo_get_str(d, "agent_id");
    t->agent_type = smongo_get_str(d, "agent_type");
    t->permissions = smongo_get_str(d, "permissions");
    t->jti = smongo_get_str(d, "jti");
    t->created_at = smongo_get_time(d, "created_at");
    t->expires_at = smongo_get_time(d, "expires_at");
}

static void clear_token(void *rec)
{
    store_token_clear(rec);
}

const smongo_rec smongo_token_rec = {sizeof(store_token), read_token, clear_token};

static void read_cred(const bson_t *d, void *rec)
{
    store_cred *c = rec;
    c->agent_id = smongo_get_str(d, "agent_id");
    c->agent_type = smongo_get_str(d, "agent_type");
    c->permissions = smongo_get_str(d, "permissions");
    c->key_hash = smongo_get_str(d, "key_hash");
    c->created_at = smongo_get_time(d, "created_at");
    c->updated_at = smongo_get_time(d, "updated_at");
    c->revoked_at = smongo_get_time(d, "revoked_at");
}

static void clear_cred(void *rec)
{
    store_cred_clear(rec);
}

const smongo_rec smongo_cred_rec = {sizeof(store_cred), read_cred, clear_cred};
