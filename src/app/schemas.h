/* app/schemas.h — the tool input schemas: the files src/app/schemas/<tool>.json,
 * compiled into the binary by cmake/embed.cmake (kind "schemas"), and their loader,
 * which app_register and docs://tools use.
 * Must not: be included outside src/app (and its tests). */
#ifndef CTXD_APP_SCHEMAS_H
#define CTXD_APP_SCHEMAS_H

#include <stddef.h>
#include <jansson.h>
#include "base/err.h"

typedef struct app_schema_file {
    const char *name; /* the file name without ".json": a tool's name, or "shared" */
    const char *json; /* the file's bytes, NUL-terminated */
    size_t len;
} app_schema_file;

/* Generated: every schemas/ file by name, terminated by name == NULL. */
extern const app_schema_file app_schema_files[];

/* The input schema of tool `name` (schemas/<name>.json), every "@..." string in it
 * replaced by the value it stands for (see schemas.c): a new reference, or NULL with
 * *e: ERR_NOTFOUND when there is no such file, ERR_INVALID naming the file when it is
 * not a JSON object schema ("type": "object") or holds an unknown "@..." value. */
json_t *app_schema_load(const char *name, err_t *e);

#endif
