/* store/store.c — opening a store from a URL (pick the implementation, check the
 * schema version), the record/list release functions and the table order shared
 * by every implementation. Must not: contain SQL or backend-specific logic (that
 * is store_sql.c / store_mongo.c), or run migrations. */
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_sql.h"
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
        return err_set(e, ERR_INVALID,
                       "store: MongoDB URLs are not supported by this build yet "
                       "(use sqlite://, postgresql:// or mysql://)");
    }
    db_opts o;
    rc = db_opts_from(c, u, &o, e);
    db_url_free(u);
    if (rc != ERR_OK)
        return rc;
    db_t *db = NULL;
    rc = db_open(url, &o, &db, e);
    if (rc != ERR_OK)
        return rc;
    rc = migrate_check(db, e);
    if (rc != ERR_OK) {
        db_close(db);
        return rc;
    }
    return store_sql_open(db, true, out, e);   /* closes db on error */
}

void store_close(store_t *st)
{
    if (st)
        st->vt->close(st);
}

const char *const *store_table_order(void)
{
    static const char *const order[] = {
        "sessions", "messages", "agent_memory", "audit_log", "secure_tokens",
        "revoked_jtis", NULL
    };
    return order;
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
