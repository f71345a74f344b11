/* app/schemas.c — loads a tool's input schema from the embedded schemas/<tool>.json
 * files (schemas.h). A JSON string "@<name>" anywhere in a schema (an object member's
 * value or an array element) stands for a value written once elsewhere:
 *   "@shared:<key>"         the member <key> of schemas/shared.json: a property schema
 *                           several tools share (auth_token, session_id, ...)
 *   "@visibility_names"     the visibility names as prose, "public, private, agent_only
 *                           or admin_only" (store.h's name table, in its order)
 *   "@visibility_names_default"
 *                           the same, then ". Default: public" (the default's name)
 *   "@visibility_default"   the name of the default visibility (STORE_VIS_PUBLIC)
 *   "@visibility:<name>"    <name>, which must be a visibility name
 *   "@agent_id_max", "@agent_type_max"
 *                           AUTH_AGENT_ID_MAX, AUTH_AGENT_TYPE_MAX (integers)
 * Anything else starting with "@" refuses the file, so a typo fails at registration.
 * Must not: hold a schema (they are the JSON files) or spell a visibility name. */
#include <string.h>

#include "app/schemas.h"
#include "auth/identity.h"
#include "auth/perm.h"
#include "base/sbuf.h"
#include "store/store.h"

static const app_schema_file *find(const char *name)
{
    for (const app_schema_file *f = app_schema_files; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* "public, private, agent_only or admin_only", then ". Default: public" if with_default */
static json_t *visibility_names(bool with_default)
{
    sbuf_t b = SBUF_INIT;
    for (unsigned v = 0; v < STORE_VIS_COUNT; v++)
        sbuf_printf(&b, "%s%s",
                    v == 0                    ? ""
                    : v + 1 < STORE_VIS_COUNT ? ", "
                                              : " or ",
                    store_visibility_name((store_visibility)v));
    if (with_default)
        sbuf_printf(&b, ". Default: %s", store_visibility_name(STORE_VIS_PUBLIC));
    json_t *s = json_string(sbuf_cstr(&b));
    sbuf_free(&b);
    return s;
}

/* The value "@<ref>" of file `file` stands for (new reference), or NULL with *e. */
static json_t *ref_value(const char *ref, const json_t *shared, const char *file, err_t *e)
{
    store_visibility v;
    json_t *sv = shared && !strncmp(ref, "shared:", 7) ? json_object_get(shared, ref + 7) : NULL;
    if (sv)
        return json_deep_copy(sv);
    if (!strcmp(ref, "visibility_names") || !strcmp(ref, "visibility_names_default"))
        return visibility_names(ref[16] != '\0');
    if (!strcmp(ref, "visibility_default"))
        return json_string(store_visibility_name(STORE_VIS_PUBLIC));
    if (!strncmp(ref, "visibility:", 11) && store_visibility_parse(ref + 11, &v))
        return json_string(store_visibility_name(v));
    if (!strcmp(ref, "agent_id_max"))
        return json_integer(AUTH_AGENT_ID_MAX);
    if (!strcmp(ref, "agent_type_max"))
        return json_integer(AUTH_AGENT_TYPE_MAX);
    err_set(e, ERR_INVALID, "app: schemas/%s.json: unknown value \"@%.64s\"", file, ref);
    return NULL;
}

/* The replacement of v when it is an "@..." string (new reference), else NULL; *rc. */
static json_t *replacement(const json_t *v, const json_t *shared, const char *file, err_code *rc,
                           err_t *e)
{
    const char *s = json_string_value(v);
    if (!s || s[0] != '@')
        return NULL;
    json_t *r = ref_value(s + 1, shared, file, e);
    if (!r)
        *rc = ERR_INVALID;
    return r;
}

/* Replaces every "@..." string inside v, in place. */
static err_code resolve(json_t *v, const json_t *shared, const char *file, err_t *e)
{
    err_code rc = ERR_OK;
    if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it && rc == ERR_OK;
             it = json_object_iter_next(v, it)) {
            json_t *r = replacement(json_object_iter_value(it), shared, file, &rc, e);
            if (r)
                json_object_iter_set_new(v, it, r);
            else if (rc == ERR_OK)
                rc = resolve(json_object_iter_value(it), shared, file, e);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && rc == ERR_OK; i++) {
            json_t *r = replacement(json_array_get(v, i), shared, file, &rc, e);
            if (r)
                json_array_set_new(v, i, r);
            else if (rc == ERR_OK)
                rc = resolve(json_array_get(v, i), shared, file, e);
        }
    }
    return rc;
}

/* schemas/<name>.json parsed and resolved against shared (NULL: no "@shared:"). */
static json_t *load(const char *name, const json_t *shared, err_t *e)
{
    const app_schema_file *f = find(name);
    if (!f) {
        err_set(e, ERR_NOTFOUND, "app: no input schema schemas/%s.json", name);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(f->json, f->len, 0, &je);
    if (!v) {
        err_set(e, ERR_INVALID, "app: schemas/%s.json: line %d: %s", name, je.line, je.text);
        return NULL;
    }
    if (!json_is_object(v) || resolve(v, shared, name, e) != ERR_OK) {
        if (!json_is_object(v))
            err_set(e, ERR_INVALID, "app: schemas/%s.json is not a JSON object", name);
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *app_schema_load(const char *name, err_t *e)
{
    json_t *shared = load("shared", NULL, e);
    if (!shared)
        return NULL;
    json_t *v = load(name, shared, e);
    json_decref(shared);
    const char *type = json_string_value(json_object_get(v, "type"));
    if (v && (!type || strcmp(type, "object") != 0)) {
        err_set(e, ERR_INVALID,
                "app: schemas/%s.json is not an object schema (\"type\": \"object\")", name);
        json_decref(v);
        return NULL;
    }
    return v;
}
