/* mcp/http_support.h — small read-only accessors on a parsed mcp_message that the HTTP
 * transport needs for its metrics (the tool name of a tools/call) and its worker lanes
 * without parsing the body twice.
 * Must not: change message handling or grow into a second public API (mcp.h is that). */
#ifndef CTXD_MCP_HTTP_SUPPORT_H
#define CTXD_MCP_HTTP_SUPPORT_H

#include "mcp/mcp.h"

/* params.name of a request (tools/call, prompts/get) as a borrowed string valid while m
 * lives, or NULL. */
const char *mcp_message_param_name(const mcp_message *m);

/* The lane (mcp_server_add_lane) a message runs in: for a tools/call request the lane of
 * the tool it names, for a batch the lane of its first element outside lane 0; 0 for
 * anything else (other methods, unknown tools, malformed messages). */
unsigned mcp_message_lane(const mcp_server *srv, const mcp_message *m);

#endif
