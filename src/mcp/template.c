/* mcp/template.c — RFC 6570 level-1 URI templates ("test://template/{id}/data"): checking
 * a template is supported and matching a URI against it, yielding the variables
 * percent-decoded, and naming its variables.
 * Must not: expand templates or support operators ({+x}, {/x}, {?x}) — callers register
 * only simple templates. */
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

bool mcp_template_valid(const char *t)
{
    for (const char *p = t; *p; p++) {
        if (*p == '}')
            return false;
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (!end || end == p + 1)
            return false;
        for (const char *q = p + 1; q < end; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '_'))
                return false;
        if (end[1] == '{')
            return false; /* adjacent variables are ambiguous */
        p = end;
    }
    return true;
}

bool mcp_template_has_var(const char *t, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end)
            return false;
        if ((size_t)(end - p - 1) == nl && memcmp(p + 1, name, nl) == 0)
            return true;
    }
    return false;
}

bool mcp_template_match(const char *t, const char *uri, json_t **vars)
{
    json_t *v = json_object();
    const char *u = uri;
    while (*t) {
        if (*t != '{') {
            if (*t != *u)
                goto fail;
            t++;
            u++;
            continue;
        }
        const char *end = strchr(t, '}');
        char name[128];
        size_t nl = (size_t)(end - t - 1);
        if (nl >= sizeof name)
            goto fail;
        memcpy(name, t + 1, nl);
        name[nl] = '\0';
        t = end + 1;
        /* the value runs to the next literal character of the template (or the end) */
        const char *start = u;
        while (*u && *u != '/' && *u != '?' && *u != '#' && (*t == '\0' || *u != *t))
            u++;
        if (u == start)
            goto fail;
        char *dec;
        if (!str_percent_decode(start, (size_t)(u - start), &dec))
            goto fail;
        json_object_set_new(v, name, json_string(dec));
        free(dec);
    }
    if (*u)
        goto fail;
    *vars = v;
    return true;
fail:
    json_decref(v);
    return false;
}
