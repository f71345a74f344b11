/* mcp/lifecycle.c — initialize: protocol version negotiation (echo a supported version,
 * else offer the newest), one initialize per session, the client's capabilities and
 * info kept, and the InitializeResult with capabilities derived from what is registered.
 * Must not: accept a second initialize, or declare a capability whose methods are absent. */
#include <string.h>

#include "mcp/mcp_internal.h"

json_t *mcp_lifecycle_initialize(mcp_call *c, json_t *params)
{
    mcp_session *s = c->session;
    mcp_server *srv = s->srv;
    json_t *pv = params ? json_object_get(params, "protocolVersion") : NULL;
    if (!json_is_string(pv)) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "initialize: protocolVersion is required", NULL);
        return NULL;
    }
    const char *version = mcp_protocol_versions[0];
    for (int i = 0; mcp_protocol_versions[i]; i++)
        if (strcmp(mcp_protocol_versions[i], json_string_value(pv)) == 0)
            version = mcp_protocol_versions[i];
    pthread_mutex_lock(&s->lock);
    if (s->state != SESS_NEW) {
        pthread_mutex_unlock(&s->lock);
        mcp_call_set_error(c, MCP_INVALID_REQUEST, "already initialized", NULL);
        return NULL;
    }
    s->state = SESS_INITIALIZED;
    s->version = version;
    json_t *cc = json_object_get(params, "capabilities");
    s->client_caps = json_is_object(cc) ? json_deep_copy(cc) : NULL;
    json_t *ci = json_object_get(params, "clientInfo");
    s->client_info = json_is_object(ci) ? json_deep_copy(ci) : NULL;
    pthread_mutex_unlock(&s->lock);

    json_t *caps = json_object();
    json_object_set_new(caps, "logging", json_object());
    if (srv->ntools)
        json_object_set_new(caps, "tools", json_pack("{s:b}", "listChanged", 0));
    if (srv->nresources || srv->ntemplates)
        json_object_set_new(caps, "resources",
                            json_pack("{s:b,s:b}", "subscribe", 1, "listChanged", 0));
    if (srv->nprompts)
        json_object_set_new(caps, "prompts", json_pack("{s:b}", "listChanged", 0));
    if (srv->nprompts || srv->ntemplates)
        json_object_set_new(caps, "completions", json_object());
    json_t *info = json_copy(srv->info);
    if (!mcp_version_at_least(version, "2025-11-25"))
        json_object_del(info, "description");
    if (!mcp_version_at_least(version, "2025-06-18"))
        json_object_del(info, "title");
    json_t *r = json_pack("{s:s,s:o,s:o}", "protocolVersion", version, "capabilities", caps,
                          "serverInfo", info);
    if (srv->instructions)
        json_object_set_new(r, "instructions", json_string(srv->instructions));
    return r;
}
