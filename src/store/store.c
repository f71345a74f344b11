/* store/store.c — opening a store from a URL (pick the implementation, check the
 * schema version), the record/list release functions, the table order and the
 * logical table description shared by every implementation, with the row check
 * and canonical row text used by copy/export/import, and the argument checks the
 * store.h wrappers run before any backend (store_*_check). Must not: contain SQL
 * or backend-specific logic (that is store_sql.c / store_mongo*.c), or run
 * migrations. */
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_sql.h"
#include "store/store_mongo.h"
#include "db/db.h"
#include "db/url.h"
#include "migrate/migrate.h"
#include "base/sbuf.h"

err_code store_open(const char *url, const conf_t *c, store_t **out, err_t *e)
{
    *out = NULL;
    if (!url || !*url)
        return err_set(e, ERR_INVALID, "store: no database URL");
    db_url *u = NULL;
    err_code rc = db_url_parse(url, &u, e);
    if (rc != ERR_OK)
        return rc;
    if (u->backend == DB_BACKEND_MONGODB) {
        db_url_free(u);
        return store_mongo_open(url, c, STORE_MONGO_CHECK, out, e);
    }
    db_url_free(u);
    db_t *db = NULL;
    rc = db_open_conf(url, c, &db, e);
    if (rc != ERR_OK)
        return rc;
    rc = migrate_check(db, e);
    if (rc != ERR_OK) {
        db_close(db);
        return rc;
    }
    return store_sql_open(db, true, out, e); /* closes db on error */
}

void store_close(store_t *st)
{
    if (st)
        st->vt->close(st);
}

const char *const *store_table_order(void)
{
    static const char *const order[] = {
        "sessions", "messages", "agent_memory", "audit_log", "secure_tokens", "revoked_jtis", NULL};
    return order;
}

/* ---- the logical tables ------------------------------------------------------------ */

#define COL(n, t, null) \
    { \
        n, STORE_COL_##t, null \
    }
static const store_column sessions_cols[] = {
    COL("id", TEXT, false),        COL("purpose", TEXT, false),   COL("created_by", TEXT, false),
    COL("metadata", JSON, true),   COL("is_active", BOOL, false), COL("created_at", TIME, false),
    COL("updated_at", TIME, false)};
static const store_column messages_cols[] = {COL("id", INT, false),
                                             COL("session_id", TEXT, false),
                                             COL("sender", TEXT, false),
                                             COL("sender_type", TEXT, false),
                                             COL("content", TEXT, false),
                                             COL("visibility", TEXT, false),
                                             COL("message_type", TEXT, false),
                                             COL("metadata", JSON, true),
                                             COL("parent_message_id", INT, true),
                                             COL("created_at", TIME, false)};
static const store_column memory_cols[] = {
    COL("agent_id", TEXT, false),   COL("session_id", TEXT, true), COL("key", TEXT, false),
    COL("value", JSON, false),      COL("metadata", JSON, true),   COL("created_at", TIME, false),
    COL("updated_at", TIME, false), COL("expires_at", TIME, true)};
static const store_column audit_cols[] = {
    COL("id", INT, false),        COL("created_at", TIME, false), COL("event_type", TEXT, false),
    COL("agent_id", TEXT, false), COL("session_id", TEXT, true),  COL("resource", TEXT, true),
    COL("metadata", JSON, true)};
static const store_column token_cols[] = {
    COL("token_id", TEXT, false),   COL("jwt", TEXT, false),        COL("agent_id", TEXT, false),
    COL("agent_type", TEXT, false), COL("created_at", TIME, false), COL("expires_at", TIME, false)};
static const store_column jti_cols[] = {COL("jti", TEXT, false), COL("expires_at", TIME, false)};

static const char *const key_id[] = {"id"};
static const char *const key_memory[] = {"agent_id", "session_id", "key"};
static const char *const key_token[] = {"token_id"};
static const char *const key_jti[] = {"jti"};

#define N(a) (sizeof a / sizeof a[0])
static const store_table tables[] = {
    {"sessions", sessions_cols, N(sessions_cols), key_id, 1, NULL},
    {"messages", messages_cols, N(messages_cols), key_id, 1, "id"},
    {"agent_memory", memory_cols, N(memory_cols), key_memory, 3, NULL},
    {"audit_log", audit_cols, N(audit_cols), key_id, 1, "id"},
    {"secure_tokens", token_cols, N(token_cols), key_token, 1, NULL},
    {"revoked_jtis", jti_cols, N(jti_cols), key_jti, 1, NULL},
};

const store_table *store_tables(size_t *n)
{
    *n = N(tables);
    return tables;
}

int store_table_index(const char *name)
{
    for (size_t i = 0; name && i < N(tables); i++)
        if (strcmp(tables[i].name, name) == 0)
            return (int)i;
    return -1;
}

const store_table *store_table_find(const char *name)
{
    int k = store_table_index(name);
    return k < 0 ? NULL : &tables[k];
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

void store_session_clear(store_session *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->purpose);
    free(s->created_by);
    free(s->metadata);
    for (size_t i = 0; i < s->nparticipants; i++)
        free(s->participants[i]);
    free(s->participants);
    memset(s, 0, sizeof *s);
}

void store_message_clear(store_message *m)
{
    if (!m)
        return;
    free(m->session_id);
    free(m->sender);
    free(m->sender_type);
    free(m->content);
    free(m->visibility);
    free(m->message_type);
    free(m->metadata);
    memset(m, 0, sizeof *m);
}

void store_memory_clear(store_memory *m)
{
    if (!m)
        return;
    free(m->agent_id);
    free(m->session_id);
    free(m->key);
    free(m->value);
    free(m->metadata);
    memset(m, 0, sizeof *m);
}

void store_token_clear(store_token *t)
{
    if (!t)
        return;
    free(t->token_id);
    free(t->jwt);
    free(t->agent_id);
    free(t->agent_type);
    memset(t, 0, sizeof *t);
}

void store_audit_clear(store_audit *a)
{
    if (!a)
        return;
    free(a->event_type);
    free(a->agent_id);
    free(a->session_id);
    free(a->resource);
    free(a->metadata);
    memset(a, 0, sizeof *a);
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

/* ---- argument checks (called by the dispatch wrappers in store.h) --------------------- */

/* ERR_INVALID "store: <what>" unless ok. */
static err_code need(bool ok, const char *what, err_t *e)
{
    return ok ? ERR_OK : err_set(e, ERR_INVALID, "store: %s", what);
}

static bool visibility_valid(const char *v)
{
    return !v || strcmp(v, "public") == 0 || strcmp(v, "private") == 0 ||
           strcmp(v, "agent_only") == 0 || strcmp(v, "admin_only") == 0;
}

err_code store_session_create_check(const store_session *in, err_t *e)
{
    return need(in && in->id && in->purpose && in->created_by,
                "session_create needs id, purpose and created_by", e);
}

err_code store_session_get_check(const char *id, store_session *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(id != NULL, "session_get needs an id", e);
}

err_code store_session_list_check(const store_session_query *q, store_sessions *out, int64_t *total,
                                  err_t *e)
{
    memset(out, 0, sizeof *out);
    if (total)
        *total = 0;
    return need(q && q->limit >= 1 && q->offset >= 0, "session_list needs limit >= 1, offset >= 0",
                e);
}

err_code store_message_add_check(const store_message *m, err_t *e)
{
    if (!m || !m->session_id || !m->sender || !m->content)
        return need(false, "message_add needs session_id, sender and content", e);
    if (m->parent_id < 0)
        return need(false, "message_add: parent_id must be >= 0", e);
    if (!visibility_valid(m->visibility))
        return err_set(e, ERR_INVALID,
                       "store: visibility '%.32s' is not one of public, private, "
                       "agent_only, admin_only",
                       m->visibility);
    return ERR_OK;
}

err_code store_message_list_check(const store_msg_query *q, store_messages *out, int64_t *total,
                                  err_t *e)
{
    memset(out, 0, sizeof *out);
    if (total)
        *total = 0;
    if (!q || !q->session_id)
        return need(false, "message_list needs a session_id", e);
    if (q->limit < 1 || q->offset < 0)
        return need(false, "message_list needs limit >= 1, offset >= 0", e);
    return need(!q->from || !q->to || q->from <= q->to, "message_list: from is after to", e);
}

err_code store_message_get_check(const store_vis *vis, store_message *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(vis != NULL, "message_get needs a visibility filter", e);
}

err_code store_message_thread_check(const store_vis *vis, store_messages *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(vis != NULL, "message_thread needs a visibility filter", e);
}

err_code store_search_check(const store_search_query *q, store_messages *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    if (!q || !q->session_id || q->limit < 1 || q->since_id < 0)
        return err_set(e, ERR_INVALID,
                       "store: message_search needs a session_id, limit >= 1"
                       " and since_id >= 0");
    if (!q->terms || q->nterms < 1)
        return err_set(e, ERR_INVALID, "store: message_search needs at least one term");
    for (size_t i = 0; i < q->nterms; i++) {
        size_t cps = 0;
        for (const char *t = q->terms[i]; t && *t; t++)
            cps += ((unsigned char)*t & 0xC0) != 0x80;
        /* the indexes hold trigrams of the fields ('\n' separates fields) */
        if (cps != 3 || strchr(q->terms[i], '\n'))
            return err_set(e, ERR_INVALID,
                           "store: message_search: term %zu is not a trigram"
                           " (3 characters, no newline)",
                           i + 1);
    }
    return ERR_OK;
}

err_code store_reindex_check(const store_t *st, int limit, int64_t *done, err_t *e)
{
    *done = 0;
    if (limit < 1)
        return err_set(e, ERR_INVALID, "store: message_reindex needs limit >= 1");
    if (!st->index_fn)
        return err_set(e, ERR_INVALID,
                       "store: message_reindex needs an index function"
                       " (store_set_index_fn)");
    return ERR_OK;
}

err_code store_memory_set_check(const store_mem_set *in, store_memory *out, err_t *e)
{
    if (out)
        memset(out, 0, sizeof *out);
    return need(in && in->agent_id && in->key && in->value,
                "memory_set needs agent_id, key and value", e);
}

err_code store_memory_get_check(const char *agent_id, const char *key, store_memory *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(agent_id && key, "memory_get needs agent_id and key", e);
}

err_code store_memory_list_check(const store_mem_query *q, store_memories *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    if (!q || !q->agent_id || q->limit < 1)
        return need(false, "memory_list needs agent_id and limit >= 1", e);
    if (!(q->scope == STORE_MEM_GLOBAL || q->scope == STORE_MEM_ALL ||
          (q->scope == STORE_MEM_SESSION && q->session_id)))
        return need(false, "memory_list: bad scope (session scope needs a session_id)", e);
    return need(!q->prefix || str_utf8_valid(q->prefix, strlen(q->prefix)),
                "memory_list: prefix is not valid UTF-8", e);
}

err_code store_memory_delete_check(const char *agent_id, const char *key, bool *deleted, err_t *e)
{
    if (deleted)
        *deleted = false;
    return need(agent_id && key, "memory_delete needs agent_id and key", e);
}

err_code store_audit_append_check(const store_audit_in *a, err_t *e)
{
    return need(a && a->event_type && a->agent_id, "audit_append needs event_type and agent_id", e);
}

err_code store_audit_list_check(const store_audit_query *q, store_audits *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(q && q->limit >= 1, "audit_list needs limit >= 1", e);
}

err_code store_token_put_check(const store_token *t, err_t *e)
{
    return need(t && t->token_id && t->jwt && t->agent_id && t->agent_type && t->expires_at,
                "token_put needs token_id, jwt, agent_id, agent_type and expires_at", e);
}

err_code store_token_get_check(const char *token_id, store_token *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return need(token_id != NULL, "token_get needs a token_id", e);
}

err_code store_token_delete_check(const char *token_id, bool *deleted, err_t *e)
{
    if (deleted)
        *deleted = false;
    return need(token_id != NULL, "token_delete needs a token_id", e);
}

err_code store_jti_revoke_check(const char *jti, utc_us expires_at, err_t *e)
{
    return need(jti && expires_at, "jti_revoke needs a jti and expires_at", e);
}

err_code store_jti_is_revoked_check(const char *jti, bool *revoked, err_t *e)
{
    *revoked = false;
    return need(jti != NULL, "jti_is_revoked needs a jti", e);
}

err_code store_iterate_check(store_row_cb cb, err_t *e)
{
    return need(cb != NULL, "iterate needs a callback", e);
}

static err_code unknown_table(const char *table, err_t *e)
{
    return err_set(e, ERR_INVALID, "store: unknown table '%.64s'", table ? table : "");
}

err_code store_import_rows_check(const char *table, json_t *const *rows, size_t n,
                                 int64_t *inserted, err_t *e)
{
    if (inserted)
        *inserted = 0;
    const store_table *t = store_table_find(table);
    if (!t)
        return unknown_table(table, e);
    for (size_t r = 0; r < n; r++) {
        err_code rc = store_row_check(t, rows[r], e);
        if (rc != ERR_OK) {
            err_prefix(e, "store: row %zu", r + 1);
            return rc;
        }
    }
    return ERR_OK;
}

err_code store_count_rows_check(const char *table, int64_t *n, err_t *e)
{
    *n = 0;
    return store_table_find(table) ? ERR_OK : unknown_table(table, e);
}
