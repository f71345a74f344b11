/* store/store.c — the store's public API (store.h) over its backends
 * (store_backend.h): opening a store from a URL through the registry with the
 * schema treatment the caller asks for, the schema lifecycle calls, and one
 * function per operation that makes `e` non-NULL, checks the arguments the same
 * way for every backend (ERR_INVALID), zeroes the outputs, calls the backend's
 * vtable and frees partial outputs on error.
 * Must not: contain SQL or backend-specific logic (that is store_sql*.c /
 * store_mongo*.c), or know which backends exist (store_registry.c does). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_backend.h"
#include "base/sbuf.h"

/* ---- opening and closing ------------------------------------------------------------ */

err_code store_open(const char *url, const conf_t *c, store_t **out, err_t *e)
{
    return store_open_with(url, c, STORE_OPEN_CHECK, out, e);
}

err_code store_open_with(const char *url, const conf_t *c, store_open_mode mode, store_t **out,
                         err_t *e)
{
    ERR_LOCAL(e);
    *out = NULL;
    const store_backend *b = NULL;
    db_url *u = NULL;
    err_code rc = store_backend_find(url, &b, &u, e);
    if (rc != ERR_OK)
        return rc;
    store_t *st = NULL;
    rc = b->open(url, u, c, &st, e);
    db_url_free(u);
    if (rc != ERR_OK)
        return rc;
    if (mode == STORE_OPEN_MIGRATE)
        rc = store_migrate_up(st, NULL, e);
    if (rc == ERR_OK && mode != STORE_OPEN_ANY)
        rc = store_schema_check(st, e);
    if (rc != ERR_OK) {
        store_close(st);
        return rc;
    }
    *out = st;
    return ERR_OK;
}

err_code store_check_exists(const char *url, err_t *e)
{
    ERR_LOCAL(e);
    const store_backend *b = NULL;
    db_url *u = NULL;
    err_code rc = store_backend_find(url, &b, &u, e);
    if (rc == ERR_OK && b->exists)
        rc = b->exists(u, e);
    db_url_free(u);
    return rc;
}

void store_close(store_t *st)
{
    if (st)
        st->vt->close(st);
}

const char *store_name(const store_t *st)
{
    return st->name;
}

const char *store_url_masked(const store_t *st)
{
    return st->url_masked;
}

void store_set_index_fn(store_t *st, store_index_fn fn)
{
    st->index_fn = fn;
}

/* ---- schema lifecycle ------------------------------------------------------------------ */

void store_schema_clear(store_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].name);
    free(s->v);
    memset(s, 0, sizeof *s);
}

err_code store_schema_status(store_t *st, store_schema *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    err_code rc = st->vt->schema_status(st, out, e);
    if (rc != ERR_OK)
        store_schema_clear(out);
    return rc;
}

err_code store_migrate_up(store_t *st, int *applied, err_t *e)
{
    ERR_LOCAL(e);
    int n = 0;
    err_code rc = st->vt->migrate_to(st, -1, &n, e);
    if (applied)
        *applied = n;
    return rc;
}

err_code store_migrate_to(store_t *st, int version, int *changed, err_t *e)
{
    ERR_LOCAL(e);
    int n = 0;
    err_code rc = version < 0
                      ? err_set(e, ERR_INVALID,
                                "target version %d is out of range: it must be 0 or more", version)
                      : st->vt->migrate_to(st, version, &n, e);
    if (changed)
        *changed = n;
    return rc;
}

err_code store_schema_check(store_t *st, err_t *e)
{
    ERR_LOCAL(e);
    return st->vt->schema_check(st, e);
}

err_code store_drop(store_t *st, err_t *e)
{
    ERR_LOCAL(e);
    return st->vt->drop(st, e);
}

/* ---- the operations --------------------------------------------------------------------
 * Each makes `e` non-NULL, zeroes its outputs (records, lists, counts, flags), checks
 * its arguments (ERR_INVALID naming what is wrong), calls the backend, and releases
 * what a failed call left in its output. */

/* ERR_INVALID "store: <what>" unless ok. */
static err_code need(bool ok, const char *what, err_t *e)
{
    return ok ? ERR_OK : err_set(e, ERR_INVALID, "store: %s", what);
}

/* A reader's filter (store.h, store_vis): required, and one way to say each filter. */
static err_code vis_check(const char *op, const store_vis *v, err_t *e)
{
    if (!v)
        return err_set(e, ERR_INVALID, "store: %s needs a visibility filter", op);
    if (v->any & ~STORE_VIS_EVERY)
        return err_set(e, ERR_INVALID,
                       "store: %s: visibility filter bits 0x%x are not visibilities", op,
                       v->any & ~STORE_VIS_EVERY);
    if (!v->member_id != !v->member_type)
        return err_set(e, ERR_INVALID,
                       "store: %s: the session clause needs both member_id and member_type", op);
    if ((v->private_of && (v->any & STORE_VIS_BIT(STORE_VIS_PRIVATE))) ||
        (v->agent_only_of && (v->any & STORE_VIS_BIT(STORE_VIS_AGENT_ONLY))))
        return err_set(e, ERR_INVALID,
                       "store: %s: a sender-bound visibility clause repeats one the filter "
                       "already matches for any sender",
                       op);
    return ERR_OK;
}

/* ERR_INVALID naming the visibility values (from the name table) unless v is one. */
static err_code visibility_check(store_visibility v, err_t *e)
{
    if (store_visibility_name(v))
        return ERR_OK;
    sbuf_t b = SBUF_INIT;
    for (unsigned i = 0; i < STORE_VIS_COUNT; i++)
        sbuf_printf(&b, "%s%s", i ? ", " : "", store_visibility_name((store_visibility)i));
    err_set(e, ERR_INVALID, "store: visibility %d is not one of %s", (int)v, sbuf_cstr(&b));
    sbuf_free(&b);
    return ERR_INVALID;
}

/* The output of an operation, to release after a failed backend call. */
typedef enum out_kind {
    OUT_SESSION,
    OUT_SESSIONS,
    OUT_MESSAGE,
    OUT_MESSAGES,
    OUT_MEMORY,
    OUT_MEMORIES,
    OUT_AUDITS,
    OUT_TOKEN,
    OUT_CRED,
    OUT_CREDS
} out_kind;

/* rc; when it is an error, the output `out` (of kind k; NULL is fine) released first. */
static err_code released(err_code rc, out_kind k, void *out)
{
    if (rc == ERR_OK || !out)
        return rc;
    switch (k) {
    case OUT_SESSION: store_session_clear(out); break;
    case OUT_SESSIONS: store_sessions_free(out); break;
    case OUT_MESSAGE: store_message_clear(out); break;
    case OUT_MESSAGES: store_messages_free(out); break;
    case OUT_MEMORY: store_memory_clear(out); break;
    case OUT_MEMORIES: store_memories_free(out); break;
    case OUT_AUDITS: store_audits_free(out); break;
    case OUT_TOKEN: store_token_clear(out); break;
    case OUT_CRED: store_cred_clear(out); break;
    case OUT_CREDS: store_creds_free(out); break;
    }
    return rc;
}

/* memory_sweep, audit_purge, token_purge: no arguments to check; *removed zeroed. */
static err_code removal(store_t *st, err_code (*fn)(store_t *, utc_us, int64_t *, err_t *),
                        utc_us t, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    if (removed)
        *removed = 0;
    return fn(st, t, removed, e);
}

err_code store_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                              err_t *e)
{
    ERR_LOCAL(e);
    err_code rc = need(in && in->id && in->purpose && in->created_by,
                       "session_create needs id, purpose and created_by", e);
    if (rc != ERR_OK || !in->access)
        return rc != ERR_OK ? rc : st->vt->session_create(st, in, audit, e);
    store_session s = *in;
    if (!(s.access = store_access_canonical(in->access)))
        return need(false,
                    "session_create: access must be {\"agents\": [strings], \"types\": [strings]}",
                    e);
    rc = st->vt->session_create(st, &s, audit, e);
    free(s.access);
    return rc;
}

/* session_get, session_head (head: the session's row only). */
static err_code session_by_id(store_t *st, const char *id, bool head, store_session *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (!id)
        return err_set(e, ERR_INVALID, "store: %s needs an id",
                       head ? "session_head" : "session_get");
    return released((head ? st->vt->session_head : st->vt->session_get)(st, id, out, e),
                    OUT_SESSION, out);
}

err_code store_session_get(store_t *st, const char *id, store_session *out, err_t *e)
{
    return session_by_id(st, id, false, out, e);
}

err_code store_session_head(store_t *st, const char *id, store_session *out, err_t *e)
{
    return session_by_id(st, id, true, out, e);
}

err_code store_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                            int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (total)
        *total = 0;
    err_code rc =
        need(q && q->limit >= 1 && q->offset >= 0, "session_list needs limit >= 1, offset >= 0", e);
    if (rc == ERR_OK)
        rc = vis_check("session_list", &q->vis, e);
    return released(rc != ERR_OK ? rc : st->vt->session_list(st, q, out, total, e), OUT_SESSIONS,
                    out);
}

err_code store_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e)
{
    ERR_LOCAL(e);
    if (!m || !m->session_id || !m->sender || !m->content)
        return need(false, "message_add needs session_id, sender and content", e);
    if (m->parent_id < 0)
        return need(false, "message_add: parent_id must be >= 0", e);
    if (m->parent_id && !m->parent_vis)
        return need(false, "message_add: a parent_id needs parent_vis (the poster's filter)", e);
    err_code rc = m->parent_id ? vis_check("message_add", m->parent_vis, e) : ERR_OK;
    if (rc == ERR_OK)
        rc = visibility_check(m->visibility, e);
    if (rc == ERR_OK && (rc = st->vt->message_add(st, m, audit, e)) != ERR_OK) {
        m->id = 0; /* a failed attempt's values are not the message's */
        m->created_at = 0;
    }
    return rc;
}

err_code store_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                            int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (total)
        *total = 0;
    if (!q || !q->session_id)
        return need(false, "message_list needs a session_id", e);
    if (q->limit < 1 || q->offset < 0)
        return need(false, "message_list needs limit >= 1, offset >= 0", e);
    if (q->from && q->to && q->from > q->to)
        return need(false, "message_list: from is after to", e);
    err_code rc = vis_check("message_list", &q->vis, e);
    return released(rc != ERR_OK ? rc : st->vt->message_list(st, q, out, total, e), OUT_MESSAGES,
                    out);
}

err_code store_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                           err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    err_code rc = vis_check("message_get", vis, e);
    return released(rc != ERR_OK ? rc : st->vt->message_get(st, id, vis, out, e), OUT_MESSAGE, out);
}

err_code store_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                                store_messages *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (n > STORE_GET_MANY_MAX || (n && !ids))
        return need(false, "message_get_many takes 0..64 ids (STORE_GET_MANY_MAX)", e);
    err_code rc = vis_check("message_get_many", vis, e);
    if (rc != ERR_OK || n == 0)
        return rc;
    return released(st->vt->message_get_many(st, ids, n, vis, out, e), OUT_MESSAGES, out);
}

err_code store_message_thread(store_t *st, int64_t root_id, const store_vis *vis,
                              store_messages *out, err_t *e)
{
    store_thread_query q = {.root_id = root_id, .vis = vis, .limit = INT_MAX};
    return store_message_thread_page(st, &q, out, e);
}

err_code store_message_thread_page(store_t *st, const store_thread_query *q, store_messages *out,
                                   err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (!q || q->limit < 1 || q->since_id < 0)
        return need(false, "message_thread needs limit >= 1, since_id >= 0", e);
    err_code rc = vis_check("message_thread", q->vis, e);
    return released(rc != ERR_OK ? rc : st->vt->message_thread(st, q, out, e), OUT_MESSAGES, out);
}

/* A search term: a trigram of a field (the indexes hold trigrams of the fields,
 * '\n' separates them). */
static bool is_trigram(const char *t)
{
    size_t cps = 0;
    for (const char *p = t; p && *p; p++)
        cps += ((unsigned char)*p & 0xC0) != 0x80;
    return cps == 3 && !strchr(t, '\n');
}

err_code store_message_search(store_t *st, const store_search_query *q, store_messages *out,
                              err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (!q || !q->session_id || q->limit < 1 || q->since_id < 0)
        return need(false, "message_search needs a session_id, limit >= 1 and since_id >= 0", e);
    if (!q->terms || q->nterms < 1)
        return need(false, "message_search needs at least one term", e);
    for (size_t i = 0; i < q->nterms; i++)
        if (!is_trigram(q->terms[i]))
            return err_set(e, ERR_INVALID,
                           "store: message_search: term %zu is not a trigram"
                           " (3 characters, no newline)",
                           i + 1);
    err_code rc = vis_check("message_search", &q->vis, e);
    return released(rc != ERR_OK ? rc : st->vt->message_search(st, q, out, e), OUT_MESSAGES, out);
}

err_code store_message_reindex(store_t *st, int limit, int64_t *done, err_t *e)
{
    ERR_LOCAL(e);
    *done = 0;
    if (limit < 1)
        return need(false, "message_reindex needs limit >= 1", e);
    if (!st->index_fn)
        return need(false, "message_reindex needs an index function (store_set_index_fn)", e);
    return st->vt->message_reindex(st, limit, done, e);
}

err_code store_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                          store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    if (out)
        memset(out, 0, sizeof *out);
    err_code rc = need(in && in->agent_id && in->key && in->value,
                       "memory_set needs agent_id, key and value", e);
    return released(rc != ERR_OK ? rc : st->vt->memory_set(st, in, audit, out, e), OUT_MEMORY, out);
}

err_code store_memory_get(store_t *st, const char *agent_id, const char *session_id,
                          const char *key, utc_us now, store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    err_code rc = need(agent_id && key, "memory_get needs agent_id and key", e);
    if (rc == ERR_OK)
        rc = st->vt->memory_get(st, agent_id, session_id, key, now, out, e);
    return released(rc, OUT_MEMORY, out);
}

err_code store_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (!q || !q->agent_id || q->limit < 1)
        return need(false, "memory_list needs agent_id and limit >= 1", e);
    if (!(q->scope == STORE_MEM_GLOBAL || q->scope == STORE_MEM_ALL ||
          (q->scope == STORE_MEM_SESSION && q->session_id)))
        return need(false, "memory_list: bad scope (session scope needs a session_id)", e);
    if (q->prefix && !str_utf8_valid(q->prefix, strlen(q->prefix)))
        return need(false, "memory_list: prefix is not valid UTF-8", e);
    return released(st->vt->memory_list(st, q, out, e), OUT_MEMORIES, out);
}

err_code store_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                             const char *key, const store_audit_in *audit, bool *deleted, err_t *e)
{
    ERR_LOCAL(e);
    if (deleted)
        *deleted = false;
    if (!agent_id || !key)
        return need(false, "memory_delete needs agent_id and key", e);
    return st->vt->memory_delete(st, agent_id, session_id, key, audit, deleted, e);
}

err_code store_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return removal(st, st->vt->memory_sweep, now, removed, e);
}

err_code store_audit_append(store_t *st, const store_audit_in *a, err_t *e)
{
    ERR_LOCAL(e);
    err_code rc =
        need(a && a->event_type && a->agent_id, "audit_append needs event_type and agent_id", e);
    return rc != ERR_OK ? rc : st->vt->audit_append(st, a, e);
}

err_code store_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    err_code rc = need(q && q->limit >= 1, "audit_list needs limit >= 1", e);
    return released(rc != ERR_OK ? rc : st->vt->audit_list(st, q, out, e), OUT_AUDITS, out);
}

err_code store_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e)
{
    return removal(st, st->vt->audit_purge, older_than, removed, e);
}

/* A token digest or key digest: 64 lowercase hex digits. */
static bool is_digest(const char *h)
{
    size_t n = 0;
    for (; h && ((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')); n++)
        ;
    return h && n == 64 && h[n] == '\0';
}

err_code store_token_put(store_t *st, const store_token *t, err_t *e)
{
    ERR_LOCAL(e);
    if (!t || !t->token_hash || !t->agent_id || !t->agent_type || !t->permissions || !t->jti ||
        !t->expires_at)
        return need(false,
                    "token_put needs token_hash, agent_id, agent_type, permissions, jti and "
                    "expires_at",
                    e);
    if (!is_digest(t->token_hash))
        return need(false, "token_put: token_hash must be 64 lowercase hex digits", e);
    return st->vt->token_put(st, t, e);
}

err_code store_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    err_code rc = need(token_hash != NULL, "token_get needs a token_hash", e);
    return released(rc != ERR_OK ? rc : st->vt->token_get(st, token_hash, out, e), OUT_TOKEN, out);
}

err_code store_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e)
{
    ERR_LOCAL(e);
    if (deleted)
        *deleted = false;
    err_code rc = need(token_hash != NULL, "token_delete needs a token_hash", e);
    return rc != ERR_OK ? rc : st->vt->token_delete(st, token_hash, deleted, e);
}

err_code store_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    if (removed)
        *removed = 0;
    err_code rc = need(agent_id != NULL, "token_delete_agent needs an agent_id", e);
    return rc != ERR_OK ? rc : st->vt->token_delete_agent(st, agent_id, removed, e);
}

err_code store_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return removal(st, st->vt->token_purge, now, removed, e);
}

err_code store_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e)
{
    ERR_LOCAL(e);
    err_code rc = need(jti && expires_at, "jti_revoke needs a jti and expires_at", e);
    return rc != ERR_OK ? rc : st->vt->jti_revoke(st, jti, expires_at, e);
}

err_code store_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e)
{
    ERR_LOCAL(e);
    *revoked = false;
    if (!jti)
        return need(false, "jti_is_revoked needs a jti", e);
    return st->vt->jti_is_revoked(st, jti, revoked, e);
}

err_code store_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e)
{
    ERR_LOCAL(e);
    if (!c || !c->agent_id || !c->agent_type || !c->permissions || !c->key_hash)
        return need(false, "cred_add needs agent_id, agent_type, permissions and key_hash", e);
    if (!is_digest(c->key_hash))
        return need(false, "cred_add: key_hash must be 64 lowercase hex digits", e);
    return st->vt->cred_add(st, c, audit, e);
}

/* cred_get, cred_find_key: the credential whose column `by` holds value. */
static err_code cred_by(store_t *st, const char *by, const char *value, store_cred *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    if (!value)
        return err_set(e, ERR_INVALID, "store: looking up a credential needs its %s", by);
    return released(st->vt->cred_get(st, by, value, out, e), OUT_CRED, out);
}

err_code store_cred_get(store_t *st, const char *agent_id, store_cred *out, err_t *e)
{
    return cred_by(st, "agent_id", agent_id, out, e);
}

err_code store_cred_find_key(store_t *st, const char *key_hash, store_cred *out, err_t *e)
{
    return cred_by(st, "key_hash", key_hash, out, e);
}

err_code store_cred_list(store_t *st, store_creds *out, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    return released(st->vt->cred_list(st, out, e), OUT_CREDS, out);
}

err_code store_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                          const store_audit_in *audit, err_t *e)
{
    ERR_LOCAL(e);
    if (!agent_id || !is_digest(key_hash))
        return need(false, "cred_rekey needs an agent_id and a key_hash of 64 hex digits", e);
    return st->vt->cred_rekey(st, agent_id, key_hash, now ? now : utc_now(), audit, e);
}

err_code store_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                           const store_audit_in *audit, bool *changed, err_t *e)
{
    ERR_LOCAL(e);
    bool ch = false;
    err_code rc = need(agent_id != NULL, "cred_revoke needs an agent_id", e);
    if (rc == ERR_OK)
        rc = st->vt->cred_revoke(st, agent_id, now ? now : utc_now(), audit, &ch, e);
    if (changed)
        *changed = rc == ERR_OK && ch;
    return rc;
}

err_code store_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e)
{
    ERR_LOCAL(e);
    err_code rc = need(cb != NULL, "iterate needs a callback", e);
    return rc != ERR_OK ? rc : st->vt->iterate(st, cb, ud, e);
}

static err_code unknown_table(const char *table, err_t *e)
{
    return err_set(e, ERR_INVALID, "store: unknown table '%.64s'", table ? table : "");
}

err_code store_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                           int64_t *inserted, err_t *e)
{
    ERR_LOCAL(e);
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
    return st->vt->import_rows(st, table, rows, n, inserted, e);
}

err_code store_import_finish(store_t *st, err_t *e)
{
    ERR_LOCAL(e);
    return st->vt->import_finish(st, e);
}

err_code store_count_rows(store_t *st, const char *table, int64_t *n, err_t *e)
{
    ERR_LOCAL(e);
    *n = 0;
    return store_table_find(table) ? st->vt->count_rows(st, table, n, e) : unknown_table(table, e);
}

/* ---- an unfinished load -------------------------------------------------------------------
 * The backends keep the record as one line of ASCII JSON text:
 * {"command":...,"source":...,"started_at":"<UTC ISO>"}. */

err_code store_load_mark(store_t *st, const store_load *l, err_t *e)
{
    ERR_LOCAL(e);
    err_code rc = need(l && l->command && *l->command && l->source,
                       "load_mark needs a command and a source", e);
    if (rc != ERR_OK)
        return rc;
    char iso[UTC_ISO_LEN];
    json_t *j = json_pack("{s:s, s:s, s:s}", "command", l->command, "source", l->source,
                          "started_at", utc_format(l->started_at, iso));
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    rc = text ? st->vt->load_put(st, text, e)
              : need(false, "load_mark: the command or source is not valid UTF-8", e);
    free(text);
    return rc;
}

err_code store_load_get(store_t *st, store_load *out, bool *found, err_t *e)
{
    ERR_LOCAL(e);
    memset(out, 0, sizeof *out);
    *found = false;
    char *text = NULL;
    err_code rc = st->vt->load_get(st, &text, e);
    if (rc != ERR_OK || !text) {
        free(text);
        return rc;
    }
    json_t *j = json_loads(text, 0, NULL);
    const char *cmd = json_string_value(json_object_get(j, "command"));
    const char *src = json_string_value(json_object_get(j, "source"));
    const char *at = json_string_value(json_object_get(j, "started_at"));
    err_t pe;
    /* written by another program, or damaged: still an unfinished load */
    out->command = xstrdup(cmd ? cmd : "load");
    out->source = xstrdup(src ? src : "(unknown)");
    if (!at || utc_parse(at, &out->started_at, &pe) != ERR_OK)
        out->started_at = 0;
    json_decref(j);
    free(text);
    *found = true;
    return ERR_OK;
}

err_code store_load_unmark(store_t *st, err_t *e)
{
    ERR_LOCAL(e);
    return st->vt->load_put(st, NULL, e);
}

void store_load_clear(store_load *l)
{
    if (!l)
        return;
    free(l->command);
    free(l->source);
    memset(l, 0, sizeof *l);
}

/* ---- health ------------------------------------------------------------------------------ */

err_code store_ping(store_t *st, int64_t *rtt_us, err_t *e)
{
    ERR_LOCAL(e);
    int64_t rtt = 0;
    err_code rc = st->vt->ping(st, &rtt, e);
    if (rtt_us)
        *rtt_us = rtt;
    return rc;
}

err_code store_server_version(store_t *st, char *buf, size_t n, err_t *e)
{
    ERR_LOCAL(e);
    if (!buf || n == 0)
        return err_set(e, ERR_INVALID, "store: server_version needs a buffer");
    buf[0] = '\0';
    return st->vt->server_version(st, buf, n, e);
}

void store_get_stats(store_t *st, store_stats *out)
{
    memset(out, 0, sizeof *out);
    st->vt->stats(st, out);
}
