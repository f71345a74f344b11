/* store/store_sql_auth.c — the SQL store's records for auth/: the audit log
 * (append, list newest first with filters, purge by age), protected tokens (put,
 * get, delete, purge expired) and revoked JWT ids (revoke keeping the later
 * expiry, check, purged with the tokens).
 * Must not: decide who may read the audit log or what a token grants (auth/ and
 * app/ do). */
#include "store/store_sql_int.h"
#include "base/utc.h"

#define AUDIT_COLS "id, created_at, event_type, agent_id, session_id, resource, metadata"
#define TOKEN_COLS "token_id, jwt, agent_id, agent_type, created_at, expires_at"

static const char SQL_AUDIT_PURGE[] = "DELETE FROM audit_log WHERE created_at < ?";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO secure_tokens (" TOKEN_COLS ") VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_TOKEN_GET[] = "SELECT " TOKEN_COLS " FROM secure_tokens WHERE token_id = ?";
static const char SQL_TOKEN_DELETE[] = "DELETE FROM secure_tokens WHERE token_id = ?";
static const char SQL_TOKEN_PURGE[] = "DELETE FROM secure_tokens WHERE expires_at <= ?";
static const char SQL_JTI_PURGE[] = "DELETE FROM revoked_jtis WHERE expires_at <= ?";
static const char SQL_JTI_GET[] = "SELECT 1 FROM revoked_jtis WHERE jti = ?";

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

static const ssql_field token_fields[] = {
    SSQL_FIELD(store_token, token_id, TEXT),   SSQL_FIELD(store_token, jwt, TEXT),
    SSQL_FIELD(store_token, agent_id, TEXT),   SSQL_FIELD(store_token, agent_type, TEXT),
    SSQL_FIELD(store_token, created_at, TIME), SSQL_FIELD(store_token, expires_at, TIME)};
static const ssql_rec token_rec = SSQL_REC(store_token, token_fields, NULL);

err_code ssql_token_put(store_t *st, const store_token *t, err_t *e)
{
    err_code rc = ssql_write(
        S(st), SQL_TOKEN_INSERT, NULL,
        DB_ARGS(DB_TEXT(t->token_id), DB_TEXT(t->jwt), DB_TEXT(t->agent_id), DB_TEXT(t->agent_type),
                DB_TIME(t->created_at ? t->created_at : utc_now()), DB_TIME(t->expires_at)),
        NULL, NULL, e);
    return rc == ERR_UNIQUE ? store_err_token_exists(e, t->token_id) : rc;
}

err_code ssql_token_get(store_t *st, const char *token_id, store_token *out, err_t *e)
{
    bool found = false;
    err_code rc =
        ssql_read_one(S(st), SQL_TOKEN_GET, DB_ARGS(DB_TEXT(token_id)), &token_rec, out, &found, e);
    return rc == ERR_OK && !found ? store_err_no_token(e) : rc;
}

err_code ssql_token_delete(store_t *st, const char *token_id, bool *deleted, err_t *e)
{
    int64_t n = 0;
    err_code rc =
        ssql_write(S(st), SQL_TOKEN_DELETE, NULL, DB_ARGS(DB_TEXT(token_id)), NULL, &n, e);
    if (deleted)
        *deleted = n > 0;
    return rc;
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
