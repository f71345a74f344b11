/* store/store_backend.c — the backend-neutral helpers every store backend calls
 * (store_backend.h): the audit record of a write with its defaults (agent,
 * session, resource "session:<id>", "message:<id>", "memory:<key>", "agent:<id>", event
 * type),
 * the entry a memory_set stored, growing result lists, and the errors every
 * backend reports, so every backend fills and words them the same way.
 * Must not: touch a database, or check arguments (store.c does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_backend.h"
#include "base/sbuf.h"

/* ---- audit records ------------------------------------------------------------------- */

/* a's fields over the write's defaults; res (owned by r) is the default resource. */
static store_audit_rec *audit_fill(store_audit_rec *r, const store_audit_in *a, const char *event,
                                   const char *agent, const char *session, char *res)
{
    r->res = res;
    r->in.event_type = a->event_type ? a->event_type : event;
    r->in.agent_id = a->agent_id ? a->agent_id : agent;
    r->in.session_id = a->session_id ? a->session_id : session;
    r->in.resource = a->resource ? a->resource : res;
    r->in.metadata = a->metadata;
    return r;
}

static char *resource(const char *kind, const char *name)
{
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s:%s", kind, name);
    return sbuf_detach(&b);
}

store_audit_rec *store_audit_session(store_audit_rec *r, const store_audit_in *a,
                                     const store_session *s)
{
    return audit_fill(r, a, "session_created", s->created_by, s->id, resource("session", s->id));
}

store_audit_rec *store_audit_message(store_audit_rec *r, const store_audit_in *a,
                                     const store_message *m, int64_t id)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)id);
    return audit_fill(r, a, "message_added", m->sender, m->session_id, resource("message", num));
}

store_audit_rec *store_audit_memory(store_audit_rec *r, const store_audit_in *a, const char *event,
                                    const char *agent_id, const char *session_id, const char *key)
{
    return audit_fill(r, a, event, agent_id, session_id, resource("memory", key));
}

store_audit_rec *store_audit_cred(store_audit_rec *r, const store_audit_in *a, const char *event,
                                  const char *agent_id)
{
    return audit_fill(r, a, event, agent_id, NULL, resource("agent", agent_id));
}

void store_audit_rec_free(store_audit_rec *r)
{
    free(r->res);
    r->res = NULL;
}

/* ---- results and errors ---------------------------------------------------------------- */

void *store_list_push(void **v, size_t *n, size_t *cap, size_t elt)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xrealloc(*v, *cap * elt);
    }
    void *p = (char *)*v + (*n)++ * elt;
    memset(p, 0, elt);
    return p;
}

void store_memory_from_set(store_memory *out, const store_mem_set *in, utc_us created_at,
                           utc_us updated_at)
{
    out->agent_id = xstrdup(in->agent_id);
    out->session_id = xstrdup(in->session_id);
    out->key = xstrdup(in->key);
    out->value = xstrdup(in->value);
    out->metadata = xstrdup(in->metadata);
    out->created_at = created_at;
    out->updated_at = updated_at;
    out->expires_at = in->expires_at;
}

err_code store_err_no_session(err_t *e, const char *id)
{
    return err_set(e, ERR_NOTFOUND, "session %s not found", id);
}

err_code store_err_session_exists(err_t *e, const char *id)
{
    return err_set(e, ERR_UNIQUE, "store: session %s already exists", id);
}

err_code store_err_no_message(err_t *e, int64_t id)
{
    return err_set(e, ERR_NOTFOUND, "message %lld not found", (long long)id);
}

err_code store_thread_page_done(const store_thread_query *q, store_messages *out, err_code rc,
                                err_t *e)
{
    if (rc == ERR_OK && (out->n == 0 || out->v[0].id != q->root_id))
        return store_err_no_message(e, q->root_id);
    if (rc == ERR_OK && q->since_id >= q->root_id) {
        store_message_clear(&out->v[0]);
        memmove(out->v, out->v + 1, --out->n * sizeof *out->v);
    }
    return rc;
}

/* e->native of an answer with a store_reason: the reason under a tag that no
 * database's own code uses (err.h: native is the code of the library that answered,
 * here the store's). */
#define REASON_TAG 0x53524e00 /* "SRN" */

static err_code with_reason(err_t *e, err_code rc, store_reason r)
{
    if (e)
        e->native = REASON_TAG | (int)r;
    return rc;
}

store_reason store_err_reason(const err_t *e)
{
    if (!e || e->code == ERR_OK || (e->native & ~0xff) != REASON_TAG)
        return STORE_REASON_NONE;
    return (store_reason)(e->native & 0xff);
}

err_code store_err_no_parent(err_t *e, int64_t parent_id)
{
    return with_reason(
        e, err_set(e, ERR_INVALID, "parent message %lld not found", (long long)parent_id),
        STORE_REASON_PARENT_NOT_FOUND);
}

err_code store_err_bad_parent(err_t *e, int64_t parent_id, const char *session_id)
{
    return with_reason(e,
                       err_set(e, ERR_INVALID, "parent message %lld is not a message of session %s",
                               (long long)parent_id, session_id),
                       STORE_REASON_PARENT_ELSEWHERE);
}

store_visibility store_visibility_stored(const char *text, size_t n)
{
    for (unsigned v = 0; text && v < STORE_VIS_COUNT; v++) {
        const char *name = store_visibility_name((store_visibility)v);
        if (strlen(name) == n && memcmp(name, text, n) == 0)
            return (store_visibility)v;
    }
    return STORE_VIS_ADMIN_ONLY;
}

err_code store_err_no_memory(err_t *e, const char *key)
{
    return err_set(e, ERR_NOTFOUND, "memory key '%s' not found", key);
}

err_code store_err_memory_exists(err_t *e, const char *key)
{
    return err_set(e, ERR_EXISTS, "memory key '%s' already exists (overwrite is false)", key);
}

err_code store_err_memory_race(err_t *e, const char *key)
{
    return err_set(e, ERR_BUSY, "store: concurrent memory_set of key '%s'", key);
}

err_code store_err_no_token(err_t *e)
{
    return err_set(e, ERR_NOTFOUND, "token not found");
}

err_code store_err_token_exists(err_t *e)
{
    return err_set(e, ERR_UNIQUE, "store: that protected token already exists");
}

err_code store_err_no_cred(err_t *e, const char *agent_id)
{
    return err_set(e, ERR_NOTFOUND, "agent %s has no credential", agent_id);
}

err_code store_err_cred_exists(err_t *e, const char *agent_id)
{
    return err_set(e, ERR_UNIQUE,
                   "agent %s already has a credential, or that key is in use (rotate it "
                   "instead)",
                   agent_id);
}

char *store_index_text(store_t *st, const char *sender, const char *content, size_t content_len,
                       const char *metadata_json)
{
    if (!st->index_fn)
        return NULL;
    char *t =
        st->index_fn(sender ? sender : "", content ? content : "", content_len, metadata_json);
    return t ? t : xstrdup("");
}
