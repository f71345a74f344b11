/* app/visibility.c — THE visibility rule (tool-contract.md), implemented once and used
 * by every read path (tools, resources, prompts, notifications): public -> anyone with
 * read; private -> the sender; agent_only -> agents of the sender's agent_type;
 * admin_only -> agents with admin (only they may post it); admins read everything.
 * An unknown visibility_filter is INVALID_VISIBILITY, one the caller may not read is
 * PERMISSION_DENIED — never "no filter".
 * store_vis cannot say "every private message" / "every agent_only message", so for an
 * admin's visibility_filter="private" / "agent_only" app_vis_build returns vis.all and
 * *post names the visibility the caller must keep (app_vis_keep) while paging.
 * Must not: query the store (it builds the store_vis the store applies). */
#include <string.h>

#include "app/app_int.h"

bool app_vis_valid(const char *v)
{
    return v && (!strcmp(v, "public") || !strcmp(v, "private") || !strcmp(v, "agent_only") ||
                 !strcmp(v, "admin_only"));
}

json_t *app_vis_build_post(app_call *c, const auth_identity *id, const char *filter, store_vis *vis,
                           const char **post)
{
    *post = NULL;
    if (filter && app_is_admin(id) &&
        (!strcmp(filter, "private") || !strcmp(filter, "agent_only"))) {
        memset(vis, 0, sizeof *vis);
        vis->all = true;
        *post = !strcmp(filter, "private") ? "private" : "agent_only";
        return NULL;
    }
    return app_vis_build(c, id, filter, vis);
}

bool app_vis_keep(const char *post, const store_message *m)
{
    return !post || (m->visibility && strcmp(m->visibility, post) == 0);
}

json_t *app_vis_build(app_call *c, const auth_identity *id, const char *filter, store_vis *vis)
{
    memset(vis, 0, sizeof *vis);
    bool admin = app_is_admin(id);
    if (filter && !*filter)
        filter = NULL;
    if (filter && !app_vis_valid(filter))
        return app_error_ex(c->app, APP_INVALID_VISIBILITY,
                            json_pack("{s:s s:[ssss]}", "visibility_filter", filter, "allowed",
                                      "public", "private", "agent_only", "admin_only"),
                            NULL, 0, "unknown visibility_filter '%s'", filter);
    if (!filter) {
        if (admin) {
            vis->all = true;
            return NULL;
        }
        vis->public_ = true;
        vis->private_of = id->agent_id;
        vis->agent_only_of = id->agent_type;
        return NULL;
    }
    if (!strcmp(filter, "public"))
        vis->public_ = true;
    else if (!strcmp(filter, "private"))
        vis->private_of = id->agent_id;
    else if (!strcmp(filter, "agent_only"))
        vis->agent_only_of = id->agent_type;
    else if (admin)
        vis->admin_only = true;
    else
        return app_error(c->app, APP_PERMISSION_DENIED,
                         "visibility_filter 'admin_only' requires the admin permission");
    return NULL;
}

json_t *app_vis_check_post(app_call *c, const auth_identity *id, const char *v)
{
    if (!app_vis_valid(v))
        return app_error_ex(c->app, APP_INVALID_VISIBILITY,
                            json_pack("{s:s s:[ssss]}", "visibility", v ? v : "", "allowed",
                                      "public", "private", "agent_only", "admin_only"),
                            NULL, 0, "unknown visibility '%s'", v ? v : "");
    if (!strcmp(v, "admin_only") && !app_is_admin(id))
        return app_error(c->app, APP_PERMISSION_DENIED,
                         "only agents with the admin permission may post admin_only messages");
    return NULL;
}
