/* mcp/mcp_stdio.h — the stdio transport: one session over a pair of file descriptors
 * (stdin/stdout by default), one JSON-RPC message per line.
 * Must not: be used while anything else writes to the output descriptor (stdout carries
 * only MCP messages; logs go to stderr). */
#ifndef CTXD_MCP_STDIO_H
#define CTXD_MCP_STDIO_H

#include "mcp/mcp.h"

typedef struct mcp_stdio_opts {
    int in_fd;          /* default 0 */
    int out_fd;         /* default 1 */
    unsigned workers;   /* handler threads (default 4) */
    unsigned max_queue; /* requests waiting for a worker before the reader blocks (64) */
    void *auth;         /* attached to every request (mcp_call_auth) */
    /* Called once the session exists, before the first line is read (e.g. to attach
     * the product's per-connection state with mcp_session_set_userdata). */
    void (*on_session)(mcp_session *s, void *ud);
    void *ud;
} mcp_stdio_opts;

#define MCP_STDIO_OPTS_INIT \
    { \
        0, 1, 4, 64, NULL, NULL, NULL \
    }

/* Serves until EOF on the input (then finishes queued and in-flight requests) or until
 * the output is gone (EPIPE: in-flight requests are cancelled). Ignores SIGPIPE for the
 * process. Notifications, ping and initialize are handled on the reader thread; other
 * requests run concurrently on the workers, so notifications/cancelled is seen while a
 * tool runs. Returns 0 on EOF/EPIPE, -1 on a read error. opts may be NULL. */
int mcp_stdio_run(mcp_server *srv, const mcp_stdio_opts *opts);

#endif
