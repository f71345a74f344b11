/* store/store_mongo_auth.c — the MongoDB store's audit log (append, list,
 * purge), protected tokens (put, get, delete, purge of expired ones) and
 * revoked JWT ids (revoke, is revoked). Each is one command run by an executor
 * of store_mongo_cmd.c.
 * Must not: decide permissions or judge tokens (expiry is the caller's), or know
 * about collections other than audit_log, secure_tokens, revoked_jtis and the
 * counters. */
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

/* {token_id} */
static void token_key(bson_t *q, const char *token_id)
{
    bson_init(q);
    BSON_APPEND_UTF8(q, "token_id", token_id);
}

err_code smongo_token_put(store_t *st, const store_token *t, err_t *e)
{
    bson_t key, d = BSON_INITIALIZER;
    token_key(&key, t->token_id);
    BSON_APPEND_UTF8(&d, "token_id", t->token_id);
    BSON_APPEND_UTF8(&d, "jwt", t->jwt);
    BSON_APPEND_UTF8(&d, "agent_id", t->agent_id);
    BSON_APPEND_UTF8(&d, "agent_type", t->agent_type);
    smongo_append_time(&d, "created_at", t->created_at ? t->created_at : utc_now());
    smongo_append_time(&d, "expires_at", t->expires_at);
    bool exists = false;
    err_code rc = smongo_write_new(M(st), SMONGO_TOKENS, &key, &d, NULL, &exists, e);
    bson_destroy(&d);
    bson_destroy(&key);
    return exists ? store_err_token_exists(e, t->token_id) : rc;
}

err_code smongo_token_get(store_t *st, const char *token_id, store_token *out, err_t *e)
{
    bson_t q;
    token_key(&q, token_id);
    bool found = false;
    err_code rc =
        smongo_read_one(M(st), SMONGO_TOKENS, &q, NULL, &smongo_token_rec, out, &found, e);
    bson_destroy(&q);
    return rc == ERR_OK && !found ? store_err_no_token(e) : rc;
}

err_code smongo_token_delete(store_t *st, const char *token_id, bool *deleted, err_t *e)
{
    bson_t q;
    token_key(&q, token_id);
    int64_t n = 0;
    err_code rc = smongo_write_delete(M(st), SMONGO_TOKENS, NULL, &q, false, NULL, &n, e);
    bson_destroy(&q);
    if (rc == ERR_OK && deleted)
        *deleted = n > 0;
    return rc;
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
