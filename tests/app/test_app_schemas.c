/* tests/app/test_app_schemas.c — every tool's inputSchema, as tools/list hands it to a
 * client, keeps to the portable subset of JSON Schema (docs/mcp-interface.md, "Input
 * schemas"): what OpenAI's function calling (its strict subset's keywords), Gemini's
 * function declarations (an OpenAPI 3.0 subset, one type per schema), Anthropic's tools,
 * VS Code and the MCP Inspector's portability check all accept. A schema change that
 * brings back a type array, an untyped argument, an array without items or a keyword
 * outside the subset fails here, naming the tool and the path. The checker itself is
 * shown to refuse each of those.
 * Usage: test_app_schemas <store url>.
 * Must not: leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"

/* Where a schema sits: the arguments object, an argument (or a member of an object), an
 * array's items, an alternative of anyOf. */
typedef enum {
    AT_ROOT,
    AT_PROPERTY,
    AT_ITEMS,
    AT_ALTERNATIVE
} at_kind;

static const char *const KEYWORDS[] = {
    "type",      "description", "properties", "required", "additionalProperties",
    "items",     "enum",        "minimum",    "maximum",  "minLength",
    "maxLength", "minItems",    "maxItems",   "anyOf",    NULL};
static const char *const TYPES[] = {"object", "array",   "string", "integer",
                                    "number", "boolean", "null",   NULL};

static bool listed(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static bool bad(char *why, size_t n, const char *path, const char *what)
{
    snprintf(why, n, "%s: %s", path, what);
    return false;
}

/* Whether schema n at path (reached as `at`) keeps to the subset; else false with why. */
static bool portable(const json_t *n, const char *path, at_kind at, char *why, size_t wn)
{
    char p[256], w[160];
    if (!json_is_object(n))
        return bad(why, wn, path, "a schema must be an object (no boolean schemas)");
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)n, k, v) {
        if (!listed(KEYWORDS, k)) {
            snprintf(w, sizeof w, "keyword \"%s\" is outside the portable subset", k);
            return bad(why, wn, path, w);
        }
    }
    const json_t *t = json_object_get(n, "type"), *alt = json_object_get(n, "anyOf");
    if (at == AT_ITEMS && json_object_size(n) == 0)
        return true; /* {}: elements of any JSON type (an any-JSON array) */
    if (json_is_array(t))
        return bad(why, wn, path, "\"type\" is an array: spell it anyOf, one type each");
    if (t && (!json_is_string(t) || !listed(TYPES, json_string_value(t))))
        return bad(why, wn, path, "\"type\" must be one JSON type name");
    if (!t == !alt)
        return bad(why, wn, path, "untyped: a schema needs \"type\" or \"anyOf\" (not both)");
    if (t && strcmp(json_string_value(t), "null") == 0 && at != AT_ALTERNATIVE)
        return bad(why, wn, path, "\"null\" is a type only as an alternative of anyOf");
    if (alt) {
        if (at == AT_ROOT || at == AT_ALTERNATIVE)
            return bad(why, wn, path, "anyOf neither at the root nor nested in anyOf");
        if (!json_is_array(alt) || json_array_size(alt) < 2)
            return bad(why, wn, path, "anyOf needs two alternatives or more");
        size_t i;
        json_array_foreach (alt, i, v) {
            snprintf(p, sizeof p, "%s.anyOf[%zu]", path, i);
            if (!portable(v, p, AT_ALTERNATIVE, why, wn))
                return false;
        }
    }
    const char *type = t ? json_string_value(t) : "";
    if (at == AT_ROOT &&
        (strcmp(type, "object") || !json_is_false(json_object_get(n, "additionalProperties"))))
        return bad(why, wn, path, "the arguments: an object, additionalProperties false");
    const json_t *ap = json_object_get(n, "additionalProperties");
    if (ap && !json_is_boolean(ap))
        return bad(why, wn, path, "additionalProperties must be true or false");
    const json_t *d = json_object_get(n, "description");
    if (d && !json_is_string(d))
        return bad(why, wn, path, "description must be a string");
    const json_t *en = json_object_get(n, "enum");
    if (en) {
        size_t i;
        bool strings = json_is_array(en) && json_array_size(en) > 0;
        json_array_foreach (en, i, v)
            strings = strings && json_is_string(v);
        if (!strings || strcmp(type, "string") != 0)
            return bad(why, wn, path, "enum: a non-empty list of strings, of a string");
    }
    const json_t *props = json_object_get(n, "properties");
    if (props) {
        if (!json_is_object(props) || strcmp(type, "object") != 0)
            return bad(why, wn, path, "properties: an object, of an object");
        json_object_foreach ((json_t *)props, k, v) {
            snprintf(p, sizeof p, "%s.%s", path, k);
            if (!portable(v, p, AT_PROPERTY, why, wn))
                return false;
        }
    }
    const json_t *req = json_object_get(n, "required");
    size_t i;
    json_array_foreach (req, i, v)
        if (!json_is_string(v) || !json_object_get(props, json_string_value(v)))
            return bad(why, wn, path, "required names an argument that is not a property");
    const json_t *items = json_object_get(n, "items");
    if (strcmp(type, "array") == 0 && !items)
        return bad(why, wn, path, "an array without items");
    if (items && strcmp(type, "array") != 0)
        return bad(why, wn, path, "items, of something not an array");
    snprintf(p, sizeof p, "%s.items", path);
    return !items || portable(items, p, AT_ITEMS, why, wn);
}

/* tools/list: every tool's inputSchema keeps to the subset */
static void test_tools_portable(void **state)
{
    fx *f = *state;
    json_t *r = rpc(&f->c[0], "tools/list", NULL);
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    assert_true(json_array_size(tools) > 0);
    size_t i;
    json_t *t;
    json_array_foreach (tools, i, t) {
        char why[512];
        if (!portable(json_object_get(t, "inputSchema"), "$", AT_ROOT, why, sizeof why))
            fail_msg("tool %s: inputSchema %s", json_string_value(json_object_get(t, "name")), why);
    }
    json_decref(r);
}

/* the checker refuses what providers refuse (and accepts the spellings the tools use) */
static void test_checker_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *prop; /* the schema of one argument "a" */
        const char *why;  /* what the failure names */
    } cases[] = {
        {"{\"type\":[\"string\",\"null\"]}", "\"type\" is an array"},
        {"{\"description\":\"any\"}", "untyped"},
        {"{}", "untyped"},
        {"true", "no boolean schemas"},
        {"{\"type\":\"integer\",\"default\":5}", "keyword \"default\""},
        {"{\"type\":\"string\",\"format\":\"uri\"}", "keyword \"format\""},
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "keyword \"pattern\""},
        {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "keyword \"oneOf\""},
        {"{\"$ref\":\"#/$defs/x\"}", "keyword \"$ref\""},
        {"{\"const\":1}", "keyword \"const\""},
        {"{\"type\":\"array\"}", "an array without items"},
        {"{\"type\":\"null\"}", "\"null\" is a type only"},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"description\":\"x\"}]}", "a.anyOf[1]: untyped"},
        {"{\"anyOf\":[{\"type\":\"string\"}]}", "two alternatives"},
        {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}",
         "additionalProperties must be"},
        {"{\"type\":\"integer\",\"enum\":[1,2]}", "enum"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"x\":{}}}}",
         "a.items.x: untyped"},
    };
    char why[512], text[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"a\":%s}}",
                 cases[i].prop);
        json_error_t je;
        json_t *sc = json_loads(text, 0, &je);
        assert_non_null(sc);
        why[0] = '\0';
        if (portable(sc, "$", AT_ROOT, why, sizeof why) || !strstr(why, cases[i].why))
            fail_msg("%s: expected a failure naming '%s', got '%s'", cases[i].prop, cases[i].why,
                     why);
        json_decref(sc);
    }
    /* the root: an object that refuses unknown arguments, never anyOf */
    json_t *sc = json_loads("{\"type\":\"object\",\"properties\":{}}", 0, NULL);
    assert_false(portable(sc, "$", AT_ROOT, why, sizeof why));
    json_decref(sc);
    sc = json_loads("{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"a\":{"
                    "\"anyOf\":[{\"type\":\"integer\",\"minimum\":0},{\"type\":\"null\"}],"
                    "\"description\":\"d\"},\"b\":{\"type\":\"array\",\"items\":{}}}}",
                    0, NULL);
    if (!portable(sc, "$", AT_ROOT, why, sizeof why))
        fail_msg("refused: %s", why);
    json_decref(sc);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tools_portable, setup, teardown),
        cmocka_unit_test(test_checker_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
