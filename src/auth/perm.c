/* auth/perm.c — permission names and bits, and the agent-type map (a small array:
 * a handful of types, looked up once per token). The JSON file reader is in
 * perm_file.c. Must not: read files or the environment, or log. */
#include "auth/perm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"

static const char *const NAMES[AUTH_PERM_COUNT] = {"read", "write", "admin", "debug"};

bool auth_perm_parse(const char *name, auth_perms *bit)
{
    if (!name)
        return false;
    for (unsigned i = 0; i < AUTH_PERM_COUNT; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            if (bit)
                *bit = 1u << i;
            return true;
        }
    return false;
}

const char *auth_perm_name(auth_perms bit)
{
    for (unsigned i = 0; i < AUTH_PERM_COUNT; i++)
        if (bit == (1u << i))
            return NAMES[i];
    return NULL;
}

json_t *auth_perms_to_json(auth_perms p)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < AUTH_PERM_COUNT; i++)
        if (p & (1u << i))
            json_array_append_new(a, json_string(NAMES[i]));
    return a;
}

char *auth_perms_format(auth_perms p, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    buf[0] = '\0';
    size_t len = 0;
    for (unsigned i = 0; i < AUTH_PERM_COUNT; i++)
        if (p & (1u << i)) {
            int w = snprintf(buf + len, n - len, "%s%s", len ? "," : "", NAMES[i]);
            if (w < 0 || (size_t)w >= n - len)
                break;
            len += (size_t)w;
        }
    return buf;
}

err_code auth_perms_parse_list(const char *list, auth_perms *out, err_t *e)
{
    *out = 0;
    if (!list)
        return err_set(e, ERR_INVALID, "expected a list of permissions");
    char *copy = xstrdup(list), *save = NULL;
    err_code rc = ERR_OK;
    for (char *t = strtok_r(copy, ",", &save); t && rc == ERR_OK; t = strtok_r(NULL, ",", &save)) {
        char *name = str_trim(t);
        auth_perms bit;
        if (!*name)
            continue;
        if (auth_perm_parse(name, &bit))
            *out |= bit;
        else
            rc = err_set(e, ERR_INVALID,
                         "unknown permission \"%.60s\" (expected read, write, admin or debug, "
                         "separated by commas)",
                         name);
    }
    free(copy);
    return rc;
}

err_code auth_perms_from_json(const json_t *arr, auth_perms *out, err_t *e)
{
    if (!json_is_array(arr))
        return err_set(e, ERR_INVALID,
                       "expected an array of permission names "
                       "(read, write, admin, debug)");
    auth_perms p = 0;
    size_t i;
    const json_t *v;
    json_array_foreach (arr, i, v) {
        if (!json_is_string(v))
            return err_set(e, ERR_INVALID,
                           "element %zu: expected a permission name "
                           "(read, write, admin, debug)",
                           i);
        auth_perms bit;
        if (!auth_perm_parse(json_string_value(v), &bit)) {
            /* the name is not a secret; bound its length in the message */
            return err_set(e, ERR_INVALID,
                           "element %zu: unknown permission \"%.60s\" "
                           "(expected read, write, admin or debug)",
                           i, json_string_value(v));
        }
        p |= bit;
    }
    if (out)
        *out = p;
    return ERR_OK;
}

/* ---- the map ------------------------------------------------------------------ */

typedef struct pm_entry {
    char *type;
    auth_perms perms;
} pm_entry;

struct auth_permmap {
    pm_entry *v;
    size_t n, cap;
    auth_perms def;
};

auth_permmap *auth_permmap_new_empty(auth_perms def)
{
    auth_permmap *m = xcalloc(1, sizeof *m);
    m->def = def & AUTH_PERM_ALL;
    return m;
}

static pm_entry *find(const auth_permmap *m, const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (str_eq_ci(m->v[i].type, type))
            return &m->v[i];
    return NULL;
}

void auth_permmap_set(auth_permmap *m, const char *agent_type, auth_perms p)
{
    pm_entry *en = find(m, agent_type);
    if (en) {
        en->perms = p & AUTH_PERM_ALL;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->v = xrealloc(m->v, m->cap * sizeof *m->v);
    }
    m->v[m->n].type = xstrdup(agent_type);
    m->v[m->n].perms = p & AUTH_PERM_ALL;
    m->n++;
}

void auth_permmap_set_default(auth_permmap *m, auth_perms p)
{
    m->def = p & AUTH_PERM_ALL;
}
size_t auth_permmap_count(const auth_permmap *m)
{
    return m ? m->n : 0;
}

/* The types that read and write: the contract's claude and gemini, and the other coding
 * agents whose users connect them (the clients of `ctxd client-config`). */
static const char *const CODING_AGENTS[] = {"claude",   "gemini", "codex",    "cursor",
                                            "copilot",  "qwen",   "windsurf", "kiro",
                                            "opencode", "zed",    "cline"};

auth_permmap *auth_permmap_default(void)
{
    auth_permmap *m = auth_permmap_new_empty(AUTH_PERM_READ);
    for (size_t i = 0; i < sizeof CODING_AGENTS / sizeof CODING_AGENTS[0]; i++)
        auth_permmap_set(m, CODING_AGENTS[i], AUTH_PERM_READ | AUTH_PERM_WRITE);
    auth_permmap_set(m, "admin", AUTH_PERM_ALL);
    auth_permmap_set(m, "system", AUTH_PERM_ALL);
    auth_permmap_set(m, "test", AUTH_PERM_READ | AUTH_PERM_WRITE | AUTH_PERM_DEBUG);
    auth_permmap_set(m, "generic", AUTH_PERM_READ);
    return m;
}

void auth_permmap_free(auth_permmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].type);
    free(m->v);
    free(m);
}

auth_perms auth_permmap_lookup(const auth_permmap *m, const char *agent_type)
{
    if (!m)
        return 0;
    const pm_entry *en = find(m, agent_type);
    return en ? en->perms : m->def;
}

auth_perms auth_permmap_default_perms(const auth_permmap *m)
{
    return m ? m->def : 0;
}
