/* store/store_sql_auth.c — the SQL store's records for auth/: the audit log
 * (append, list newest first with filters, purge by age), protected tokens by their
 * digest (put, get, delete, delete an agent's, purge expired), revoked JWT ids (revoke
 * keeping the later expiry, check, purged with the tokens) and agent credentials (add,
 * get by agent or key digest, list, rekey, revoke; each change with its audit record).
 * Must not: decide who may read the audit log or what a token grants (auth/ and
 * app/ do). */
#include <string.h>
#include "store/store_sql_int.h"
#include "base/utc.h"

#define AUDIT_COLS "id, created_at, event_type, agent_id, session_id, resource, metadata"
#define TOKEN_COLS "token_hash, agent_id, agent_type, permissions, jti, created_at, expires_at"
#define CRED_COLS "agent_id, agent_type, permissions, key_hash, created_at, updated_at, revoked_at"

static const char SQL_AUDIT_PURGE[] = "DELETE FROM audit_log WHERE created_at < ?";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO secure_tokens (" TOKEN_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)";
static const char SQL_TOKEN_GET[] = "SELECT " TOKEN_COLS " FROM secure_tokens WHERE token_hash = ?";
static const char SQL_TOKEN_DELETE[] = "DELETE FROM secure_tokens WHERE token_hash = ?";
static const char SQL_TOKEN_DELETE_AGENT[] = "DELETE FROM secure_tokens WHERE agent_id = ?";
static const char SQL_TOKEN_PURGE[] = "DELETE FROM secure_tokens WHERE expires_at <= ?";
static const char SQL_JTI_PURGE[] = "DELETE FROM revoked_jtis WHERE expires_at <= ?";
static const char SQL_JTI_GET[] = "SELECT 1 FROM revoked_jtis WHERE jti = ?";
static const char SQL_CRED_INSERT[] =
    "INSERT INTO agent_credentials (" CRED_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)";
static const char SQL_CRED_BY_AGENT[] =
    "SELECT " CRED_COLS " FROM agent_credentials WHERE agent_id = ?";
static const char SQL_CRED_BY_KEY[] =
    "SELECT " CRED_COLS " FROM agent_credentials WHERE key_hash = ?";
static const char SQL_CRED_LIST[] = "SELECT " CRED_COLS " FROM agent_credentials ORDER BY agent_id";
static const char SQL_CRED_REKEY[] = "UPDATE agent_credentials SET key_hash = ?, updated_at = ?,"
                                     " revoked_at = NULL WHERE agent_id = ?";
static const char SQL_CRED_REVOKE[] = "UPDATE agent_credentials SET revoked_at = ?, updated_at = ?"
                                      " WHERE agent_id = ? AND revoked_at IS NULL";

/* ---- audit log -------------------------------------------------------------------------- */

static const ssql_frag audit_list[] = {{0, 0, "SELECT " AUDIT_COLS " FROM audit_log WHERE 1 = 1"},
                                       {AQ_SESSION, AQ_SESSION, " AND session_id = ?"},
                                       {AQ_AGENT, AQ_AGENT, " AND agent_id = ?"},
                                       {AQ_EVENT, AQ_EVENT, " AND event_type = ?"},
                                       {0, 0, " ORDER BY id DESC LIMIT ?"}};

static void build_audit_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    SSQL_PUT_FRAGS(b, m, audit_list);
}

static const ssql_field audit_fields[] = {
    SSQL_FIELD(store_audit, id, INT),          SSQL_FIELD(store_audit, at, TIME),
    SSQL_FIELD(store_audit, event_type, TEXT), SSQL_FIELD(store_audit, agent_id, TEXT),
    SSQL_FIELD(store_audit, session_id, TEXT), SSQL_FIELD(store_audit, resource, TEXT),
    SSQL_FIELD(store_audit, metadata, JSON)};
static const ssql_rec audit_rec = SSQL_REC(store_audit, audit_fields, NULL);

err_code ssql_audit_append(store_t *st, const store_audit_in *a, err_t *e)
{
    return ssql_write(S(st), NULL, NULL, NULL, 0, a, NULL, e); /* as given: no defaults */
}

err_code ssql_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e)
{
    store_sql *s = S(st);
    unsigned m = (q->session_id ? AQ_SESSION : 0) | (q->agent_id ? AQ_AGENT : 0) |
                 (q->event_type ? AQ_EVENT : 0);
    db_param p[4];
    size_t n = 0;
    if (q->session_id)
        p[n++] = DB_TEXT(q->session_id);
    if (q->agent_id)
        p[n++] = DB_TEXT(q->agent_id);
    if (q->event_type)
        p[n++] = DB_TEXT(q->event_type);
    p[n++] = DB_INT(q->limit);
    return ssql_read_list(s, ssql_shape(s, &s->audit_list[m], build_audit_list, m), p, n,
                          &audit_rec, (void **)&out->v, &out->n, e);
}

err_code ssql_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e)
{
    return ssql_write(S(st), SQL_AUDIT_PURGE, NULL, DB_ARGS(DB_TIME(older_than)), NULL, removed, e);
}

/* ---- tokens and revoked jtis -------------------------------------------------------------- */

err_code ssql_token_put(store_t *st, const store_token *t, err_t *e)
{
    err_code rc = ssql_write(
        S(st), SQL_TOKEN_INSERT, NULL,
        DB_ARGS(DB_TEXT(t->token_hash), DB_TEXT(t->agent_id), DB_TEXT(t->agent_type),
                DB_TEXT(t->permissions), DB_TEXT(t->jti),
                DB_TIME(t->created_at ? t->created_at : utc_now()), DB_TIME(t->expires_at)),
        NULL, NULL, e);
    return rc == ERR_UNIQUE ? store_err_token_exists(e) : rc;
}

#define TOKEN_FIELD(f, t) SSQL_FIELD(store_token, f, t)
static const ssql_field token_fields[] = {
    TOKEN_FIELD(token_hash, TEXT),  TOKEN_FIELD(agent_id, TEXT), TOKEN_FIELD(agent_type, TEXT),
    TOKEN_FIELD(permissions, TEXT), TOKEN_FIELD(jti, TEXT),      TOKEN_FIELD(created_at, TIME),
    TOKEN_FIELD(expires_at, TIME)};
static const ssql_rec token_rec = SSQL_REC(store_token, token_fields, NULL);

err_code ssql_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e)
{
    bool found = false;
    err_code rc = ssql_read_one(S(st), SQL_TOKEN_GET, DB_ARGS(DB_TEXT(token_hash)), &token_rec, out,
                                &found, e);
    return rc == ERR_OK && !found ? store_err_no_token(e) : rc;
}

err_code ssql_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e)
{
    int64_t n = 0;
    err_code rc =
        ssql_write(S(st), SQL_TOKEN_DELETE, NULL, DB_ARGS(DB_TEXT(token_hash)), NULL, &n, e);
    if (deleted)
        *deleted = n > 0;
    return rc;
}

err_code ssql_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e)
{
    return ssql_write(S(st), SQL_TOKEN_DELETE_AGENT, NULL, DB_ARGS(DB_TEXT(agent_id)), NULL,
                      removed, e);
}

err_code ssql_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return ssql_write(S(st), SQL_TOKEN_PURGE, SQL_JTI_PURGE,
                      DB_ARGS(DB_TIME(now ? now : utc_now())), NULL, removed, e);
}

err_code ssql_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e)
{
    return ssql_write(S(st), S(st)->d->jti_revoke, NULL, DB_ARGS(DB_TEXT(jti), DB_TIME(expires_at)),
                      NULL, NULL, e);
}

err_code ssql_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e)
{
    return ssql_read_one(S(st), SQL_JTI_GET, DB_ARGS(DB_TEXT(jti)), NULL, NULL, revoked, e);
}

/* ---- agent credentials ---------------------------------------------------------------------- */

#define KEY(f, t) SSQL_FIELD(store_cred, f, t) /* a column of an agent's key */
static const ssql_field cred_fields[] = {
    KEY(agent_id, TEXT),   KEY(agent_type, TEXT), KEY(permissions, TEXT), KEY(key_hash, TEXT),
    KEY(created_at, TIME), KEY(updated_at, TIME), KEY(revoked_at, TIME)};
static const ssql_rec cred_rec = SSQL_REC(store_cred, cred_fields, NULL);

err_code ssql_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e)
{
    utc_us now = utc_now();
    store_audit_rec r = {{0}, NULL};
    err_code rc = ssql_write(
        S(st), SQL_CRED_INSERT, NULL,
        DB_ARGS(DB_TEXT(c->agent_id), DB_TEXT(c->agent_type), DB_TEXT(c->permissions),
                DB_TEXT(c->key_hash), DB_TIME(c->created_at ? c->created_at : now),
                DB_TIME(c->updated_at ? c->updated_at : now), DB_TIME_OPT(c->revoked_at)),
        audit ? &store_audit_cred(&r, audit, "credential_added", c->agent_id)->in : NULL, NULL, e);
    store_audit_rec_free(&r);
    return rc == ERR_UNIQUE ? store_err_cred_exists(e, c->agent_id) : rc;
}

err_code ssql_cred_get(store_t *st, const char *by, const char *value, store_cred *out, err_t *e)
{
    bool found = false;
    bool by_key = strcmp(by, "key_hash") == 0;
    err_code rc = ssql_read_one(S(st), by_key ? SQL_CRED_BY_KEY : SQL_CRED_BY_AGENT,
                                DB_ARGS(DB_TEXT(value)), &cred_rec, out, &found, e);
    if (rc == ERR_OK && !found)
        return by_key ? err_set(e, ERR_NOTFOUND, "no credential has that key")
                      : store_err_no_cred(e, value);
    return rc;
}

err_code ssql_cred_list(store_t *st, store_creds *out, err_t *e)
{
    return ssql_read_list(S(st), SQL_CRED_LIST, NULL, 0, &cred_rec, (void **)&out->v, &out->n, e);
}

/* Rekeys (key_hash: the new digest) or revokes (NULL: an active one) agent_id's
 * credential at now, with its audit record; *n = rows changed. */
static err_code cred_change(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                            const store_audit_in *audit, int64_t *n, err_t *e)
{
    store_audit_rec r = {{0}, NULL};
    const char *event = key_hash ? "credential_rotated" : "credential_revoked";
    err_code rc = ssql_write(
        S(st), key_hash ? SQL_CRED_REKEY : SQL_CRED_REVOKE, NULL,
        DB_ARGS(key_hash ? DB_TEXT(key_hash) : DB_TIME(now), DB_TIME(now), DB_TEXT(agent_id)),
        audit ? &store_audit_cred(&r, audit, event, agent_id)->in : NULL, n, e);
    store_audit_rec_free(&r);
    return rc;
}

err_code ssql_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                         const store_audit_in *audit, err_t *e)
{
    int64_t n = 0;
    err_code rc = cred_change(st, agent_id, key_hash, now, audit, &n, e);
    if (rc == ERR_UNIQUE)
        return store_err_cred_exists(e, agent_id);
    return rc == ERR_OK && n == 0 ? store_err_no_cred(e, agent_id) : rc;
}

err_code ssql_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                          const store_audit_in *audit, bool *changed, err_t *e)
{
    int64_t n = 0;
    err_code rc = cred_change(st, agent_id, NULL, now, audit, &n, e);
    *changed = n > 0;
    if (rc != ERR_OK || n > 0)
        return rc;
    bool found = false; /* revoked already, or none at all */
    rc = ssql_read_one(S(st), SQL_CRED_BY_AGENT, DB_ARGS(DB_TEXT(agent_id)), NULL, NULL, &found, e);
    return rc == ERR_OK && !found ? store_err_no_cred(e, agent_id) : rc;
}
