/* tests/mcp/mcp_fixture_server.c — a tiny MCP server over stdio built on mcp/ with the
 * conformance fixtures (mcp_fixtures.c): the child process of the stdio tests and of the
 * official SDK client test.
 * Must not: write anything to stdout itself (it belongs to the transport). */
#include <stdio.h>

#include "base/log.h"
#include "mcp/mcp_stdio.h"
#include "mcp_fixtures.h"

int main(void)
{
    log_set_level(LOG_WARN);
    mcp_server_info info = {"ctxd-mcp-fixtures", "0.1.0", "ctxd MCP fixture server",
                            "Conformance fixtures on the ctxd MCP library",
                            "Fixture server for MCP protocol tests."};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    err_clear(&e);
    if (!mcp_fixtures_register(srv, &e)) {
        fprintf(stderr, "fixtures: %s\n", e.msg);
        mcp_server_free(srv);
        return 1;
    }
    int rc = mcp_stdio_run(srv, NULL);
    mcp_server_free(srv);
    return rc == 0 ? 0 : 1;
}
