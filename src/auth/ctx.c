/* auth/ctx.c — the auth context: construction from options or configuration (with the
 * shared key's policy), the API key check and the small accessors. Must not: log or echo the JWT key or the
 * API key (messages name the variable only), keep secrets after auth_ctx_free. */
#include "auth/auth.h"
#include "auth/ctx_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "auth/codec.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "base/sbuf.h"

static utc_us default_clock(void *ud)
{
    (void)ud;
    return utc_now();
}

/* The shared key's policy of o into a; ERR_INVALID naming the variable. */
static err_code shared_policy(auth_ctx *a, const auth_opts *o, err_t *e)
{
    a->shared_perms = AUTH_SHARED_DEFAULT_PERMS;
    if (o->shared_key_permissions &&
        auth_perms_parse_list(o->shared_key_permissions, &a->shared_perms, e) != ERR_OK)
        return err_prefix(e, "SHARED_KEY_PERMISSIONS");
    a->shared_types_default = !o->shared_key_types;
    if (!o->shared_key_types)
        return ERR_OK;
    char *copy = xstrdup(o->shared_key_types), *save = NULL;
    err_code rc = ERR_OK;
    size_t cap = 0;
    for (char *t = strtok_r(copy, ",", &save); t && rc == ERR_OK; t = strtok_r(NULL, ",", &save)) {
        char *name = str_trim(t);
        if (!*name)
            continue;
        if (strcmp(name, "*") == 0) {
            a->shared_any = true;
        } else if (!auth_valid_agent_type(name)) {
            rc = err_set(e, ERR_INVALID,
                         "SHARED_KEY_AGENT_TYPES: \"%.60s\" is not an agent type (1..%d "
                         "characters without control characters)",
                         name, AUTH_AGENT_TYPE_MAX);
        } else {
            if (a->nshared_types == cap)
                a->shared_types =
                    xrealloc(a->shared_types, (cap = cap ? 2 * cap : 8) * sizeof(char *));
            a->shared_types[a->nshared_types++] = xstrdup(name);
        }
    }
    free(copy);
    if (rc == ERR_OK && a->shared_any && a->nshared_types)
        rc = err_set(e, ERR_INVALID,
                     "SHARED_KEY_AGENT_TYPES: either * (every type) or a list of types, not both");
    return rc;
}

static void free_policy(auth_ctx *a)
{
    for (size_t i = 0; i < a->nshared_types; i++)
        free(a->shared_types[i]);
    free(a->shared_types);
}

err_code auth_ctx_new(const auth_opts *o, auth_ctx **out, err_t *e)
{
    *out = NULL;
    auth_permmap *perms = o->perms;
    size_t klen = o->jwt_secret ? strlen(o->jwt_secret) : 0;
    if (klen == 0) {
        auth_permmap_free(perms);
        return err_set(e, ERR_INVALID,
                       "JWT_SECRET_KEY is not set (run `ctxd setup` to "
                       "generate one)");
    }
    if (klen < AUTH_MIN_SECRET_LEN) /* existing deployments may have short keys: warn */
        LOG_W("auth",
              "JWT_SECRET_KEY is only %zu bytes; use at least %d random bytes for "
              "HS256 (`ctxd setup` generates one)",
              klen, AUTH_MIN_SECRET_LEN);
    if (o->jwt_expiry_s < 0 || o->protected_expiry_s < 0) {
        auth_permmap_free(perms);
        return err_set(e, ERR_INVALID, "token expiry must not be negative");
    }
    auth_ctx *a = xcalloc(1, sizeof *a);
    a->key = (unsigned char *)xstrdup(o->jwt_secret);
    a->keylen = klen;
    a->api_key = o->api_key && *o->api_key ? xstrdup(o->api_key) : NULL;
    a->jwt_expiry_s = o->jwt_expiry_s ? o->jwt_expiry_s : AUTH_DEFAULT_JWT_EXPIRY_S;
    a->protected_expiry_s =
        o->protected_expiry_s ? o->protected_expiry_s : AUTH_DEFAULT_PROTECTED_EXPIRY_S;
    a->leeway_s = o->leeway_s == 0 ? AUTH_JWT_LEEWAY_S : o->leeway_s < 0 ? 0 : o->leeway_s;
    a->perms = perms ? perms : auth_permmap_default();
    a->store = o->store;
    a->clock = o->clock ? o->clock : default_clock;
    a->clock_ud = o->clock_ud;
    a->cache = auth_tokcache_new();
    err_code rc = shared_policy(a, o, e);
    if (rc != ERR_OK) {
        auth_ctx_free(a);
        return rc;
    }
    *out = a;
    return ERR_OK;
}

static err_code conf_long(const conf_t *c, const char *name, long def, long *v, err_t *e)
{
    /* the variable may not be declared in an older table: fall back to def */
    if (!conf_var_find(name)) {
        *v = def;
        return ERR_OK;
    }
    return conf_get_int(c, name, def, v, e);
}

err_code auth_ctx_from_conf(const conf_t *c, store_t *st, auth_ctx **out, err_t *e)
{
    *out = NULL;
    long jwt_exp, prot_exp;
    err_code rc;
    if ((rc = conf_long(c, "JWT_TOKEN_EXPIRY", AUTH_DEFAULT_JWT_EXPIRY_S, &jwt_exp, e)) != ERR_OK ||
        (rc = conf_long(c, "PROTECTED_TOKEN_EXPIRY", AUTH_DEFAULT_PROTECTED_EXPIRY_S, &prot_exp,
                        e)) != ERR_OK)
        return rc;
    auth_permmap *pm = NULL;
    if ((rc = auth_permmap_from_conf(c, &pm, e)) != ERR_OK)
        return rc;
    auth_opts o = {
        .jwt_secret = conf_get(c, "JWT_SECRET_KEY"),
        .api_key = conf_get(c, "API_KEY"),
        .jwt_expiry_s = jwt_exp,
        .protected_expiry_s = prot_exp,
        .perms = pm,
        .store = st,
        .shared_key_types =
            conf_var_find("SHARED_KEY_AGENT_TYPES") ? conf_get(c, "SHARED_KEY_AGENT_TYPES") : NULL,
        .shared_key_permissions =
            conf_var_find("SHARED_KEY_PERMISSIONS") ? conf_get(c, "SHARED_KEY_PERMISSIONS") : NULL,
    };
    rc = auth_ctx_new(&o, out, e);
    /* errors of the shared key's policy name their variable already */
    if (rc != ERR_OK && e && o.jwt_secret && *o.jwt_secret &&
        !str_starts_with(e->msg, "SHARED_KEY_")) {
        const char *src = conf_source_label(c, "JWT_SECRET_KEY");
        err_prefix(e, "JWT_SECRET_KEY (from %s)", src ? src : "default");
    }
    return rc;
}

void auth_ctx_free(auth_ctx *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->key, a->keylen);
    free(a->key);
    if (a->api_key) {
        OPENSSL_cleanse(a->api_key, strlen(a->api_key));
        free(a->api_key);
    }
    auth_permmap_free(a->perms);
    auth_tokcache_free(a->cache);
    free_policy(a);
    free(a);
}

const auth_permmap *auth_ctx_perms(const auth_ctx *a)
{
    return a->perms;
}
utc_us auth_ctx_now(const auth_ctx *a)
{
    return a->clock(a->clock_ud);
}
long auth_ctx_protected_expiry(const auth_ctx *a)
{
    return a->protected_expiry_s;
}
long auth_ctx_jwt_expiry(const auth_ctx *a)
{
    return a->jwt_expiry_s;
}

bool auth_api_key_configured(const auth_ctx *a)
{
    return a && a->api_key != NULL;
}

bool auth_check_api_key(const auth_ctx *a, const char *presented)
{
    if (!a || !a->api_key || !presented)
        return false;
    return auth_ct_streq(a->api_key, presented);
}
