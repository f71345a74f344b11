/* app/prompts.c — the prompts of the contract: setup-collaboration (instructions for a
 * multi-agent collaboration; no side effects) and debug-session (a summary of a
 * session built only from the messages the caller may see).
 * Must not: create or change data; show messages outside app_vis_build. */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/ids.h"
#include "base/sbuf.h"

static const char *arg(json_t *args, const char *n, const char *def)
{
    const char *v = json_string_value(json_object_get(args, n));
    return v && *v ? v : def;
}

static json_t *setup_collaboration(mcp_call *mc, json_t *args, void *ud)
{
    (void)mc;
    (void)ud;
    const char *purpose = arg(args, "purpose", "");
    const char *roles = arg(args, "expert_roles", "");
    const char *type = arg(args, "collaboration_type", "committee");
    const char *sid = arg(args, "session_id", NULL);
    const char *rounds = arg(args, "iteration_rounds", "3");
    const char *project = arg(args, "project_name", NULL);
    sbuf_t b;
    sbuf_init(&b);
    sbuf_printf(&b, "Set up a %s collaboration%s%s for: %s\n\n", type,
                project ? " on project " : "", project ? project : "", purpose);
    sbuf_printf(&b, "Expert roles: %s\nIteration rounds: %s\n\n", roles, rounds);
    sbuf_puts(&b, "Steps:\n1. Each agent calls authenticate_agent(agent_id, agent_type) and keeps "
                  "the token.\n");
    if (sid)
        sbuf_printf(&b, "2. Use the existing session %s.\n", sid);
    else
        sbuf_printf(
            &b, "2. One agent calls create_session(purpose=\"%s\") and shares the session_id.\n",
            purpose);
    sbuf_printf(&b,
                "3. For each of the %s rounds, every expert posts its analysis with add_message "
                "(visibility public; agent_only for notes meant for agents of the same type), "
                "reads the others with get_messages(since_id=<last id seen>) and replies in "
                "threads with parent_message_id.\n"
                "4. Keep private working state with set_memory; find earlier findings with "
                "search_context.\n"
                "5. Finish with a summary message that lists decisions and open questions.\n",
                rounds);
    json_t *r = mcp_prompt_result("Set up a multi-agent collaboration in ctxd");
    mcp_prompt_add(r, "user", mcp_text(sbuf_cstr(&b)));
    sbuf_free(&b);
    return r;
}

static json_t *debug_session(mcp_call *mc, json_t *args, void *ud)
{
    app_t *a = ud;
    app_call c = {.app = a, .mc = mc, .req = mcp_call_auth(mc), .now = app_now(a)};
    json_t *r = app_access(&c, NULL, APP_NEED_READ, true);
    const char *sid = arg(args, "session_id", "");
    store_vis vis;
    if (!r)
        r = app_vis_build(&c, &c.id, NULL, &vis);
    if (r) {
        json_t *sc = json_object_get(r, "structuredContent");
        mcp_call_set_error(mc, -32001, json_string_value(json_object_get(sc, "error")),
                           json_pack("{s:O}", "code", json_object_get(sc, "code")));
        json_decref(r);
        return NULL;
    }
    store_session s;
    err_t e;
    bool found = ids_is_session(sid) && store_session_get(a->st, sid, &s, &e) == ERR_OK;
    if (found && !app_session_admits(&s, &c.id)) { /* restricted: as if missing */
        store_session_clear(&s);
        found = false;
    }
    if (!found) {
        mcp_call_set_error(mc, MCP_INVALID_PARAMS, "session not found",
                           json_pack("{s:s}", "code", "SESSION_NOT_FOUND"));
        return NULL;
    }
    store_msg_query q = {.session_id = sid, .vis = vis, .limit = 20, .newest_first = true};
    store_messages ms = {0};
    int64_t total = 0;
    if (store_message_list(a->st, &q, &ms, &total, &e) != ERR_OK) {
        store_session_clear(&s);
        mcp_call_set_error(mc, MCP_INTERNAL_ERROR, "database error", NULL);
        return NULL;
    }
    sbuf_t b;
    sbuf_init(&b);
    char t1[UTC_ISO_LEN], t2[UTC_ISO_LEN];
    sbuf_printf(&b,
                "Debug session %s\nPurpose: %s\nCreated by: %s at %s\nActive: %s\nLast update: %s\n"
                "Messages visible to you (%s): %lld\n\nNewest visible messages:\n",
                s.id, s.purpose, s.created_by, utc_format(s.created_at, t1),
                s.is_active ? "yes" : "no", utc_format(s.updated_at, t2), c.id.agent_id,
                (long long)total);
    for (size_t i = ms.n; i-- > 0;) {
        store_message *m = &ms.v[i];
        size_t n = strlen(m->content);
        sbuf_printf(&b, "- #%lld %s (%s, %s): %.*s%s\n", (long long)m->id, m->sender,
                    m->sender_type, store_visibility_name(m->visibility), (int)(n > 200 ? 200 : n),
                    m->content, n > 200 ? "…" : "");
    }
    sbuf_puts(&b, "\nAnalyse the flow of this session: who contributed, what is unresolved, and "
                  "whether any agent seems stuck or is repeating itself.");
    store_messages_free(&ms);
    store_session_clear(&s);
    json_t *res = mcp_prompt_result("Debug a ctxd session");
    mcp_prompt_add(res, "user", mcp_text(sbuf_cstr(&b)));
    sbuf_free(&b);
    return res;
}

err_code app_register_prompts(app_t *a, mcp_server *srv, err_t *e)
{
    static const mcp_prompt_arg setup_args[] = {
        {"purpose", "Purpose", "What the collaboration should achieve", true, NULL},
        {"expert_roles", "Expert roles", "Comma-separated roles, e.g. \"architect, reviewer\"",
         true, NULL},
        {"collaboration_type", "Collaboration type",
         "committee (default), sequential, parallel, ...", false, NULL},
        {"session_id", "Session", "An existing session to use", false, NULL},
        {"iteration_rounds", "Rounds", "Number of rounds (default 3)", false, NULL},
        {"project_name", "Project", "Project name", false, NULL},
    };
    static const mcp_prompt_arg debug_args[] = {
        {"session_id", "Session", "The session to analyse", true, NULL},
    };
    mcp_prompt_def p1 = {"setup-collaboration",
                         "Set up collaboration",
                         "Instructions for setting up a multi-agent collaboration",
                         setup_args,
                         sizeof setup_args / sizeof *setup_args,
                         setup_collaboration,
                         a};
    mcp_prompt_def p2 = {"debug-session",
                         "Debug session",
                         "Summarise a session (only the messages you may see) for debugging",
                         debug_args,
                         1,
                         debug_session,
                         a};
    if (mcp_server_add_prompt(srv, &p1, e) != ERR_OK ||
        mcp_server_add_prompt(srv, &p2, e) != ERR_OK)
        return e->code;
    return ERR_OK;
}
