/* app/tools_common.h — JSON-schema fragments shared by the tool tables.
 * Must not: hold logic. */
#ifndef CTXD_APP_TOOLS_COMMON_H
#define CTXD_APP_TOOLS_COMMON_H

#define APP_AUTH_PROP \
    "\"auth_token\":{\"type\":\"string\",\"description\":\"Token from authenticate_agent " \
    "(sct_... or a JWT)\"}"
#define APP_SID_PROP \
    "\"session_id\":{\"type\":\"string\",\"description\":\"Session id (session_ + 16 hex)\"}"
#define APP_RO "{\"readOnlyHint\":true,\"openWorldHint\":false}"
#define APP_RW "{\"readOnlyHint\":false,\"destructiveHint\":false,\"openWorldHint\":false}"
#define APP_DEL \
    "{\"readOnlyHint\":false,\"destructiveHint\":true,\"idempotentHint\":true,\"openWorldHint\":" \
    "false}"

#endif
