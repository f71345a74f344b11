/* store/store_tables.c — what every backend shares about the data itself: the
 * visibility name table, the table order and the logical table description used by
 * copy/export/import, the row check and canonical row text, and the release
 * functions of the records and lists the store returns.
 * Must not: touch a database or know a backend. */
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_backend.h"
#include "base/sbuf.h"

/* ---- visibility names (store.h) ------------------------------------------------------ */

/* NULL-terminated: also the allowed values of messages.visibility below */
static const char *const vis_names[STORE_VIS_COUNT + 1] = {
    [STORE_VIS_PUBLIC] = "public",
    [STORE_VIS_PRIVATE] = "private",
    [STORE_VIS_AGENT_ONLY] = "agent_only",
    [STORE_VIS_ADMIN_ONLY] = "admin_only",
    [STORE_VIS_COUNT] = NULL,
};

const char *store_visibility_name(store_visibility v)
{
    return (unsigned)v < STORE_VIS_COUNT ? vis_names[v] : NULL;
}

bool store_visibility_parse(const char *name, store_visibility *out)
{
    for (unsigned v = 0; name && v < STORE_VIS_COUNT; v++)
        if (strcmp(vis_names[v], name) == 0) {
            *out = (store_visibility)v;
            return true;
        }
    return false;
}

const char *const *store_table_order(void)
{
    static const char *const order[] = {
        "sessions",      "messages",     "agent_memory",      "audit_log",
        "secure_tokens", "revoked_jtis", "agent_credentials", NULL};
    return order;
}

/* ---- the logical tables ------------------------------------------------------------ */

#define COL(n, t, null) \
    { \
        n, STORE_COL_##t, null, NULL, false, NULL, NULL \
    }
/* a JSON object, or null */
#define COL_OBJECT(n) \
    { \
        n, STORE_COL_JSON, true, NULL, true, NULL, NULL \
    }
/* sessions.access: {"agents": [strings], "types": [strings]} and nothing else */
static bool access_shape(const json_t *v)
{
    static const char *const keys[] = {"agents", "types"};
    if (!json_is_object(v) || json_object_size(v) != 2)
        return false;
    for (size_t k = 0; k < 2; k++) {
        const json_t *a = json_object_get(v, keys[k]), *x;
        size_t i;
        if (!json_is_array(a))
            return false;
        json_array_foreach (a, i, x)
            if (!json_is_string(x))
                return false;
    }
    return true;
}

char *store_access_canonical(const char *text)
{
    json_error_t je;
    json_t *v = text ? json_loads(text, 0, &je) : NULL;
    char *c = v && access_shape(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return c;
}

#define ACCESS_SAYS "an object {\"agents\": [strings], \"types\": [strings]}"

static const store_column sessions_cols[] = {
    COL("id", TEXT, false),
    COL("purpose", TEXT, false),
    COL("created_by", TEXT, false),
    COL_OBJECT("metadata"),
    COL("is_active", BOOL, false),
    COL("created_at", TIME, false),
    COL("updated_at", TIME, false),
    {"access", STORE_COL_JSON, true, NULL, true, access_shape, ACCESS_SAYS}};
static const store_column messages_cols[] = {
    COL("id", INT, false),
    COL("session_id", TEXT, false),
    COL("sender", TEXT, false),
    COL("sender_type", TEXT, false),
    COL("content", TEXT, false),
    {"visibility", STORE_COL_TEXT, false, vis_names, false, NULL, NULL},
    COL("message_type", TEXT, false),
    COL_OBJECT("metadata"),
    COL("parent_message_id", INT, true),
    COL("created_at", TIME, false)};
static const store_column memory_cols[] = {
    COL("agent_id", TEXT, false),   COL("session_id", TEXT, true), COL("key", TEXT, false),
    COL("value", JSON, false),      COL_OBJECT("metadata"),        COL("created_at", TIME, false),
    COL("updated_at", TIME, false), COL("expires_at", TIME, true)};
static const store_column audit_cols[] = {
    COL("id", INT, false),        COL("created_at", TIME, false), COL("event_type", TEXT, false),
    COL("agent_id", TEXT, false), COL("session_id", TEXT, true),  COL("resource", TEXT, true),
    COL("metadata", JSON, true)};
static const store_column token_cols[] = {
    COL("token_hash", TEXT, false),  COL("agent_id", TEXT, false), COL("agent_type", TEXT, false),
    COL("permissions", TEXT, false), COL("jti", TEXT, false),      COL("created_at", TIME, false),
    COL("expires_at", TIME, false)};
static const store_column jti_cols[] = {COL("jti", TEXT, false), COL("expires_at", TIME, false)};
static const store_column cred_cols[] = {
    COL("agent_id", TEXT, false), COL("agent_type", TEXT, false), COL("permissions", TEXT, false),
    COL("key_hash", TEXT, false), COL("created_at", TIME, false), COL("updated_at", TIME, false),
    COL("revoked_at", TIME, true)};

static const char *const key_id[] = {"id"};
static const char *const key_memory[] = {"agent_id", "session_id", "key"};
static const char *const key_token[] = {"token_hash"};
static const char *const key_jti[] = {"jti"};
static const char *const key_agent[] = {"agent_id"};

#define N(a) (sizeof a / sizeof a[0])
static const store_table tables[] = {
    {"sessions", sessions_cols, N(sessions_cols), key_id, 1, NULL},
    {"messages", messages_cols, N(messages_cols), key_id, 1, "id"},
    {"agent_memory", memory_cols, N(memory_cols), key_memory, 3, NULL},
    {"audit_log", audit_cols, N(audit_cols), key_id, 1, "id"},
    {"secure_tokens", token_cols, N(token_cols), key_token, 1, NULL},
    {"revoked_jtis", jti_cols, N(jti_cols), key_jti, 1, NULL},
    {"agent_credentials", cred_cols, N(cred_cols), key_agent, 1, NULL},
};

const store_table *store_tables(size_t *n)
{
    *n = N(tables);
    return tables;
}

const store_table *store_table_find(const char *name)
{
    for (size_t i = 0; name && i < N(tables); i++)
        if (strcmp(tables[i].name, name) == 0)
            return &tables[i];
    return NULL;
}

int store_table_index(const char *name)
{
    const store_table *t = store_table_find(name);
    return t ? (int)(t - tables) : -1;
}

static const char *col_type_name(store_col_type t)
{
    switch (t) {
    case STORE_COL_INT: return "an integer";
    case STORE_COL_TEXT: return "a string";
    case STORE_COL_TIME: return "an ISO-8601 time string";
    case STORE_COL_JSON: return "a JSON value";
    case STORE_COL_BOOL: return "true or false";
    }
    return "?";
}

static bool value_allowed(const char *const *values, const char *v)
{
    for (; *values; values++)
        if (strcmp(*values, v) == 0)
            return true;
    return false;
}

static err_code allowed_error(const store_table *t, const store_column *c, err_t *e)
{
    sbuf_t b = SBUF_INIT;
    for (const char *const *v = c->values; *v; v++)
        sbuf_printf(&b, "%s%s", v == c->values ? "" : ", ", *v);
    err_set(e, ERR_INVALID, "%s.%s must be one of %s", t->name, c->name, sbuf_cstr(&b));
    sbuf_free(&b);
    return ERR_INVALID;
}

/* Whether a string anywhere in v holds a NUL character (jansson keeps its length; the
 * databases and C code would cut the value there, and a dump could not be read back). */
static bool holds_nul(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_STRING: return strlen(json_string_value(v)) != json_string_length(v);
    case JSON_ARRAY:
        json_array_foreach (v, i, x)
            if (holds_nul(x))
                return true;
        return false;
    case JSON_OBJECT:
        json_object_foreach ((json_t *)v, k, x)
            if (holds_nul(x))
                return true;
        return false;
    default: return false;
    }
}

err_code store_row_check(const store_table *t, const json_t *row, err_t *e)
{
    if (!json_is_object(row))
        return err_set(e, ERR_INVALID, "%s: the row is not a JSON object", t->name);
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)row, k, v) {
        bool known = false;
        for (size_t i = 0; i < t->ncols && !known; i++)
            known = strcmp(t->cols[i].name, k) == 0;
        if (!known)
            return err_set(e, ERR_INVALID, "%s: unknown column '%.64s'", t->name, k);
    }
    for (size_t i = 0; i < t->ncols; i++) {
        const store_column *c = &t->cols[i];
        v = json_object_get(row, c->name);
        if (!v)
            return err_set(e, ERR_INVALID, "%s: column '%s' is missing", t->name, c->name);
        if (json_is_null(v)) {
            if (c->nullable || c->type == STORE_COL_JSON) /* JSON null is a value */
                continue;
            return err_set(e, ERR_INVALID, "%s.%s must not be null", t->name, c->name);
        }
        bool ok = false;
        switch (c->type) {
        case STORE_COL_INT: ok = json_is_integer(v); break;
        case STORE_COL_TEXT: ok = json_is_string(v); break;
        case STORE_COL_BOOL: ok = json_is_boolean(v); break;
        case STORE_COL_JSON: ok = true; break;
        case STORE_COL_TIME: {
            utc_us us;
            err_t pe;
            ok = json_is_string(v) && utc_parse(json_string_value(v), &us, &pe) == ERR_OK;
            break;
        }
        }
        if (!ok)
            return err_set(e, ERR_INVALID, "%s.%s must be %s", t->name, c->name,
                           col_type_name(c->type));
        if (c->object && !json_is_object(v))
            return err_set(e, ERR_INVALID, "%s.%s must be a JSON object or null", t->name, c->name);
        if (c->shape && !c->shape(v))
            return err_set(e, ERR_INVALID, "%s.%s must be %s or null", t->name, c->name,
                           c->shape_says);
        if (holds_nul(v))
            return err_set(e, ERR_INVALID,
                           "%s.%s holds a NUL character (\\u0000), which ctxd does not accept",
                           t->name, c->name);
        if (c->values && !value_allowed(c->values, json_string_value(v)))
            return allowed_error(t, c, e);
    }
    return ERR_OK;
}

char *store_row_canonical(const store_table *t, const json_t *row, err_t *e)
{
    json_t *c = json_object();
    for (size_t i = 0; i < t->ncols; i++) {
        const store_column *col = &t->cols[i];
        json_t *v = json_object_get(row, col->name);
        if (!v) {
            json_decref(c);
            err_set(e, ERR_INVALID, "%s: column '%s' is missing", t->name, col->name);
            return NULL;
        }
        if (col->type == STORE_COL_TIME && json_is_string(v)) {
            utc_us us;
            if (utc_parse(json_string_value(v), &us, e) != ERR_OK) {
                json_decref(c);
                return NULL;
            }
            char iso[UTC_ISO_LEN];
            json_object_set_new_nocheck(c, col->name, json_string(utc_format(us, iso)));
        } else {
            json_object_set_nocheck(c, col->name, v);
        }
    }
    char *s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(c);
    if (!s)
        err_set(e, ERR_INVALID, "%s: the row cannot be written as JSON", t->name);
    return s;
}

/* Frees a record's owned strings, then zeroes the record (NULL is fine). */
static void release(void *rec, size_t size, char *const *owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    memset(rec, 0, size);
}
#define RELEASE(rec, ...) \
    release((rec), sizeof *(rec), (char *const[]){__VA_ARGS__}, \
            sizeof((char *const[]){__VA_ARGS__}) / sizeof(char *))

void store_session_clear(store_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nparticipants; i++)
        free(s->participants[i]);
    free(s->participants);
    RELEASE(s, s->id, s->purpose, s->created_by, s->metadata, s->access);
}

void store_message_clear(store_message *m)
{
    if (m)
        RELEASE(m, m->session_id, m->sender, m->sender_type, m->content, m->message_type,
                m->metadata);
}

void store_memory_clear(store_memory *m)
{
    if (m)
        RELEASE(m, m->agent_id, m->session_id, m->key, m->value, m->metadata);
}

void store_token_clear(store_token *t)
{
    if (t)
        RELEASE(t, t->token_hash, t->agent_id, t->agent_type, t->permissions, t->jti);
}

void store_cred_clear(store_cred *c)
{
    if (c)
        RELEASE(c, c->agent_id, c->agent_type, c->permissions, c->key_hash);
}

void store_audit_clear(store_audit *a)
{
    if (a)
        RELEASE(a, a->event_type, a->agent_id, a->session_id, a->resource, a->metadata);
}

#define LIST_FREE(fn, type, clear) \
    void fn(type *l) \
    { \
        if (!l) \
            return; \
        for (size_t i = 0; i < l->n; i++) \
            clear(&l->v[i]); \
        free(l->v); \
        l->v = NULL; \
        l->n = 0; \
    }

LIST_FREE(store_sessions_free, store_sessions, store_session_clear)
LIST_FREE(store_messages_free, store_messages, store_message_clear)
LIST_FREE(store_memories_free, store_memories, store_memory_clear)
LIST_FREE(store_audits_free, store_audits, store_audit_clear)
LIST_FREE(store_creds_free, store_creds, store_cred_clear)
