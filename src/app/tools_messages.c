/* app/tools_messages.c — add_message (with notifications to resource subscribers),
 * get_messages (with the since_id cursor), get_message and get_thread (paged with
 * since_id); list answers stop adding rows at MAX_RESPONSE_BYTES and say so.
 * Must not: return a message without the caller's store_vis from app_vis_build. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/tools_common.h"

static json_t *add_message(app_call *c, json_t *args)
{
    const char *sid;
    json_t *r = app_arg_session(c, args, &sid);
    if (r)
        return r;
    const char *vname = app_arg_str(args, "visibility");
    store_visibility vis;
    if ((r = app_vis_check_post(c, &c->id, vname ? vname : store_visibility_name(STORE_VIS_PUBLIC),
                                &vis)))
        return r;
    char *content = NULL, *meta = NULL;
    if ((r = app_check_content(c, app_arg_str(args, "content"), &content)))
        return r;
    if ((r = app_check_metadata(c, json_object_get(args, "metadata"), &meta))) {
        free(content);
        return r;
    }
    int64_t parent;
    if ((r = app_arg_range(c, args, "parent_message_id", 0, 1, INT64_MAX, &parent)))
        goto out;
    /* the store checks the parent: visible to the poster, in this session */
    store_vis pv;
    if (parent && (r = app_vis_build(c, &c->id, NULL, &pv)))
        goto out;
    store_message m = {.session_id = (char *)sid,
                       .sender = c->id.agent_id,
                       .sender_type = c->id.agent_type,
                       .content = content,
                       .visibility = vis,
                       .metadata = meta,
                       .parent_id = parent,
                       .parent_vis = parent ? &pv : NULL};
    store_audit_in au = {
        .event_type = "message_added", .agent_id = c->id.agent_id, .session_id = sid};
    char auditmeta[64];
    snprintf(auditmeta, sizeof auditmeta, "{\"visibility\":\"%s\"}", store_visibility_name(vis));
    au.metadata = auditmeta;
    err_t e;
    if (store_message_add(c->app->st, &m, &au, &e) != ERR_OK) {
        switch (store_err_reason(&e)) {
        case STORE_REASON_PARENT_NOT_FOUND:
            r = app_error(c->app, APP_MESSAGE_NOT_FOUND, "parent message not found");
            break;
        case STORE_REASON_PARENT_ELSEWHERE:
            r = app_error(c->app, APP_INVALID_INPUT,
                          "parent_message_id belongs to another session");
            break;
        default: r = app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session"); break;
        }
        goto out;
    }
    app_notify_message(c->app, &m);
    app_indexer_poke(c->app);
    r = app_ok(json_pack("{s:I s:o}", "message_id", (json_int_t)m.id, "timestamp",
                         app_json_time(m.created_at)));
out:
    free(content);
    free(meta);
    return r;
}

static json_t *get_messages(app_call *c, json_t *args)
{
    const char *sid;
    json_t *r = app_arg_session(c, args, &sid);
    if (r)
        return r;
    int64_t limit, offset, since;
    if ((r = app_arg_range(c, args, "limit", 50, 1, 1000, &limit)) ||
        (r = app_arg_range(c, args, "offset", 0, 0, INT_MAX, &offset)) ||
        (r = app_arg_range(c, args, "since_id", 0, 0, INT64_MAX, &since)))
        return r;
    store_vis vis;
    if ((r = app_vis_build(c, &c->id, app_arg_str(args, "visibility_filter"), &vis)))
        return r;
    store_messages ms;
    int64_t total = 0;
    err_t e;
    store_msg_query q = {.session_id = sid,
                         .vis = vis,
                         .since_id = since,
                         .limit = (int)limit,
                         .offset = (int)offset};
    if (store_message_list(c->app->st, &q, &ms, &total, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
    bool truncated;
    json_t *rows = app_json_messages_within(c->app, &ms, ms.n, &truncated);
    size_t n = json_array_size(rows);
    json_t *o = json_pack("{s:o s:I s:I s:b s:b}", "messages", rows, "count", (json_int_t)n,
                          "total_count", (json_int_t)total, "has_more",
                          (int64_t)offset + (int64_t)n < total, "truncated", truncated);
    if (n)
        json_object_set_new(o, "next_since_id", json_integer(ms.v[n - 1].id));
    store_messages_free(&ms);
    return app_ok(o);
}

/* get_thread: a page of the thread rooted at message_id (the root, then its visible
 * replies at any depth, by id), at most `limit` messages and MAX_RESPONSE_BYTES; since_id
 * continues after the last message of the previous page. */
static json_t *thread_page(app_call *c, json_t *args, int64_t id, const store_vis *vis)
{
    int64_t limit, since;
    json_t *r;
    if ((r = app_arg_range(c, args, "limit", 100, 1, 1000, &limit)) ||
        (r = app_arg_range(c, args, "since_id", 0, 0, INT64_MAX, &since)))
        return r;
    /* one more than asked: whether more follow */
    store_thread_query q = {.root_id = id, .vis = vis, .since_id = since, .limit = (int)limit + 1};
    store_messages ms;
    err_t e;
    if (store_message_thread_page(c->app->st, &q, &ms, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_MESSAGE_NOT_FOUND, "message");
    bool truncated;
    json_t *rows = app_json_messages_within(c->app, &ms, (size_t)limit, &truncated);
    size_t n = json_array_size(rows);
    r = json_pack("{s:I s:o s:I s:b s:b}", "root_message_id", (json_int_t)id, "messages", rows,
                  "count", (json_int_t)n, "has_more", n < ms.n, "truncated", truncated);
    if (n)
        json_object_set_new(r, "next_since_id", json_integer(ms.v[n - 1].id));
    store_messages_free(&ms);
    return app_ok(r);
}

/* get_message (one message) and get_thread (the message and its visible replies):
 * message_id must be a message the caller can see */
static json_t *message_or_thread(app_call *c, json_t *args, bool thread)
{
    int64_t id;
    json_t *r = app_arg_range(c, args, "message_id", 0, 1, INT64_MAX, &id);
    if (r)
        return r;
    if (id == 0) /* absent */
        return app_error(c->app, APP_INVALID_INPUT, "message_id must be a positive integer");
    store_vis vis;
    if ((r = app_vis_build(c, &c->id, NULL, &vis)))
        return r;
    if (thread)
        return thread_page(c, args, id, &vis);
    err_t e;
    store_message m;
    if (store_message_get(c->app->st, id, &vis, &m, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_MESSAGE_NOT_FOUND, "message");
    r = json_pack("{s:o}", "message", app_json_message(&m));
    store_message_clear(&m);
    return app_ok(r);
}

static json_t *get_message(app_call *c, json_t *args)
{
    return message_or_thread(c, args, false);
}

static json_t *get_thread(app_call *c, json_t *args)
{
    return message_or_thread(c, args, true);
}

const app_tool app_tools_messages[] = {
    {"add_message", "Add message",
     "Post a message to a session. visibility: public (everyone), private (only you), "
     "agent_only (agents of your agent_type), admin_only (admins; only admins may post it).",
     APP_RW, APP_NEED_WRITE, add_message},
    {"get_messages", "Get messages",
     "Visible messages of a session, oldest first. since_id returns only newer messages "
     "(pass the last id you saw to poll).",
     APP_RO, APP_NEED_READ, get_messages},
    {"get_message", "Get message", "One message by id, if visible to you.", APP_RO, APP_NEED_READ,
     get_message},
    {"get_thread", "Get thread",
     "The visible messages of the thread rooted at message_id (the root and its replies), by id, "
     "a page at a time: has_more says more follow; pass next_since_id as since_id for them.",
     APP_RO, APP_NEED_READ, get_thread},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
