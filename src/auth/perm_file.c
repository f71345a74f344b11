/* auth/perm_file.c — reads the permissions map file (PERMISSIONS_CONFIG_FILE):
 *
 *   {
 *     "agent_types": { "claude": ["read", "write"], "reviewer": ["read"] },
 *     "default": ["read"]
 *   }
 *
 * Both keys are optional. Types listed replace (or add to) the built-in map; types
 * not listed keep their built-in permissions; "default" applies to every type not
 * in the map. Any other key, an unknown permission name, a type name that is
 * empty or longer than 50 characters, or the same type twice (case-insensitively)
 * is an error. Errors name the file, the line and column for JSON syntax errors
 * (jansson's position), the JSON path for the others, and what is wrong.
 * Must not: fall back to the built-in map when the file is bad (an operator who
 * wrote a file meant it), or log. */
#include "auth/perm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/identity.h"
#include "base/sbuf.h"

#define PERMFILE_MAX_BYTES (1u << 20)

/* Messages below leave out the file: auth_permmap_load puts "permissions file
 * '<path>': " in front of every one. */
static err_code bad(err_t *e, const char *where, const err_t *inner)
{
    return err_set(e, ERR_INVALID, "%s: %s", where, inner->msg);
}

static err_code parse_map(json_t *root, auth_permmap *m, err_t *e)
{
    err_t in;
    if (!json_is_object(root))
        return err_set(e, ERR_INVALID,
                       "expected a JSON object with \"agent_types\" and/or \"default\"");
    const char *k;
    json_t *v;
    json_object_foreach (root, k, v) {
        if (strcmp(k, "agent_types") != 0 && strcmp(k, "default") != 0)
            return err_set(e, ERR_INVALID,
                           "unknown key \"%.60s\" (expected \"agent_types\" or \"default\")", k);
    }
    json_t *def = json_object_get(root, "default");
    if (def) {
        auth_perms p;
        if (auth_perms_from_json(def, &p, &in) != ERR_OK)
            return bad(e, "default", &in);
        auth_permmap_set_default(m, p);
    }
    json_t *types = json_object_get(root, "agent_types");
    if (!types)
        return ERR_OK;
    if (!json_is_object(types))
        return err_set(e, ERR_INVALID,
                       "agent_types: expected an object mapping agent types to permission lists");
    /* detect case-insensitive duplicates among the file's own keys */
    auth_permmap *seen = auth_permmap_new_empty(0);
    err_code rc = ERR_OK;
    json_object_foreach (types, k, v) {
        char where[128];
        snprintf(where, sizeof where, "agent_types.%.60s", k);
        if (!auth_valid_agent_type(k)) {
            rc =
                err_set(e, ERR_INVALID, "%s: an agent type must be 1..%d characters of valid UTF-8",
                        where, AUTH_AGENT_TYPE_MAX);
            break;
        }
        if (auth_permmap_lookup(seen, k) != 0) {
            rc = err_set(e, ERR_INVALID,
                         "%s: the same agent type appears twice (names are case-insensitive)",
                         where);
            break;
        }
        auth_perms p;
        if (auth_perms_from_json(v, &p, &in) != ERR_OK) {
            rc = bad(e, where, &in);
            break;
        }
        auth_permmap_set(seen, k, 1);
        auth_permmap_set(m, k, p);
    }
    auth_permmap_free(seen);
    return rc;
}

/* Reads and parses the file into a new map (*out). */
static err_code load(const char *path, auth_permmap **out, err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, ERR_IO, "cannot open: %s", strerror(errno));
    sbuf_t b = SBUF_INIT;
    bool ioerr = sbuf_read_stream(&b, f, PERMFILE_MAX_BYTES) != 0;
    fclose(f);
    if (ioerr) {
        sbuf_free(&b);
        return err_set(e, ERR_IO, "read error");
    }
    if (b.len > PERMFILE_MAX_BYTES) {
        sbuf_free(&b);
        return err_set(e, ERR_INVALID, "larger than %u bytes", PERMFILE_MAX_BYTES);
    }
    json_error_t je;
    json_t *root = json_loadb(b.p ? b.p : "", b.len, JSON_REJECT_DUPLICATES, &je);
    sbuf_free(&b);
    if (!root)
        return err_set(e, ERR_INVALID, "line %d, column %d: %s", je.line, je.column, je.text);
    auth_permmap *m = auth_permmap_default();
    err_code rc = parse_map(root, m, e);
    json_decref(root);
    if (rc != ERR_OK) {
        auth_permmap_free(m);
        return rc;
    }
    *out = m;
    return ERR_OK;
}

err_code auth_permmap_load(const char *path, auth_permmap **out, err_t *e)
{
    *out = NULL;
    if (!path || !*path)
        return err_set(e, ERR_INVALID, "permissions file: empty path");
    err_code rc = load(path, out, e);
    if (rc != ERR_OK)
        err_prefix(e, "permissions file '%s'", path);
    return rc;
}

err_code auth_permmap_from_conf(const conf_t *c, auth_permmap **out, err_t *e)
{
    const char *path = c ? conf_get(c, "PERMISSIONS_CONFIG_FILE") : NULL;
    if (!path || !*path) {
        *out = auth_permmap_default();
        return ERR_OK;
    }
    err_code rc = auth_permmap_load(path, out, e);
    if (rc != ERR_OK) {
        const char *src = conf_source_label(c, "PERMISSIONS_CONFIG_FILE");
        err_prefix(e, "PERMISSIONS_CONFIG_FILE (from %s)", src ? src : "default");
    }
    return rc;
}
