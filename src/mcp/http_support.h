/* mcp/http_support.h — small read-only accessors on a parsed mcp_message that the HTTP
 * transport needs for its metrics (the tool name of a tools/call) without parsing the body
 * twice.
 * Must not: change message handling or grow into a second public API (mcp.h is that). */
#ifndef CTXD_MCP_HTTP_SUPPORT_H
#define CTXD_MCP_HTTP_SUPPORT_H

#include "mcp/mcp.h"

/* params.name of a request (tools/call, prompts/get) as a borrowed string valid while m
 * lives, or NULL. */
const char *mcp_message_param_name(const mcp_message *m);

#endif
