/* tests/mcp/mcp_fixtures.h — registers the conformance-suite fixtures (tools, resources,
 * templates, prompts the official conformance suite expects, see docs/testing.md) plus a few test helpers (test_block,
 * test_release, test_structured, test_validate, test_touch_watched) into an mcp_server,
 * for the stdio fixture server, the unit tests and (later) the HTTP conformance server.
 * Must not: depend on a transport or on anything of ctxd beyond mcp/. */
#ifndef CTXD_MCP_FIXTURES_H
#define CTXD_MCP_FIXTURES_H

#include "mcp/mcp.h"

/* Registers everything; false (with e) on a registration error. */
bool mcp_fixtures_register(mcp_server *srv, err_t *e);
/* Releases every call blocked in test_block (also done by the test_release tool). */
void mcp_fixtures_release(void);

#endif
