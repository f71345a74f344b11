/* fuzz/app_fixture.h — the ctxd the MCP and HTTP harnesses talk to: one per process, an
 * mcp_server with the real app registered on an in-memory SQLite store, a fixed clock,
 * and a known starting content (sessions, messages of every visibility, memory, a
 * protected token) that fz_app_reset restores between inputs when an input wrote.
 * Fuzz inputs name the fixed ids and tokens below (the seed corpora use them).
 * Must not: touch the file system or the network, or let one input's writes reach the
 * next one. */
#ifndef CTXD_FUZZ_APP_FIXTURE_H
#define CTXD_FUZZ_APP_FIXTURE_H

#include "app/app.h"
#include "auth/auth.h"
#include "db/db.h"
#include "mcp/mcp.h"
#include "store/store.h"

#define FZ_JWT_SECRET "fuzz-jwt-secret-0123456789abcdef-0123456789"
#define FZ_API_KEY "fuzz-api-key-0123456789"
#define FZ_NOW_S INT64_C(1768478400) /* 2026-01-15T12:00:00Z: the app's and auth's clock */
#define FZ_SESSION_A "session_00000000000000a1" /* active, by fuzz-admin, 5 messages */
#define FZ_SESSION_B "session_00000000000000b2" /* inactive, by fuzz-claude, 1 message */
/* fuzz-claude (claude: read, write) */
#define FZ_SCT_CLAUDE "sct_00000000-0000-4000-8000-000000000002"

typedef struct fz_app {
    db_t *db;
    store_t *st;
    auth_ctx *auth;
    app_t *app;
    mcp_server *srv;
    char *jwt_admin;  /* a JWT of fuzz-admin (admin: every permission), valid for years */
    char *bearer;     /* "Bearer " + jwt_admin */
    int64_t baseline; /* SQLite's total_changes() right after the content was made */
} fz_app;

/* The body of an initialize request (id 0) offering `version` (caller frees), and the
 * notification a client sends once it is answered. */
char *fz_initialize_body(const char *version);
#define FZ_INITIALIZED "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"

/* The process's app, made on the first call (exits with a message if it cannot be). */
fz_app *fz_app_get(void);
/* Puts the database back to the starting content if anything was written since. */
void fz_app_reset(fz_app *f);

#endif
