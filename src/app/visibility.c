/* app/visibility.c — THE visibility rule (docs/mcp-interface.md), implemented once and used
 * by every read path (tools, resources, prompts, notifications): public -> anyone with
 * read; private -> the sender; agent_only -> agents of the sender's agent_type;
 * admin_only -> agents with admin (only they may post it); admins read everything.
 * A visibility_filter narrows the read to one visibility: for an admin, that
 * visibility from any sender; for anyone else, their own clause of it. An unknown
 * visibility or visibility_filter is INVALID_VISIBILITY, one the caller may not read
 * or post is PERMISSION_DENIED — never "no filter". The values and their names are
 * store.h's (store_visibility): nothing here spells them. For a non-admin the filter
 * also carries the session clause: messages (and, in list_sessions, sessions) of a
 * restricted session that does not admit the reader are not there for it
 * (app_session_admits states the same rule for one session in C).
 * Must not: query the store (it builds the store_vis the store applies). */
#include <string.h>

#include "app/app_int.h"

json_t *app_vis_names(void)
{
    json_t *a = json_array();
    for (unsigned v = 0; v < STORE_VIS_COUNT; v++)
        json_array_append_new(a, json_string(store_visibility_name((store_visibility)v)));
    return a;
}

/* INVALID_VISIBILITY for the unknown value `v` of the argument `arg`. */
static json_t *unknown(app_call *c, const char *arg, const char *v)
{
    return app_error_ex(c->app, APP_INVALID_VISIBILITY,
                        json_pack("{s:s s:o}", arg, v, "allowed", app_vis_names()), NULL, 0,
                        "unknown %s '%s'", arg, v);
}

json_t *app_vis_build(app_call *c, const auth_identity *id, const char *filter, store_vis *vis)
{
    memset(vis, 0, sizeof *vis);
    if (filter && !*filter)
        filter = NULL;
    store_visibility v = STORE_VIS_PUBLIC;
    if (filter && !store_visibility_parse(filter, &v))
        return unknown(c, "visibility_filter", filter);
    if (app_is_admin(id)) {
        vis->any = filter ? STORE_VIS_BIT(v) : STORE_VIS_EVERY;
        return NULL;
    }
    /* restricted sessions admit only their creator, listed agents and types (and admins):
     * the same rule as app_session_admits, applied by the store */
    vis->member_id = id->agent_id;
    vis->member_type = id->agent_type;
    if (!filter || v == STORE_VIS_PUBLIC)
        vis->any = STORE_VIS_BIT(STORE_VIS_PUBLIC);
    if (!filter || v == STORE_VIS_PRIVATE)
        vis->private_of = id->agent_id;
    if (!filter || v == STORE_VIS_AGENT_ONLY)
        vis->agent_only_of = id->agent_type;
    if (filter && v == STORE_VIS_ADMIN_ONLY)
        return app_error(c->app, APP_PERMISSION_DENIED,
                         "visibility_filter '%s' requires the admin permission", filter);
    return NULL;
}

json_t *app_vis_check_post(app_call *c, const auth_identity *id, const char *name,
                           store_visibility *out)
{
    if (!store_visibility_parse(name, out))
        return unknown(c, "visibility", name ? name : "");
    if (*out == STORE_VIS_ADMIN_ONLY && !app_is_admin(id))
        return app_error(c->app, APP_PERMISSION_DENIED,
                         "only agents with the admin permission may post %s messages", name);
    return NULL;
}
