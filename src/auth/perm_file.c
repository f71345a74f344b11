/* auth/perm_file.c — reads the permissions map file (PERMISSIONS_CONFIG_FILE):
 *
 *   {
 *     "agent_types": { "claude": ["read", "write"], "reviewer": ["read"] },
 *     "default": ["read"]
 *   }
 *
 * or shared-context-server's form of the same map, read the same way:
 *
 *   { "config": {
 *       "available_permissions": ["read", "write", "admin", "debug"],
 *       "default_permissions": ["read"],
 *       "agent_types": { "claude": { "permissions": ["read", "write"],
 *                                    "description": "..." } } } }
 *
 * (default_permissions is "default"; each type's "permissions" its list; descriptions
 * and available_permissions are checked and otherwise ignored).
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

/* shared-context-server's {"config": {...}} as ctxd's form (a new reference in *out). */
static err_code from_scs(json_t *root, json_t **out, err_t *e)
{
    json_t *cfg = json_object_get(root, "config");
    if (json_object_size(root) != 1 || !json_is_object(cfg))
        return err_set(e, ERR_INVALID,
                       "a shared-context-server permissions file is {\"config\": {...}} alone");
    const char *k;
    json_t *v;
    json_object_foreach (cfg, k, v) {
        if (strcmp(k, "available_permissions") != 0 && strcmp(k, "default_permissions") != 0 &&
            strcmp(k, "agent_types") != 0)
            return err_set(e, ERR_INVALID,
                           "config: unknown key \"%.60s\" (expected \"available_permissions\", "
                           "\"default_permissions\" or \"agent_types\")",
                           k);
    }
    err_t in;
    auth_perms ignored;
    json_t *avail = json_object_get(cfg, "available_permissions");
    if (avail && auth_perms_from_json(avail, &ignored, &in) != ERR_OK)
        return bad(e, "config.available_permissions", &in);
    json_t *map = json_object();
    json_t *def = json_object_get(cfg, "default_permissions");
    if (def)
        json_object_set(map, "default", def);
    json_t *types = json_object_get(cfg, "agent_types");
    if (types && !json_is_object(types)) {
        json_decref(map);
        return err_set(e, ERR_INVALID,
                       "config.agent_types: expected an object mapping agent "
                       "types to {\"permissions\": [...]}");
    }
    json_t *tmap = types ? json_object() : NULL;
    json_object_foreach (types, k, v) {
        json_t *perms = json_object_get(v, "permissions");
        const char *bad_key = NULL;
        const char *kk;
        json_t *vv;
        json_object_foreach (v, kk, vv)
            if (strcmp(kk, "permissions") != 0 &&
                !(strcmp(kk, "description") == 0 && json_is_string(vv)))
                bad_key = kk;
        if (!json_is_object(v) || !perms || bad_key) {
            json_decref(tmap);
            json_decref(map);
            return err_set(e, ERR_INVALID,
                           "config.agent_types.%.60s: expected {\"permissions\": [...], "
                           "\"description\": \"...\"}%s%.60s",
                           k, bad_key ? ", not the key " : "", bad_key ? bad_key : "");
        }
        json_object_set(tmap, k, perms);
    }
    if (tmap)
        json_object_set_new(map, "agent_types", tmap);
    *out = map;
    return ERR_OK;
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
    if (json_is_object(root) && json_object_get(root, "config")) { /* the SCS form */
        json_t *map = NULL;
        err_code rc = from_scs(root, &map, e);
        json_decref(root);
        if (rc != ERR_OK)
            return rc;
        root = map;
    }
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
