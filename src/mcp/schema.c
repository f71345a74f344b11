/* mcp/schema.c — the subset of JSON Schema (2020-12) used to validate tool arguments:
 * type (string or array), properties, required, additionalProperties (false or a schema),
 * enum, const, minimum/maximum, exclusiveMinimum/Maximum, minLength/maxLength (code
 * points), pattern is ignored, items, minItems/maxItems, anyOf/oneOf/allOf.
 * Unknown keywords are ignored. Error messages name the failing path ("$.limit").
 * Must not: fetch $refs or allocate per validated value beyond the message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mcp/mcp_internal.h"

static bool type_ok(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    return true;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static bool fail(char *msg, size_t ml, const char *path, const char *what)
{
    snprintf(msg, ml, "%s: %s", path, what);
    return false;
}

static bool validate(const json_t *sc, const json_t *v, const char *path, char *msg, size_t ml)
{
    if (json_is_true(sc) || !json_is_object(sc))
        return true;
    if (json_is_false(sc))
        return fail(msg, ml, path, "not allowed");
    const json_t *t = json_object_get(sc, "type");
    if (json_is_string(t) && !type_ok(json_string_value(t), v)) {
        char w[96];
        snprintf(w, sizeof w, "must be of type %s", json_string_value(t));
        return fail(msg, ml, path, w);
    }
    if (json_is_array(t)) {
        bool any = false;
        size_t i;
        const json_t *x;
        json_array_foreach(t, i, x) if (json_is_string(x) && type_ok(json_string_value(x), v)) any = true;
        if (!any)
            return fail(msg, ml, path, "has the wrong type");
    }
    const json_t *en = json_object_get(sc, "enum");
    if (json_is_array(en)) {
        bool any = false;
        size_t i;
        const json_t *x;
        json_array_foreach(en, i, x) if (json_equal((json_t *)x, (json_t *)v)) any = true;
        if (!any)
            return fail(msg, ml, path, "is not one of the allowed values");
    }
    const json_t *cn = json_object_get(sc, "const");
    if (cn && !json_equal((json_t *)cn, (json_t *)v))
        return fail(msg, ml, path, "must equal the constant value");
    if (json_is_number(v)) {
        double d = json_number_value(v);
        const json_t *k;
        if ((k = json_object_get(sc, "minimum")) && json_is_number(k) && d < json_number_value(k))
            return fail(msg, ml, path, "is below the minimum");
        if ((k = json_object_get(sc, "maximum")) && json_is_number(k) && d > json_number_value(k))
            return fail(msg, ml, path, "is above the maximum");
        if ((k = json_object_get(sc, "exclusiveMinimum")) && json_is_number(k) && d <= json_number_value(k))
            return fail(msg, ml, path, "is not above the exclusive minimum");
        if ((k = json_object_get(sc, "exclusiveMaximum")) && json_is_number(k) && d >= json_number_value(k))
            return fail(msg, ml, path, "is not below the exclusive maximum");
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        const json_t *k;
        if ((k = json_object_get(sc, "minLength")) && json_is_integer(k) && (json_int_t)n < json_integer_value(k))
            return fail(msg, ml, path, "is too short");
        if ((k = json_object_get(sc, "maxLength")) && json_is_integer(k) && (json_int_t)n > json_integer_value(k))
            return fail(msg, ml, path, "is too long");
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v), i;
        const json_t *k, *x;
        if ((k = json_object_get(sc, "minItems")) && json_is_integer(k) && (json_int_t)n < json_integer_value(k))
            return fail(msg, ml, path, "has too few items");
        if ((k = json_object_get(sc, "maxItems")) && json_is_integer(k) && (json_int_t)n > json_integer_value(k))
            return fail(msg, ml, path, "has too many items");
        const json_t *items = json_object_get(sc, "items");
        if (items)
            json_array_foreach(v, i, x) {
                char p[256];
                snprintf(p, sizeof p, "%s[%zu]", path, i);
                if (!validate(items, x, p, msg, ml))
                    return false;
            }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(sc, "properties");
        const json_t *req = json_object_get(sc, "required");
        const json_t *addl = json_object_get(sc, "additionalProperties");
        size_t i;
        const json_t *x;
        const char *key;
        json_array_foreach(req, i, x) {
            if (json_is_string(x) && !json_object_get(v, json_string_value(x))) {
                char p[256];
                snprintf(p, sizeof p, "%s.%s", path, json_string_value(x));
                return fail(msg, ml, p, "is required");
            }
        }
        json_object_foreach((json_t *)v, key, x) {
            char p[256];
            snprintf(p, sizeof p, "%s.%s", path, key);
            const json_t *ps = props ? json_object_get(props, key) : NULL;
            if (ps) {
                if (!validate(ps, x, p, msg, ml))
                    return false;
            } else if (json_is_false(addl)) {
                return fail(msg, ml, p, "is not an accepted argument");
            } else if (json_is_object(addl) && !validate(addl, x, p, msg, ml)) {
                return false;
            }
        }
    }
    const json_t *all = json_object_get(sc, "allOf"), *x;
    size_t i;
    json_array_foreach(all, i, x) if (!validate(x, v, path, msg, ml)) return false;
    const char *alts[] = {"anyOf", "oneOf"};
    for (int a = 0; a < 2; a++) {
        const json_t *alt = json_object_get(sc, alts[a]);
        if (!json_is_array(alt) || !json_array_size(alt))
            continue;
        size_t ok = 0;
        char tmp[8];
        json_array_foreach(alt, i, x) if (validate(x, v, path, tmp, sizeof tmp)) ok++;
        if (ok == 0 || (a == 1 && ok != 1))
            return fail(msg, ml, path, "does not match the allowed forms");
    }
    return true;
}

bool mcp_schema_validate(const json_t *schema, const json_t *v, char *msg, size_t msglen)
{
    return validate(schema, v, "$", msg, msglen);
}

bool mcp_schema_check(const json_t *schema, char *msg, size_t msglen)
{
    const json_t *props = json_object_get(schema, "properties");
    if (props && !json_is_object(props))
        return fail(msg, msglen, "$", "properties must be an object");
    const json_t *req = json_object_get(schema, "required");
    if (req && !json_is_array(req))
        return fail(msg, msglen, "$", "required must be an array");
    return true;
}
