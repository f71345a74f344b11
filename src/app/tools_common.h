/* app/tools_common.h — the tool annotations shared by the tool tables (the input
 * schemas are src/app/schemas/<tool>.json, see schemas.h).
 * Must not: hold logic. */
#ifndef CTXD_APP_TOOLS_COMMON_H
#define CTXD_APP_TOOLS_COMMON_H

#define APP_RO "{\"readOnlyHint\":true,\"openWorldHint\":false}"
#define APP_RW "{\"readOnlyHint\":false,\"destructiveHint\":false,\"openWorldHint\":false}"
#define APP_DEL \
    "{\"readOnlyHint\":false,\"destructiveHint\":true,\"idempotentHint\":true,\"openWorldHint\":" \
    "false}"

#endif
