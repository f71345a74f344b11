/* store/store_mongo_mem.c — the MongoDB store's agent memory: set (scopes,
 * overwrite, TTL), get, list (literal prefixes), delete and the sweep of
 * expired entries.
 * Memory entries are keyed by (agent_id, scope, key) with scope = the session
 * id or "" for global scope (a sentinel, because unique indexes treat missing
 * and null fields as equal values); memory_set inserts a new key (the unique
 * index refuses a concurrent second insert) and replaces an existing entry
 * only while it is still live / still expired as read, so overwrite=false holds
 * under races on a real server. On a server that does not enforce the unique
 * index, two first writers of one key at the same moment can both insert.
 * memory_list sorts and limits in the client: key order must be byte order on
 * every server (MongoDB compares strings byte-wise, emulators may not), and one
 * agent's live entries are a small set.
 * Must not: decide permissions, or know about collections other than its own,
 * sessions (existence), the counters and the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "base/sbuf.h"

/* {agent_id, scope, key} */
static void mem_key(bson_t *q, const char *agent, const char *session, const char *key)
{
    bson_init(q);
    BSON_APPEND_UTF8(q, "agent_id", agent);
    BSON_APPEND_UTF8(q, "scope", session ? session : "");
    BSON_APPEND_UTF8(q, "key", key);
}

/* expires_at missing/null (never) or > now */
static void append_live(bson_t *f, utc_us now)
{
    BCON_APPEND(f, "$or", "[", "{", "expires_at", BCON_NULL, "}", "{", "expires_at", "{", "$gt",
                BCON_INT64(now), "}", "}", "]");
}

typedef struct {
    const store_mem_set *in;
    const json_t *value; /* in->value, parsed */
    const store_audit_in *audit;
    utc_us now, created_at;
} mem_set_ctx;

static err_code tx_memory_set(smongo_ctx *c, void *arg, err_t *e)
{
    mem_set_ctx *x = arg;
    const store_mem_set *in = x->in;
    err_code rc = in->session_id ? smongo_need_session(c, in->session_id, e) : ERR_OK;
    if (rc != ERR_OK)
        return rc;
    bson_t q, d;
    mem_key(&q, in->agent_id, in->session_id, in->key);
    bool found = false;
    if ((rc = smongo_find_one(c, SMONGO_MEMORY, &q, NULL, &d, &found, e)) != ERR_OK) {
        bson_destroy(&q);
        return rc;
    }
    utc_us expires = 0, created = 0;
    if (found) {
        expires = smongo_get_time(&d, "expires_at");
        created = smongo_get_time(&d, "created_at");
        bson_destroy(&d);
    }
    bool live = found && (expires == 0 || expires > x->now);
    if (live && !in->overwrite) {
        bson_destroy(&q);
        return store_err_memory_exists(e, in->key);
    }
    x->created_at = live ? created : x->now;

    bson_init(&d);
    BSON_APPEND_UTF8(&d, "agent_id", in->agent_id);
    BSON_APPEND_UTF8(&d, "scope", in->session_id ? in->session_id : "");
    smongo_append_str(&d, "session_id", in->session_id);
    BSON_APPEND_UTF8(&d, "key", in->key);
    smongo_append_json(&d, "value", x->value);
    rc = smongo_append_json_text(&d, "metadata", in->metadata, "memory metadata", e);
    smongo_append_time(&d, "created_at", x->created_at);
    smongo_append_time(&d, "updated_at", x->now);
    smongo_append_time(&d, "expires_at", in->expires_at);
    /* No upsert: a real server retries an upsert that hits the unique index as
     * an update (MongoDB >= 4.2), which would overwrite a live entry another
     * writer just created despite overwrite=false. A new key is a plain insert
     * (the index refuses the second writer); an existing entry is replaced only
     * if it is still what we saw (live, or still expired). Losing either race
     * is ERR_BUSY: the write is retried and then sees the winner's entry. */
    int64_t matched = 1;
    if (rc == ERR_OK && !found) {
        rc = smongo_insert(c, SMONGO_MEMORY, &d, e);
        if (rc == ERR_UNIQUE)
            rc = store_err_memory_race(e, in->key);
    } else if (rc == ERR_OK) {
        if (!live)
            smongo_append_op(&q, "expires_at", "$lte", x->now);
        rc = smongo_update(c, SMONGO_MEMORY, &q, &d, false, &matched, NULL, e);
        if (rc == ERR_OK && matched == 0)
            rc = store_err_memory_race(e, in->key);
    }
    bson_destroy(&d);
    bson_destroy(&q);
    return rc != ERR_OK || !x->audit ? rc : smongo_audit_insert(c, x->audit, e);
}

err_code smongo_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                           store_memory *out, err_t *e)
{
    /* the value first: ERR_INVALID before the session and entry lookups */
    json_t *v = NULL;
    err_code rc = smongo_parse_json(in->value, "memory value", &v, e);
    if (rc != ERR_OK)
        return rc;
    store_audit_rec r = {0};
    mem_set_ctx x = {in, v, NULL, in->now ? in->now : utc_now(), 0};
    if (audit)
        x.audit =
            &store_audit_memory(&r, audit, "memory_set", in->agent_id, in->session_id, in->key)->in;
    rc = smongo_write(M(st), tx_memory_set, &x, e);
    store_audit_rec_free(&r);
    json_decref(v);
    if (rc == ERR_OK && out)
        store_memory_from_set(out, in, x.created_at, x.now);
    return rc;
}

err_code smongo_memory_get(store_t *st, const char *agent_id, const char *session_id,
                           const char *key, utc_us now, store_memory *out, err_t *e)
{
    bson_t q;
    mem_key(&q, agent_id, session_id, key);
    append_live(&q, now ? now : utc_now());
    bool found = false;
    err_code rc =
        smongo_read_one(M(st), SMONGO_MEMORY, &q, NULL, &smongo_memory_rec, out, &found, e);
    bson_destroy(&q);
    return rc == ERR_OK && !found ? store_err_no_memory(e, key) : rc;
}

/* ^ and the prefix with every regex metacharacter escaped: a literal prefix. */
static char *prefix_regex(const char *p)
{
    sbuf_t b = SBUF_INIT;
    sbuf_putc(&b, '^');
    for (; *p; p++) {
        if (strchr("\\^$.|?*+()[]{}-/", *p))
            sbuf_putc(&b, '\\');
        sbuf_putc(&b, *p);
    }
    return sbuf_detach(&b);
}

static int cmp_mem(const void *pa, const void *pb)
{
    const store_memory *a = pa, *b = pb;
    int r = strcmp(a->key, b->key);
    if (r)
        return r;
    if (!a->session_id || !b->session_id)
        return (a->session_id != NULL) - (b->session_id != NULL);
    return strcmp(a->session_id, b->session_id);
}

err_code smongo_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "agent_id", q->agent_id);
    if (q->scope == STORE_MEM_GLOBAL)
        BSON_APPEND_UTF8(&f, "scope", "");
    else if (q->scope == STORE_MEM_SESSION)
        BSON_APPEND_UTF8(&f, "scope", q->session_id);
    const char *prefix = q->prefix ? q->prefix : "";
    char *re = NULL;
    if (*prefix) {
        re = prefix_regex(prefix);
        BSON_APPEND_REGEX(&f, "key", re, "");
    }
    append_live(&f, q->now ? q->now : utc_now());
    err_code rc =
        smongo_read_list(M(st), SMONGO_MEMORY, &f, NULL, &smongo_memory_rec, SMONGO_LIST(out), e);
    bson_destroy(&f);
    free(re);
    if (rc != ERR_OK)
        return rc;
    /* the prefix byte-exact (a server may match otherwise), key order, the limit */
    size_t plen = strlen(prefix), n = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].key && strncmp(out->v[i].key, prefix, plen) == 0)
            out->v[n++] = out->v[i];
        else
            store_memory_clear(&out->v[i]);
    }
    out->n = n;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_mem);
    while (out->n > (size_t)q->limit)
        store_memory_clear(&out->v[--out->n]);
    return ERR_OK;
}

err_code smongo_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                              const char *key, const store_audit_in *audit, bool *deleted, err_t *e)
{
    bson_t q;
    mem_key(&q, agent_id, session_id, key);
    store_audit_rec r = {0};
    const store_audit_in *a =
        audit ? &store_audit_memory(&r, audit, "memory_deleted", agent_id, session_id, key)->in
              : NULL;
    int64_t n = 0;
    err_code rc = smongo_write_delete(M(st), SMONGO_MEMORY, NULL, &q, false, a, &n, e);
    store_audit_rec_free(&r);
    bson_destroy(&q);
    if (rc == ERR_OK && deleted)
        *deleted = n > 0;
    return rc;
}

err_code smongo_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return smongo_purge(M(st), SMONGO_MEMORY, NULL, "expires_at", "$lte", now ? now : utc_now(),
                        removed, e);
}
