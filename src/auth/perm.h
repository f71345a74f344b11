/* auth/perm.h — permissions (read, write, admin, debug) as a bit set, and the map
 * from agent types to the permissions they may hold: the built-in map of the tool
 * contract, optionally redefined by a JSON file (PERMISSIONS_CONFIG_FILE).
 * Must not: decide what a permission allows (that is app/'s one check function),
 * or know about tokens. A map is immutable once built; any thread may read it. */
#ifndef CTXD_AUTH_PERM_H
#define CTXD_AUTH_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "base/conf.h"
#include "base/err.h"

typedef unsigned auth_perms;

#define AUTH_PERM_READ 0x1u
#define AUTH_PERM_WRITE 0x2u
#define AUTH_PERM_ADMIN 0x4u
#define AUTH_PERM_DEBUG 0x8u
#define AUTH_PERM_ALL 0xFu
#define AUTH_PERM_COUNT 4

/* "read" -> AUTH_PERM_READ (exact, lowercase); false for anything else. */
bool auth_perm_parse(const char *name, auth_perms *bit);
/* The name of one bit ("read"), NULL if not exactly one known bit. */
const char *auth_perm_name(auth_perms bit);
/* ["read","write",...] in the canonical order read, write, admin, debug. New ref. */
json_t *auth_perms_to_json(auth_perms p);
/* A JSON array of permission names -> bits. ERR_INVALID naming the element and
 * listing the accepted names for anything else (not an array, not a string,
 * unknown name). Duplicates are fine. */
err_code auth_perms_from_json(const json_t *arr, auth_perms *out, err_t *e);
/* "read, write" (names separated by commas, white space around them ignored, an empty
 * list is none) -> bits. ERR_INVALID naming an unknown name. */
err_code auth_perms_parse_list(const char *list, auth_perms *out, err_t *e);
/* "read,write" (canonical order) into buf; "" for none. Returns buf. */
char *auth_perms_format(auth_perms p, char *buf, size_t n);

/* ---- agent type -> permissions ------------------------------------------------- */

#define AUTH_AGENT_TYPE_MAX 50 /* characters (code points), as in the contract */

typedef struct auth_permmap auth_permmap;

/* The built-in map: the coding agents -> read,write (the contract's claude and gemini,
 * and codex, cursor, copilot, qwen, windsurf, kiro, opencode, zed, cline); admin, system
 * -> all four; test -> read,write,debug; generic -> read; any other type -> default
 * (read). */
auth_permmap *auth_permmap_default(void);
/* Loads a map file (see perm_file.c for the format): the built-in map with the
 * file's entries replacing or adding types, and its "default" replacing the
 * default. ERR_IO / ERR_INVALID with a message naming the file, the line and
 * column for JSON syntax errors, the JSON path otherwise, and what is wrong. */
err_code auth_permmap_load(const char *path, auth_permmap **out, err_t *e);
/* PERMISSIONS_CONFIG_FILE when set, else the built-in map. */
err_code auth_permmap_from_conf(const conf_t *c, auth_permmap **out, err_t *e);
void auth_permmap_free(auth_permmap *m); /* NULL is fine */

/* Agent types are matched ASCII case-insensitively ("Claude" is "claude"). */
auth_perms auth_permmap_lookup(const auth_permmap *m, const char *agent_type);
auth_perms auth_permmap_default_perms(const auth_permmap *m);
/* What an agent of that type asking for `requested` gets: the intersection. */
static inline auth_perms auth_perms_grant(const auth_permmap *m, const char *agent_type,
                                          auth_perms requested)
{
    return auth_permmap_lookup(m, agent_type) & requested;
}

/* ---- for perm_file.c (building a map) ------------------------------------------ */
auth_permmap *auth_permmap_new_empty(auth_perms def);
/* Adds or replaces a type. */
void auth_permmap_set(auth_permmap *m, const char *agent_type, auth_perms p);
void auth_permmap_set_default(auth_permmap *m, auth_perms p);
size_t auth_permmap_count(const auth_permmap *m);

#endif
