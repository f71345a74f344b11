/* mcp/schema.c — the subset of JSON Schema (2020-12) used to validate tool arguments:
 * type (string or array), properties, required, additionalProperties (false or a schema),
 * enum, const, minimum/maximum, exclusiveMinimum/Maximum, minLength/maxLength (code
 * points), pattern is ignored, items, minItems/maxItems, anyOf/oneOf/allOf (a value no
 * alternative accepts fails as the one alternative of its type does, "must be >= 0").
 * Unknown keywords are ignored. No string may hold a NUL character (\u0000), whatever
 * the schema. A failure names the failing path ("$.limit"), the top-level argument it
 * belongs to and what was expected ("must be <= 1000, got 5000").
 * Must not: fetch $refs, echo string argument values (they may be secrets) or allocate
 * per validated value. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "mcp/mcp_internal.h"

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* Whether v is of the schema type t: its own type (type_name), an integer as a
 * number, an integral real as an integer; a type this subset does not know
 * accepts anything. */
static bool type_ok(const char *t, const json_t *v)
{
    if (strcmp(t, type_name(v)) == 0)
        return true;
    if (strcmp(t, "number") == 0)
        return json_is_integer(v);
    if (strcmp(t, "integer") == 0)
        return json_is_real(v) && json_real_value(v) == floor(json_real_value(v));
    static const char *const known[] = {"object", "array", "string", "boolean", "null"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(t, known[i]) == 0)
            return false;
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

/* a number as the schema author wrote it: 1000, not 1000.000000 */
static void fmt_num(char *buf, size_t n, double d)
{
    if (d >= -9e15 && d <= 9e15 && d == floor(d))
        snprintf(buf, n, "%lld", (long long)d);
    else
        snprintf(buf, n, "%g", d);
}

static bool fail(mcp_schema_err *err, const char *path, const char *arg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(mcp_schema_err *err, const char *path, const char *arg, const char *fmt, ...)
{
    if (!err)
        return false;
    snprintf(err->path, sizeof err->path, "%s", path);
    snprintf(err->argument, sizeof err->argument, "%s", arg ? arg : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->problem, sizeof err->problem, fmt, ap);
    va_end(ap);
    /* each was cut to fit, maybe inside a character of a long member name */
    str_utf8_cut(err->path);
    str_utf8_cut(err->argument);
    str_utf8_cut(err->problem);
    return false;
}

/* "a, b or c" from a list of type names (a string or an array of them) */
static void join_types(char *buf, size_t n, const json_t *types)
{
    buf[0] = '\0';
    if (json_is_string(types)) {
        snprintf(buf, n, "%s", json_string_value(types));
        return;
    }
    size_t cnt = json_array_size(types), i, len = 0;
    const json_t *x;
    json_array_foreach (types, i, x) {
        const char *sep = i == 0 ? "" : (i + 1 == cnt ? " or " : ", ");
        int w = snprintf(buf + len, n - len, "%s%s", sep,
                         json_is_string(x) ? json_string_value(x) : "?");
        if (w < 0 || (size_t)w >= n - len)
            return;
        len += (size_t)w;
    }
}

/* the compact JSON of the enum's values, shortened with "..." past the buffer */
static void join_values(char *buf, size_t n, const json_t *vals)
{
    size_t i, len = 0;
    const json_t *x;
    buf[0] = '\0';
    json_array_foreach (vals, i, x) {
        char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
        int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", t ? t : "?");
        free(t);
        if (w < 0 || (size_t)w >= n - len) {
            if (n > 4)
                memcpy(buf + n - 4, "...", 4);
            return;
        }
        len += (size_t)w;
    }
}

/* the declared property names, for "accepted: ..." */
static void join_keys(char *buf, size_t n, const json_t *props)
{
    size_t len = 0;
    const char *k;
    const json_t *x;
    buf[0] = '\0';
    json_object_foreach ((json_t *)props, k, x) {
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", k);
        if (w < 0 || (size_t)w >= n - len) {
            if (n > 4)
                memcpy(buf + n - 4, "...", 4);
            return;
        }
        len += (size_t)w;
        (void)x;
    }
}

/* Whether v is of one of the schema types t (a type name or an array of them). */
static bool types_ok(const json_t *t, const json_t *v)
{
    if (json_is_string(t))
        return type_ok(json_string_value(t), v);
    size_t i;
    const json_t *x;
    json_array_foreach (t, i, x)
        if (json_is_string(x) && type_ok(json_string_value(x), v))
            return true;
    return false;
}

/* Appends the type names of t (a name or an array of them) to out, each once (as new
 * strings: the schema is shared between threads, so nothing of it is referenced). */
static void add_types(json_t *out, const json_t *t)
{
    size_t i, j;
    const json_t *x, *y;
    for (i = 0; i < (json_is_array(t) ? json_array_size(t) : 1); i++) {
        x = json_is_array(t) ? json_array_get(t, i) : t;
        const char *name = json_is_string(x) ? json_string_value(x) : "?";
        bool seen = false;
        json_array_foreach (out, j, y)
            seen = seen || strcmp(json_string_value(y), name) == 0;
        if (!seen)
            json_array_append_new(out, json_string(name));
    }
}

static bool validate(const json_t *sc, const json_t *v, const char *path, const char *arg,
                     mcp_schema_err *err);

/* No alternative of anyOf/oneOf accepted v. When exactly one alternative is of v's type,
 * its own failure ("must be >= 0, got -1"); when none is and every alternative names its
 * types, "must be of type <their types>"; else that no allowed form matched. */
static bool alt_failed(const json_t *alt, const json_t *v, const char *path, const char *arg,
                       mcp_schema_err *err)
{
    json_t *types = json_array();
    bool typed = true;
    size_t i, same = 0;
    const json_t *x, *hit = NULL;
    json_array_foreach (alt, i, x) {
        const json_t *t = json_object_get(x, "type");
        if (!json_is_string(t) && !json_is_array(t)) {
            typed = false;
            continue;
        }
        add_types(types, t);
        if (types_ok(t, v)) {
            same++;
            hit = x;
        }
    }
    char ts[128];
    join_types(ts, sizeof ts, types);
    json_decref(types);
    if (same == 1)
        return validate(hit, v, path, arg, err);
    if (typed && same == 0)
        return fail(err, path, arg, "must be of type %s, got %s", ts, type_name(v));
    return fail(err, path, arg, "does not match any of the allowed forms");
}

static bool validate_object(const json_t *sc, const json_t *v, const char *path, const char *arg,
                            mcp_schema_err *err)
{
    const json_t *props = json_object_get(sc, "properties");
    const json_t *req = json_object_get(sc, "required");
    const json_t *addl = json_object_get(sc, "additionalProperties");
    bool top = arg == NULL;
    size_t i;
    const json_t *x;
    const char *key;
    json_array_foreach (req, i, x) {
        if (json_is_string(x) && !json_object_get(v, json_string_value(x))) {
            char p[256];
            snprintf(p, sizeof p, "%s.%s", path, json_string_value(x));
            return fail(err, p, top ? json_string_value(x) : arg, "is required");
        }
    }
    json_object_foreach ((json_t *)v, key, x) {
        char p[256];
        snprintf(p, sizeof p, "%s.%s", path, key);
        const char *a = top ? key : arg;
        const json_t *ps = props ? json_object_get(props, key) : NULL;
        if (ps) {
            if (!validate(ps, x, p, a, err))
                return false;
        } else if (json_is_false(addl)) {
            char keys[160];
            join_keys(keys, sizeof keys, props);
            if (keys[0])
                return fail(err, p, a, "is not an accepted argument (accepted: %s)", keys);
            return fail(err, p, a, "is not an accepted argument");
        } else if (json_is_object(addl) && !validate(addl, x, p, a, err)) {
            return false;
        }
    }
    return true;
}

/* A size bound pair of the schema: minLength/maxLength (code points of a string)
 * or minItems/maxItems (items of an array), and how a failure reads:
 * "must <verb> at least <bound> <unit>, got <n>". */
typedef struct count_bounds {
    const char *min, *max;
    const char *verb, *unit;
} count_bounds;
static const count_bounds LENGTH = {"minLength", "maxLength", "be", "characters long"};
static const count_bounds ITEMS = {"minItems", "maxItems", "have", "items"};

static bool count_ok(const json_t *sc, size_t n, const count_bounds *b, const char *path,
                     const char *arg, mcp_schema_err *err)
{
    const json_t *lo = json_object_get(sc, b->min), *hi = json_object_get(sc, b->max);
    if (json_is_integer(lo) && (json_int_t)n < json_integer_value(lo))
        return fail(err, path, arg, "must %s at least %lld %s, got %zu", b->verb,
                    (long long)json_integer_value(lo), b->unit, n);
    if (json_is_integer(hi) && (json_int_t)n > json_integer_value(hi))
        return fail(err, path, arg, "must %s at most %lld %s, got %zu", b->verb,
                    (long long)json_integer_value(hi), b->unit, n);
    return true;
}

static bool validate(const json_t *sc, const json_t *v, const char *path, const char *arg,
                     mcp_schema_err *err)
{
    if (json_is_true(sc) || !json_is_object(sc)) {
        if (json_is_false(sc))
            return fail(err, path, arg, "is not allowed");
        return true;
    }
    const json_t *t = json_object_get(sc, "type");
    if ((json_is_string(t) || json_is_array(t)) && !types_ok(t, v)) {
        char ts[128];
        join_types(ts, sizeof ts, t);
        return fail(err, path, arg, "must be of type %s, got %s", ts, type_name(v));
    }
    const json_t *en = json_object_get(sc, "enum");
    if (json_is_array(en)) {
        bool any = false;
        size_t i;
        const json_t *x;
        json_array_foreach (en, i, x)
            if (json_equal((json_t *)x, (json_t *)v))
                any = true;
        if (!any) {
            char vals[200];
            join_values(vals, sizeof vals, en);
            return fail(err, path, arg, "must be one of %s", vals);
        }
    }
    const json_t *cn = json_object_get(sc, "const");
    if (cn && !json_equal((json_t *)cn, (json_t *)v)) {
        char *val = json_dumps(cn, JSON_COMPACT | JSON_ENCODE_ANY);
        bool r = fail(err, path, arg, "must equal %.100s", val ? val : "the constant value");
        free(val);
        return r;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        char lim[40], got[40];
        fmt_num(got, sizeof got, d);
        const json_t *k;
        if ((k = json_object_get(sc, "minimum")) && json_is_number(k) && d < json_number_value(k)) {
            fmt_num(lim, sizeof lim, json_number_value(k));
            return fail(err, path, arg, "must be >= %s, got %s", lim, got);
        }
        if ((k = json_object_get(sc, "maximum")) && json_is_number(k) && d > json_number_value(k)) {
            fmt_num(lim, sizeof lim, json_number_value(k));
            return fail(err, path, arg, "must be <= %s, got %s", lim, got);
        }
        if ((k = json_object_get(sc, "exclusiveMinimum")) && json_is_number(k) &&
            d <= json_number_value(k)) {
            fmt_num(lim, sizeof lim, json_number_value(k));
            return fail(err, path, arg, "must be > %s, got %s", lim, got);
        }
        if ((k = json_object_get(sc, "exclusiveMaximum")) && json_is_number(k) &&
            d >= json_number_value(k)) {
            fmt_num(lim, sizeof lim, json_number_value(k));
            return fail(err, path, arg, "must be < %s, got %s", lim, got);
        }
    }
    if (json_is_string(v) && !count_ok(sc, utf8_len(json_string_value(v), json_string_length(v)),
                                       &LENGTH, path, arg, err))
        return false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        if (!count_ok(sc, json_array_size(v), &ITEMS, path, arg, err))
            return false;
        const json_t *items = json_object_get(sc, "items");
        if (items)
            json_array_foreach (v, i, x) {
                char p[256];
                snprintf(p, sizeof p, "%s[%zu]", path, i);
                if (!validate(items, x, p, arg, err))
                    return false;
            }
    }
    if (json_is_object(v) && !validate_object(sc, v, path, arg, err))
        return false;
    const json_t *all = json_object_get(sc, "allOf"), *x;
    size_t i;
    json_array_foreach (all, i, x)
        if (!validate(x, v, path, arg, err))
            return false;
    const char *alts[] = {"anyOf", "oneOf"};
    for (int a = 0; a < 2; a++) {
        const json_t *alt = json_object_get(sc, alts[a]);
        if (!json_is_array(alt) || !json_array_size(alt))
            continue;
        size_t ok = 0;
        json_array_foreach (alt, i, x)
            if (validate(x, v, path, arg, NULL))
                ok++;
        if (ok == 1 || (a == 0 && ok > 1))
            continue;
        if (ok > 1)
            return fail(err, path, arg, "matches more than one of the allowed forms");
        return alt_failed(alt, v, path, arg, err);
    }
    return true;
}

/* No string of the arguments, at any depth and whatever the schema says of it, may hold
 * a NUL character: C code reading it would see it cut there ("root\u0000x" as "root"). */
static bool nul_free(const json_t *v, mcp_schema_err *err)
{
    char path[256] = "$";
    if (!mcp_json_find_nul(v, NULL, path, sizeof path))
        return true;
    char arg[128] = "";
    if (path[1] == '.') /* the top-level argument: up to the next '.' or '[' */
        snprintf(arg, sizeof arg, "%.*s", (int)strcspn(path + 2, ".["), path + 2);
    return fail(err, path, arg[0] ? arg : NULL, "must not contain a NUL character (\\u0000)");
}

bool mcp_schema_validate(const json_t *schema, const json_t *v, mcp_schema_err *err)
{
    return nul_free(v, err) && validate(schema, v, "$", NULL, err);
}

static bool check_fail(char *msg, size_t ml, const char *what)
{
    snprintf(msg, ml, "$: %s", what);
    return false;
}

bool mcp_schema_check(const json_t *schema, char *msg, size_t msglen)
{
    const json_t *props = json_object_get(schema, "properties");
    if (props && !json_is_object(props))
        return check_fail(msg, msglen, "properties must be an object");
    const json_t *req = json_object_get(schema, "required");
    if (req && !json_is_array(req))
        return check_fail(msg, msglen, "required must be an array");
    return true;
}
