/* store/store_impl.h — what every store implementation (store_sql*.c,
 * store_mongo*.c) shares: the macro ERR_LOCAL (a NULL err_t pointer gets a local
 * one) used at the top of a vtable function, and the backend-neutral helpers of
 * store_impl.c: the audit record of a write with its defaults, the entry a
 * memory_set stored, growing result lists, and the errors both backends report
 * in the same words.
 * (Argument checks are not here: the store.h wrappers run them, see store.c.)
 * Must not: be included outside src/store/. */
#ifndef CTXD_STORE_IMPL_H
#define CTXD_STORE_IMPL_H

#include <stdint.h>
#include "base/err.h"
#include "store/store.h"

/* e may be NULL: then a local err_t takes the details */
#define ERR_LOCAL(e) \
    err_t e##_local_; \
    if (!(e)) \
        (e) = &e##_local_; \
    err_clear(e)

/* ---- audit records of writes (store.h, top) ------------------------------------------ */

/* The audit record a write appends: the caller's record with each NULL field
 * taken from the write, and the default resource text it may point to. */
typedef struct store_audit_rec {
    store_audit_in in;
    char *res; /* owned; NULL for a record taken as given */
} store_audit_rec;

/* Each fills *r from a (not NULL) and the write's defaults, and returns r; the
 * backend appends r->in and then calls store_audit_rec_free.
 *   session_create: "session_created", s->created_by, s->id, "session:<id>"
 *   message_add:    "message_added", m->sender, m->session_id, "message:<id>"
 *   memory_set / memory_delete: event ("memory_set" / "memory_deleted"),
 *                   agent_id, session_id, "memory:<key>" */
store_audit_rec *store_audit_session(store_audit_rec *r, const store_audit_in *a,
                                     const store_session *s);
store_audit_rec *store_audit_message(store_audit_rec *r, const store_audit_in *a,
                                     const store_message *m, int64_t id);
store_audit_rec *store_audit_memory(store_audit_rec *r, const store_audit_in *a, const char *event,
                                    const char *agent_id, const char *session_id, const char *key);
void store_audit_rec_free(store_audit_rec *r);

/* ---- results and errors both backends give -------------------------------------------- */

/* Appends a zeroed element of size elt to the growing array *v (n used, cap
 * allocated) and returns it. */
void *store_list_push(void **v, size_t *n, size_t *cap, size_t elt);

/* *out = the entry memory_set stored from `in` (strings copied). */
void store_memory_from_set(store_memory *out, const store_mem_set *in, utc_us created_at,
                           utc_us updated_at);

err_code store_err_no_session(err_t *e, const char *id);     /* ERR_NOTFOUND */
err_code store_err_session_exists(err_t *e, const char *id); /* ERR_UNIQUE */
err_code store_err_no_message(err_t *e, int64_t id);         /* ERR_NOTFOUND */
err_code store_err_bad_parent(err_t *e, int64_t parent_id, const char *session_id); /* INVALID */
err_code store_err_no_memory(err_t *e, const char *key);     /* ERR_NOTFOUND */
err_code store_err_memory_exists(err_t *e, const char *key); /* ERR_EXISTS */
/* Two writers inserted the same new key at once: ERR_BUSY (retried, then seen). */
err_code store_err_memory_race(err_t *e, const char *key);
err_code store_err_no_token(err_t *e);                           /* ERR_NOTFOUND */
err_code store_err_token_exists(err_t *e, const char *token_id); /* ERR_UNIQUE */

#endif
