/* store/store_mongo_auth.c — the MongoDB store's audit log (append, list,
 * purge), protected tokens by their digest (put, get, delete, delete an agent's, purge
 * of expired ones), revoked JWT ids (revoke, is revoked) and agent credentials (add, get
 * by agent or key digest, list, rekey, revoke, each change with its audit record). Each
 * is one command run by an executor of store_mongo_cmd.c, or a short unit of work here.
 * Must not: decide permissions or judge tokens (expiry is the caller's), or know
 * about collections other than audit_log, secure_tokens, revoked_jtis,
 * agent_credentials and the counters. */
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"

/* ---- audit ---------------------------------------------------------------------------- */

static err_code tx_audit_append(smongo_ctx *c, void *arg, err_t *e)
{
    return smongo_audit_insert(c, arg, e); /* as given: no defaults */
}

err_code smongo_audit_append(store_t *st, const store_audit_in *a, err_t *e)
{
    return smongo_write(M(st), tx_audit_append, (void *)a, e);
}

err_code smongo_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    if (q->session_id)
        BSON_APPEND_UTF8(&f, "session_id", q->session_id);
    if (q->agent_id)
        BSON_APPEND_UTF8(&f, "agent_id", q->agent_id);
    if (q->event_type)
        BSON_APPEND_UTF8(&f, "event_type", q->event_type);
    smongo_find o = {.sort = {"-id"}, .limit = q->limit};
    err_code rc =
        smongo_read_list(M(st), SMONGO_AUDIT, &f, &o, &smongo_audit_rec, SMONGO_LIST(out), e);
    bson_destroy(&f);
    return rc;
}

err_code smongo_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e)
{
    return smongo_purge(M(st), SMONGO_AUDIT, NULL, "created_at", "$lt", older_than, removed, e);
}

/* ---- tokens ----------------------------------------------------------------------------- */

/* {token_hash} */
static void token_key(bson_t *q, const char *token_hash)
{
    bson_init(q);
    BSON_APPEND_UTF8(q, "token_hash", token_hash);
}

err_code smongo_token_put(store_t *st, const store_token *t, err_t *e)
{
    bson_t key, d = BSON_INITIALIZER;
    token_key(&key, t->token_hash);
    BSON_APPEND_UTF8(&d, "token_hash", t->token_hash);
    BSON_APPEND_UTF8(&d, "agent_id", t->agent_id);
    BSON_APPEND_UTF8(&d, "agent_type", t->agent_type);
    BSON_APPEND_UTF8(&d, "permissions", t->permissions);
    BSON_APPEND_UTF8(&d, "jti", t->jti);
    smongo_append_time(&d, "created_at", t->created_at ? t->created_at : utc_now());
    smongo_append_time(&d, "expires_at", t->expires_at);
    bool exists = false;
    err_code rc = smongo_write_new(M(st), SMONGO_TOKENS, &key, &d, NULL, &exists, e);
    bson_destroy(&d);
    bson_destroy(&key);
    return exists ? store_err_token_exists(e) : rc;
}

err_code smongo_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e)
{
    bson_t q;
    token_key(&q, token_hash);
    bool found = false;
    err_code rc =
        smongo_read_one(M(st), SMONGO_TOKENS, &q, NULL, &smongo_token_rec, out, &found, e);
    bson_destroy(&q);
    return rc == ERR_OK && !found ? store_err_no_token(e) : rc;
}

/* Deletes the tokens matching {field: value} (many: all, else one); *n = how many. */
static err_code token_delete_by(store_t *st, const char *field, const char *value, bool many,
                                int64_t *n, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, field, value);
    err_code rc = smongo_write_delete(M(st), SMONGO_TOKENS, NULL, &q, many, NULL, n, e);
    bson_destroy(&q);
    return rc;
}

err_code smongo_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e)
{
    int64_t n = 0;
    err_code rc = token_delete_by(st, "token_hash", token_hash, false, &n, e);
    if (rc == ERR_OK && deleted)
        *deleted = n > 0;
    return rc;
}

err_code smongo_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e)
{
    return token_delete_by(st, "agent_id", agent_id, true, removed, e);
}

err_code smongo_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return smongo_purge(M(st), SMONGO_TOKENS, SMONGO_JTIS, "expires_at", "$lte",
                        now ? now : utc_now(), removed, e);
}

/* ---- revoked jtis ------------------------------------------------------------------------ */

err_code smongo_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e)
{
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "jti", jti);
    /* the later expiry wins; a new revocation is inserted by the upsert */
    smongo_append_op(&upd, "$max", "expires_at", expires_at);
    err_code rc = smongo_write_upsert(M(st), SMONGO_JTIS, &q, &upd, e);
    bson_destroy(&upd);
    bson_destroy(&q);
    return rc;
}

err_code smongo_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "jti", jti);
    bool found = false;
    err_code rc = smongo_read_one(M(st), SMONGO_JTIS, &q, NULL, NULL, NULL, &found, e);
    bson_destroy(&q);
    if (rc == ERR_OK)
        *revoked = found;
    return rc;
}

/* ---- agent credentials ------------------------------------------------------------------- */

err_code smongo_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e)
{
    utc_us now = utc_now();
    /* the natural key, and the key digest: both unique */
    bson_t key = BSON_INITIALIZER, d = BSON_INITIALIZER;
    BCON_APPEND(&key, "$or", "[", "{", "agent_id", BCON_UTF8(c->agent_id), "}", "{", "key_hash",
                BCON_UTF8(c->key_hash), "}", "]");
    BSON_APPEND_UTF8(&d, "agent_id", c->agent_id);
    BSON_APPEND_UTF8(&d, "agent_type", c->agent_type);
    BSON_APPEND_UTF8(&d, "permissions", c->permissions);
    BSON_APPEND_UTF8(&d, "key_hash", c->key_hash);
    smongo_append_time(&d, "created_at", c->created_at ? c->created_at : now);
    smongo_append_time(&d, "updated_at", c->updated_at ? c->updated_at : now);
    smongo_append_time(&d, "revoked_at", c->revoked_at);
    store_audit_rec r = {0};
    bool exists = false;
    err_code rc = smongo_write_new(
        M(st), SMONGO_CREDS, &key, &d,
        audit ? &store_audit_cred(&r, audit, "credential_added", c->agent_id)->in : NULL, &exists,
        e);
    store_audit_rec_free(&r);
    bson_destroy(&d);
    bson_destroy(&key);
    return exists ? store_err_cred_exists(e, c->agent_id) : rc;
}

err_code smongo_cred_get(store_t *st, const char *by, const char *value, store_cred *out, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, by, value);
    bool found = false;
    err_code rc = smongo_read_one(M(st), SMONGO_CREDS, &q, NULL, &smongo_cred_rec, out, &found, e);
    bson_destroy(&q);
    if (rc == ERR_OK && !found)
        return strcmp(by, "key_hash") == 0 ? err_set(e, ERR_NOTFOUND, "no credential has that key")
                                           : store_err_no_cred(e, value);
    return rc;
}

static int cred_cmp(const void *a, const void *b)
{
    return strcmp(((const store_cred *)a)->agent_id, ((const store_cred *)b)->agent_id);
}

err_code smongo_cred_list(store_t *st, store_creds *out, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    err_code rc =
        smongo_read_list(M(st), SMONGO_CREDS, &f, NULL, &smongo_cred_rec, SMONGO_LIST(out), e);
    bson_destroy(&f);
    /* sorted here: not every server compares strings byte-wise */
    if (rc == ERR_OK && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cred_cmp);
    return rc;
}

/* One change of an agent's credential (cred_change). */
typedef struct {
    const store_audit_in *audit;
    const char *agent_id, *key_hash;
    utc_us now;
    int64_t matched;
} cred_update;

/* In a transaction: rekey (key_hash: the new digest, which must be no other agent's:
 * ERR_UNIQUE) or revoke (key_hash NULL: only an active one), and when it matched, its
 * audit record. */
static err_code tx_cred_update(smongo_ctx *c, void *arg, err_t *e)
{
    cred_update *x = arg;
    x->matched = 0;
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
    err_code rc = ERR_OK;
    if (x->key_hash) {
        bson_t k = BSON_INITIALIZER;
        BCON_APPEND(&k, "key_hash", BCON_UTF8(x->key_hash), "agent_id", "{", "$ne",
                    BCON_UTF8(x->agent_id), "}");
        bool taken = false;
        rc = smongo_find_one(c, SMONGO_CREDS, &k, NULL, NULL, &taken, e);
        bson_destroy(&k);
        if (rc == ERR_OK && taken)
            rc = store_err_cred_exists(e, x->agent_id);
        BSON_APPEND_UTF8(&q, "agent_id", x->agent_id);
        BCON_APPEND(&upd, "$set", "{", "key_hash", BCON_UTF8(x->key_hash), "updated_at",
                    BCON_INT64(x->now), "revoked_at", BCON_NULL, "}");
    } else {
        BCON_APPEND(&q, "agent_id", BCON_UTF8(x->agent_id), "revoked_at", BCON_NULL);
        BCON_APPEND(&upd, "$set", "{", "revoked_at", BCON_INT64(x->now), "updated_at",
                    BCON_INT64(x->now), "}");
    }
    if (rc == ERR_OK)
        rc = smongo_update(c, SMONGO_CREDS, &q, &upd, false, &x->matched, NULL, e);
    bson_destroy(&upd);
    bson_destroy(&q);
    if (rc != ERR_OK || x->matched == 0 || !x->audit)
        return rc;
    return smongo_audit_insert(c, x->audit, e);
}

/* Runs a cred_update (see there); *matched = whether the credential was changed. */
static err_code cred_change(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                            const store_audit_in *audit, bool *matched, err_t *e)
{
    store_audit_rec r = {0};
    const char *event = key_hash ? "credential_rotated" : "credential_revoked";
    cred_update x = {audit ? &store_audit_cred(&r, audit, event, agent_id)->in : NULL, agent_id,
                     key_hash, now, 0};
    err_code rc = smongo_write(M(st), tx_cred_update, &x, e);
    store_audit_rec_free(&r);
    *matched = x.matched > 0;
    return rc;
}

err_code smongo_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                           const store_audit_in *audit, err_t *e)
{
    bool matched = false;
    err_code rc = cred_change(st, agent_id, key_hash, now, audit, &matched, e);
    return rc == ERR_OK && !matched ? store_err_no_cred(e, agent_id) : rc;
}

err_code smongo_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                            const store_audit_in *audit, bool *changed, err_t *e)
{
    err_code rc = cred_change(st, agent_id, NULL, now, audit, changed, e);
    if (rc != ERR_OK || *changed)
        return rc;
    store_cred have = {0}; /* revoked already, or none at all */
    rc = smongo_cred_get(st, "agent_id", agent_id, &have, e);
    store_cred_clear(&have);
    return rc;
}
