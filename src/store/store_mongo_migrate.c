/* store/store_mongo_migrate.c — the MongoDB schema: versioned migrations of
 * its own (the same numbering idea as migrations/<dialect>/NNNN_*.sql),
 * recorded in the schema_migrations collection ({version, name, applied_at}).
 * Migration 1 creates the collections, their indexes (unique on every natural
 * key; agent_memory unique on {agent_id, scope, key} with scope "" for global)
 * and the id counters. Every step is idempotent (existing collections, indexes
 * and counters are kept), so two processes migrating at once cannot corrupt
 * anything and no lock is needed. A database newer than this binary is refused.
 * The store_vt lifecycle entries: status, migrate to a version (only up), check.
 * Migration 3 deletes the protected tokens kept in clear (see migration_3).
 * Must not: touch documents other than counters, migration records and (migration 3)
 * the protected tokens it replaces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "base/log.h"
#include "base/sbuf.h"

typedef struct {
    const char *coll;
    const char *name;
    const char *fields[4]; /* "field" ascending, "-field" descending */
    bool unique;
} index_def;

static const index_def m1_indexes[] = {
    {SMONGO_SESSIONS, "id_unique", {"id"}, true},
    {SMONGO_SESSIONS, "updated_at_id", {"-updated_at", "id"}, false},
    {SMONGO_SESSIONS, "created_by", {"created_by"}, false},
    {SMONGO_MESSAGES, "id_unique", {"id"}, true},
    {SMONGO_MESSAGES, "session_id_id", {"session_id", "id"}, false},
    {SMONGO_MESSAGES, "parent_message_id", {"parent_message_id"}, false},
    {SMONGO_MEMORY, "agent_scope_key_unique", {"agent_id", "scope", "key"}, true},
    {SMONGO_MEMORY, "expires_at", {"expires_at"}, false},
    {SMONGO_AUDIT, "id_unique", {"id"}, true},
    {SMONGO_AUDIT, "created_at", {"created_at"}, false},
    {SMONGO_AUDIT, "session_id_id", {"session_id", "-id"}, false},
    {SMONGO_TOKENS, "token_id_unique", {"token_id"}, true},
    {SMONGO_TOKENS, "expires_at", {"expires_at"}, false},
    {SMONGO_JTIS, "jti_unique", {"jti"}, true},
    {SMONGO_JTIS, "expires_at", {"expires_at"}, false},
    {SMONGO_COUNTERS, "name_unique", {"name"}, true},
    {SMONGO_MIGRATIONS, "version_unique", {"version"}, true},
};

static const char *const m1_collections[] = {SMONGO_SESSIONS, SMONGO_MESSAGES,  SMONGO_MEMORY,
                                             SMONGO_AUDIT,    SMONGO_TOKENS,    SMONGO_JTIS,
                                             SMONGO_COUNTERS, SMONGO_MIGRATIONS};

static err_code create_collection(smongo_ctx *c, const char *name, err_t *e)
{
    mongoc_database_t *db = mongoc_client_get_database(c->client, c->s->dbname);
    bson_error_t be;
    err_code rc = ERR_OK;
    mongoc_collection_t *col = mongoc_database_create_collection(db, name, NULL, &be);
    if (col)
        mongoc_collection_destroy(col);
    else if (be.code != 48) /* NamespaceExists */
        rc = smongo_err(&be, NULL, "create collection", e);
    mongoc_database_destroy(db);
    return rc;
}

static err_code create_index(smongo_ctx *c, const index_def *d, err_t *e)
{
    bson_t cmd = BSON_INITIALIZER, arr, ix, reply;
    BSON_APPEND_UTF8(&cmd, "createIndexes", d->coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &ix);
    smongo_append_keys(&ix, "key", d->fields, 4);
    BSON_APPEND_UTF8(&ix, "name", d->name);
    if (d->unique)
        BSON_APPEND_BOOL(&ix, "unique", true);
    bson_append_document_end(&arr, &ix);
    bson_append_array_end(&cmd, &arr);
    mongoc_database_t *db = mongoc_client_get_database(c->client, c->s->dbname);
    bson_error_t be;
    err_code rc = ERR_OK;
    if (!mongoc_database_write_command_with_opts(db, &cmd, NULL, &reply, &be)) {
        char what[160];
        snprintf(what, sizeof what, "create index %s.%s", d->coll, d->name);
        rc = smongo_err(&be, &reply, what, e);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_database_destroy(db);
    return rc;
}

/* key -> $setOnInsert soi, upsert: an existing document is kept (also one a
 * concurrent migration has just made). Frees key and soi. */
static err_code ensure(smongo_ctx *c, const char *coll, bson_t *key, bson_t *soi, err_t *e)
{
    bson_t upd = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&upd, "$setOnInsert", soi);
    err_code rc = smongo_update(c, coll, key, &upd, true, NULL, NULL, e);
    bson_destroy(&upd);
    bson_destroy(soi);
    bson_destroy(key);
    if (rc != ERR_UNIQUE)
        return rc;
    err_clear(e);
    return ERR_OK;
}

/* counter {name} with seq 0 unless it exists */
static err_code ensure_counter(smongo_ctx *c, const char *name, err_t *e)
{
    bson_t key = BSON_INITIALIZER, soi = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&key, "name", name);
    BSON_APPEND_INT64(&soi, "seq", 0);
    return ensure(c, SMONGO_COUNTERS, &key, &soi, e);
}

static err_code migration_1(smongo_ctx *c, err_t *e)
{
    err_code rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < sizeof m1_collections / sizeof m1_collections[0]; i++)
        rc = create_collection(c, m1_collections[i], e);
    for (size_t i = 0; rc == ERR_OK && i < sizeof m1_indexes / sizeof m1_indexes[0]; i++)
        rc = create_index(c, &m1_indexes[i], e);
    if (rc == ERR_OK)
        rc = ensure_counter(c, SMONGO_MESSAGES, e);
    if (rc == ERR_OK)
        rc = ensure_counter(c, SMONGO_AUDIT, e);
    return rc;
}

/* 2: the search index upkeep finds messages without index text ({unindexed: true}) */
static const index_def m2_indexes[] = {
    {SMONGO_MESSAGES, "unindexed", {"unindexed"}, false},
};

/* every index of d[0..n) */
static err_code create_indexes(smongo_ctx *c, const index_def *d, size_t n, err_t *e)
{
    err_code rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < n; i++)
        rc = create_index(c, &d[i], e);
    return rc;
}

static err_code migration_2(smongo_ctx *c, err_t *e)
{
    return create_indexes(c, m2_indexes, sizeof m2_indexes / sizeof m2_indexes[0], e);
}

typedef struct {
    int version;
    const char *name;
    err_code (*run)(smongo_ctx *c, err_t *e);
} migration;

/* 3: credentials. The protected tokens kept in clear are deleted (a token cannot be
 * turned into its digest here: the digest is keyed with JWT_SECRET_KEY; they live an
 * hour, agents authenticate again) and secure_tokens is keyed by token_hash instead of
 * token_id; agent_credentials is new; the restricted sessions (sessions.access, marked
 * {restricted: true}) get an index. */
static const index_def m3_indexes[] = {
    {SMONGO_TOKENS, "token_hash_unique", {"token_hash"}, true},
    {SMONGO_TOKENS, "agent_id", {"agent_id"}, false},
    {SMONGO_CREDS, "agent_id_unique", {"agent_id"}, true},
    {SMONGO_CREDS, "key_hash_unique", {"key_hash"}, true},
    {SMONGO_SESSIONS, "restricted", {"restricted"}, false},
};

static err_code migration_3(smongo_ctx *c, err_t *e)
{
    bson_t all = BSON_INITIALIZER;
    err_code rc = smongo_delete(c, SMONGO_TOKENS, &all, true, NULL, e);
    bson_destroy(&all);
    if (rc == ERR_OK) {
        mongoc_collection_t *col = smongo_coll(c, SMONGO_TOKENS);
        bson_error_t be;
        if (!mongoc_collection_drop_index(col, "token_id_unique", &be) &&
            be.code != 27) /* IndexNotFound: a migration run before */
            rc = smongo_err(&be, NULL, "drop index secure_tokens.token_id_unique", e);
        mongoc_collection_destroy(col);
    }
    if (rc == ERR_OK)
        rc = create_collection(c, SMONGO_CREDS, e);
    for (size_t i = 0; rc == ERR_OK && i < sizeof m3_indexes / sizeof m3_indexes[0]; i++)
        rc = create_index(c, &m3_indexes[i], e);
    return rc;
}

/* 4: visibility_counts (as migrations/<dialect>/0004 on SQL). A reader's count is one
 * equality per clause of its store_vis (visibility, then sender or sender_type) in a
 * session: this index answers each from its entries, without reading messages. */
static const index_def m4_indexes[] = {
    {SMONGO_MESSAGES,
     "session_visibility",
     {"session_id", "visibility", "sender", "sender_type"},
     false},
};

static err_code migration_4(smongo_ctx *c, err_t *e)
{
    return create_indexes(c, m4_indexes, sizeof m4_indexes / sizeof m4_indexes[0], e);
}

static const migration migrations[] = {{1, "init", migration_1},
                                       {2, "search", migration_2},
                                       {3, "credentials", migration_3},
                                       {4, "visibility_counts", migration_4}};
#define NMIG (sizeof migrations / sizeof migrations[0])
#define LATEST (migrations[NMIG - 1].version) /* the schema version this ctxd knows */

/* store_schema.up_only: migrations are idempotent steps with no way back */
static const char up_only[] = "MongoDB migrations only go up";

/* *v = the newest recorded version (0 = none). */
static err_code current_version(smongo_ctx *c, int *v, err_t *e)
{
    int64_t max = 0;
    err_code rc = smongo_max(c, SMONGO_MIGRATIONS, "version", &max, e);
    *v = (int)max;
    return rc;
}

/* ERR_SCHEMA saying what to do unless version v is the one this binary knows. */
static err_code version_check(const smongo *s, int v, err_t *e)
{
    if (v > LATEST)
        return err_set(e, ERR_SCHEMA,
                       "mongodb: database %s is at schema version %d, newer than "
                       "this ctxd knows (%d): upgrade ctxd",
                       s->dbname, v, LATEST);
    if (v < LATEST)
        return err_set(e, ERR_SCHEMA,
                       "mongodb: database %s is at schema version %d, this ctxd "
                       "needs %d: run `ctxd migrate up`",
                       s->dbname, v, LATEST);
    return ERR_OK;
}

static err_code migrate_check(smongo_ctx *c, err_t *e)
{
    int v = 0;
    err_code rc = current_version(c, &v, e);
    return rc != ERR_OK ? rc : version_check(c->s, v, e);
}

typedef struct {
    int target; /* apply migrations up to this version */
    int applied;
} up_ctx;

static err_code do_up(smongo_ctx *c, void *arg, err_t *e)
{
    up_ctx *x = arg;
    int v = 0;
    err_code rc = current_version(c, &v, e);
    if (rc != ERR_OK)
        return rc;
    if (v > LATEST)
        return version_check(c->s, v, e);
    if (x->target < v)
        return err_set(e, ERR_INVALID, "%s: database %s is at schema version %d, not going to %d",
                       up_only, c->s->dbname, v, x->target);
    for (size_t i = 0; i < NMIG && migrations[i].version <= x->target; i++) {
        if (migrations[i].version <= v)
            continue;
        if ((rc = migrations[i].run(c, e)) != ERR_OK)
            return err_prefix(e, "mongodb migration %d (%s)", migrations[i].version,
                              migrations[i].name);
        bson_t key = BSON_INITIALIZER, soi = BSON_INITIALIZER;
        BSON_APPEND_INT32(&key, "version", migrations[i].version);
        BSON_APPEND_UTF8(&soi, "name", migrations[i].name);
        BSON_APPEND_INT64(&soi, "applied_at", utc_now());
        rc = ensure(c, SMONGO_MIGRATIONS, &key, &soi, e);
        if (rc != ERR_OK)
            return rc;
        x->applied++;
        log_msg(LOG_INFO, "migrate", "mongodb: applied migration %d (%s)", migrations[i].version,
                migrations[i].name);
    }
    return ERR_OK;
}

err_code smongo_migrate_to(store_t *st, int target, int *changed, err_t *e)
{
    if (target > LATEST)
        return err_set(e, ERR_INVALID,
                       "target version %d is out of range: this ctxd knows versions 0..%d", target,
                       LATEST);
    up_ctx x = {target < 0 ? LATEST : target, 0};
    err_code rc = smongo_read(M(st), do_up, &x, e);
    *changed = x.applied;
    return rc;
}

static err_code rd_check(smongo_ctx *c, void *arg, err_t *e)
{
    (void)arg;
    return migrate_check(c, e);
}

err_code smongo_schema_check(store_t *st, err_t *e)
{
    return smongo_read(M(st), rd_check, NULL, e);
}

/* ---- status: this ctxd's migrations beside the recorded ones ---------------------------- */

/* a recorded migration {version, name, applied_at} */
static void read_migration(const bson_t *d, void *rec)
{
    store_migration *m = rec;
    m->version = (int)smongo_get_int(d, "version");
    m->name = smongo_get_str(d, "name");
    m->applied = true;
    m->applied_at = smongo_get_time(d, "applied_at");
}

static void clear_migration(void *rec)
{
    free(((store_migration *)rec)->name);
}

static const smongo_rec migration_rec = {sizeof(store_migration), read_migration, clear_migration};

/* This ctxd's migrations into the recorded ones of out (n of them): the entry of
 * each known version, added where not recorded, gets our name. */
static void add_known(store_schema *out)
{
    size_t recorded = out->n, cap = out->n;
    for (size_t i = 0; i < recorded; i++)
        if (out->v[i].version > out->db_newest)
            out->db_newest = out->v[i].version;
    for (size_t k = 0; k < NMIG; k++) {
        store_migration *m = NULL;
        for (size_t i = 0; i < recorded && !m; i++)
            if (out->v[i].version == migrations[k].version)
                m = &out->v[i];
        if (!m) {
            m = store_list_push((void **)&out->v, &out->n, &cap, sizeof *out->v);
            m->version = migrations[k].version;
        }
        free(m->name);
        m->name = xstrdup(migrations[k].name);
        m->known = true;
        if (m->applied && m->version > out->current)
            out->current = m->version;
    }
}

static int migration_cmp(const void *a, const void *b)
{
    int x = ((const store_migration *)a)->version, y = ((const store_migration *)b)->version;
    return (x > y) - (x < y);
}

err_code smongo_schema_status(store_t *st, store_schema *out, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    err_code rc =
        smongo_read_list(M(st), SMONGO_MIGRATIONS, &f, NULL, &migration_rec, SMONGO_LIST(out), e);
    bson_destroy(&f);
    if (rc != ERR_OK)
        return rc;
    add_known(out);
    for (size_t i = 0; i < out->n; i++)
        if (!out->v[i].name)
            out->v[i].name = xstrdup("");
    qsort(out->v, out->n, sizeof *out->v, migration_cmp);
    out->latest = LATEST;
    out->up_only = up_only;
    return ERR_OK;
}
