/* tests/mcp/mcp_fixtures.c — the fixture tools/resources/prompts of the MCP conformance
 * suite (names and contents as the suite expects them) and a few helpers for our own
 * tests: test_block waits until test_release or cancellation (to test concurrency and
 * cancellation without timing), test_structured has an outputSchema, test_validate has a
 * strict inputSchema, test_touch_watched fires resources/updated for the watched resource.
 * Must not: know about transports. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_fixtures.h"

/* 1x1 transparent PNG */
static const unsigned char png[] = {
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82};
/* minimal WAV: RIFF header, 8 kHz mono 8-bit, 4 samples of silence */
static const unsigned char wav[] = {'R',  'I',  'F', 'F', 40,   0,    0, 0, 'W', 'A', 'V', 'E',
                                    'f',  'm',  't', ' ', 16,   0,    0, 0, 1,   0,   1,   0,
                                    0x40, 0x1F, 0,   0,   0x40, 0x1F, 0, 0, 1,   0,   8,   0,
                                    'd',  'a',  't', 'a', 4,    0,    0, 0, 128, 128, 128, 128};

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *t_simple_text(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_result_text("This is a simple text response for testing.");
}

static json_t *t_image(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_result_add(mcp_result_new(), mcp_image(png, sizeof png, "image/png"));
}

static json_t *t_audio(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_result_add(mcp_result_new(), mcp_audio(wav, sizeof wav, "audio/wav"));
}

static json_t *t_embedded(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_result_add(mcp_result_new(),
                          mcp_embedded_text("test://embedded-resource", "text/plain",
                                            "This is an embedded resource content."));
}

static json_t *t_multiple(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    json_t *r = mcp_result_text("Multiple content types test:");
    mcp_result_add(r, mcp_image(png, sizeof png, "image/png"));
    mcp_result_add(r, mcp_embedded_text("test://mixed-content-resource", "application/json",
                                        "{\"test\":\"data\",\"value\":123}"));
    return r;
}

static json_t *t_logging(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    const char *msgs[] = {"Tool execution started", "Tool processing data",
                          "Tool execution completed"};
    for (int i = 0; i < 3; i++) {
        if (i)
            pause_ms(50);
        mcp_call_log(c, MCP_LOG_INFO, "test_tool_with_logging", json_string(msgs[i]));
    }
    return mcp_result_text("Tool with logging executed successfully");
}

static json_t *t_progress(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    for (int p = 0; p <= 100; p += 50) {
        if (p)
            pause_ms(50);
        mcp_call_progress(c, p, 100, NULL);
    }
    return mcp_result_text("Tool with progress executed successfully");
}

static json_t *t_error(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_result_error("This tool intentionally returns an error for testing");
}

static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cv = PTHREAD_COND_INITIALIZER;
static unsigned long block_gen;

void mcp_fixtures_release(void)
{
    pthread_mutex_lock(&block_mu);
    block_gen++;
    pthread_cond_broadcast(&block_cv);
    pthread_mutex_unlock(&block_mu);
}

/* Announces itself (progress 1 if a token was given, and an info log), then waits for
 * test_release or cancellation. */
static json_t *t_block(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    pthread_mutex_lock(&block_mu);
    unsigned long gen = block_gen;
    pthread_mutex_unlock(&block_mu);
    mcp_call_progress(c, 1, -1, "blocked");
    for (;;) {
        pthread_mutex_lock(&block_mu);
        bool released = block_gen != gen;
        if (!released) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 20 * 1000000L;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&block_cv, &block_mu, &dl);
            released = block_gen != gen;
        }
        pthread_mutex_unlock(&block_mu);
        if (released)
            return mcp_result_text("released");
        if (mcp_call_cancelled(c))
            return mcp_result_text("cancelled");
    }
}

static json_t *t_release(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    mcp_fixtures_release();
    return mcp_result_text("ok");
}

static json_t *t_structured(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)ud;
    json_t *n = json_object_get(a, "n");
    return mcp_result_structured(
        json_pack("{s:I,s:s}", "double", 2 * json_integer_value(n), "unit", "x"));
}

static json_t *t_validate(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)ud;
    char buf[256];
    snprintf(buf, sizeof buf, "hello %s", json_string_value(json_object_get(a, "name")));
    return mcp_result_text(buf);
}

static json_t *t_touch(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    int n =
        mcp_resource_updated(mcp_session_server(mcp_call_session(c)), "test://watched-resource");
    char buf[64];
    snprintf(buf, sizeof buf, "notified %d", n);
    return mcp_result_text(buf);
}

/* legacy server-to-client requests */
static json_t *client_call(mcp_call *c, const char *cap, const char *method, json_t *params)
{
    if (!mcp_session_client_capability(mcp_call_session(c), cap)) {
        json_decref(params);
        return mcp_result_error("client does not support %s", cap);
    }
    json_t *err = NULL;
    json_t *r = mcp_call_request(c, method, params, 60000, &err);
    if (!r) {
        char *t = err ? json_dumps(err, JSON_COMPACT) : NULL;
        json_t *out = mcp_result_error("%s failed: %s", method, t ? t : "no answer");
        free(t);
        json_decref(err);
        return out;
    }
    return r;
}

static json_t *t_sampling(mcp_call *c, json_t *a, void *ud)
{
    (void)ud;
    json_t *p = json_pack("{s:[{s:s,s:{s:s,s:O}}],s:i}", "messages", "role", "user", "content",
                          "type", "text", "text", json_object_get(a, "prompt"), "maxTokens", 100);
    json_t *r = client_call(c, "sampling", "sampling/createMessage", p);
    if (json_object_get(r, "isError"))
        return r;
    json_t *content = json_object_get(r, "content");
    if (json_is_array(content))
        content = json_array_get(content, 0);
    const char *txt = json_string_value(json_object_get(content, "text"));
    char buf[4096];
    snprintf(buf, sizeof buf, "LLM response: %s", txt ? txt : "");
    json_decref(r);
    return mcp_result_text(buf);
}

static json_t *elicit(mcp_call *c, json_t *params, const char *prefix)
{
    json_t *r = client_call(c, "elicitation", "elicitation/create", params);
    if (json_object_get(r, "isError"))
        return r;
    char *content =
        json_dumps(json_object_get(r, "content") ? json_object_get(r, "content") : json_null(),
                   JSON_COMPACT | JSON_ENCODE_ANY);
    char buf[4096];
    snprintf(buf, sizeof buf, "%s: action=%s, content=%s", prefix,
             json_string_value(json_object_get(r, "action")), content);
    free(content);
    json_decref(r);
    return mcp_result_text(buf);
}

static json_t *t_elicitation(mcp_call *c, json_t *a, void *ud)
{
    (void)ud;
    json_t *p =
        json_pack("{s:O,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:s}},s:[s,s]}}", "message",
                  json_object_get(a, "message"), "requestedSchema", "type", "object", "properties",
                  "username", "type", "string", "description", "User's response", "email", "type",
                  "string", "description", "User's email address", "required", "username", "email");
    return elicit(c, p, "User response");
}

static json_t *t_elicit_defaults(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    json_t *p = json_loads(
        "{\"message\":\"Please review and update the form fields with "
        "defaults\",\"requestedSchema\":"
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"User name\",\"default\":\"John Doe\"},"
        "\"age\":{\"type\":\"integer\",\"description\":\"User age\",\"default\":30},"
        "\"score\":{\"type\":\"number\",\"description\":\"User score\",\"default\":95.5},"
        "\"status\":{\"type\":\"string\",\"description\":\"User "
        "status\",\"enum\":[\"active\",\"inactive\",\"pending\"],\"default\":\"active\"},"
        "\"verified\":{\"type\":\"boolean\",\"description\":\"Verification "
        "status\",\"default\":true}},"
        "\"required\":[]}}",
        0, NULL);
    return elicit(c, p, "Elicitation completed");
}

static json_t *t_elicit_enums(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    json_t *p = json_loads(
        "{\"message\":\"Please select options from the enum fields\",\"requestedSchema\":"
        "{\"type\":\"object\",\"properties\":{"
        "\"untitledSingle\":{\"type\":\"string\",\"description\":\"Select one "
        "option\",\"enum\":[\"option1\",\"option2\",\"option3\"]},"
        "\"titledSingle\":{\"type\":\"string\",\"description\":\"Select one option with "
        "titles\",\"oneOf\":["
        "{\"const\":\"value1\",\"title\":\"First "
        "Option\"},{\"const\":\"value2\",\"title\":\"Second Option\"},"
        "{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
        "\"legacyEnum\":{\"type\":\"string\",\"description\":\"Select one option "
        "(legacy)\",\"enum\":[\"opt1\",\"opt2\",\"opt3\"],"
        "\"enumNames\":[\"Option One\",\"Option Two\",\"Option Three\"]},"
        "\"untitledMulti\":{\"type\":\"array\",\"description\":\"Select multiple "
        "options\",\"minItems\":1,"
        "\"items\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
        "\"titledMulti\":{\"type\":\"array\",\"description\":\"Select multiple options with "
        "titles\",\"minItems\":1,"
        "\"items\":{\"anyOf\":[{\"const\":\"value1\",\"title\":\"First Choice\"},"
        "{\"const\":\"value2\",\"title\":\"Second "
        "Choice\"},{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}},"
        "\"required\":[]}}",
        0, NULL);
    return elicit(c, p, "Elicitation completed");
}

static json_t *r_static_text(mcp_call *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    return mcp_resource_text(uri, "text/plain", "This is the content of the static text resource.");
}

static json_t *r_static_binary(mcp_call *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    return mcp_resource_blob(uri, "image/png", png, sizeof png);
}

static json_t *r_watched(mcp_call *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    return mcp_resource_text(uri, "text/plain", "Watched resource content");
}

static json_t *r_template(mcp_call *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)ud;
    const char *id = json_string_value(json_object_get(vars, "id"));
    json_t *body = json_pack("{s:s,s:s,s:s}", "id", id ? id : "", "templateTest", "true", "data",
                             "Data for ID");
    char *txt = json_dumps(body, JSON_COMPACT);
    json_t *r = mcp_resource_text(uri, "application/json", txt);
    free(txt);
    json_decref(body);
    return r;
}

static json_t *complete_prefix(const char *const *opts, const char *value)
{
    json_t *arr = json_array();
    for (int i = 0; opts[i]; i++)
        if (strncmp(opts[i], value, strlen(value)) == 0)
            json_array_append_new(arr, json_string(opts[i]));
    return arr;
}

static json_t *c_template(mcp_call *c, const char *arg, const char *value, json_t *ctx, void *ud)
{
    (void)c, (void)ctx, (void)ud;
    static const char *const ids[] = {"123", "124", "200", NULL};
    return strcmp(arg, "id") == 0 ? complete_prefix(ids, value) : NULL;
}

static json_t *c_arg1(mcp_call *c, const char *arg, const char *value, json_t *ctx, void *ud)
{
    (void)c, (void)arg, (void)ctx, (void)ud;
    static const char *const vals[] = {"paris", "park", "party", "london", NULL};
    return complete_prefix(vals, value);
}

static json_t *p_simple(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    return mcp_prompt_add(mcp_prompt_result(NULL), "user",
                          mcp_text("This is a simple prompt for testing."));
}

static json_t *p_args(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)ud;
    char buf[1024];
    snprintf(buf, sizeof buf, "Prompt with arguments: arg1='%s', arg2='%s'",
             json_string_value(json_object_get(a, "arg1")),
             json_string_value(json_object_get(a, "arg2")));
    return mcp_prompt_add(mcp_prompt_result(NULL), "user", mcp_text(buf));
}

static json_t *p_embedded(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)ud;
    const char *uri = json_string_value(json_object_get(a, "resourceUri"));
    json_t *r = mcp_prompt_result(NULL);
    mcp_prompt_add(r, "user",
                   mcp_embedded_text(uri, "text/plain", "Embedded resource content for testing."));
    return mcp_prompt_add(r, "user", mcp_text("Please process the embedded resource above."));
}

static json_t *p_image(mcp_call *c, json_t *a, void *ud)
{
    (void)c, (void)a, (void)ud;
    json_t *r = mcp_prompt_result(NULL);
    mcp_prompt_add(r, "user", mcp_image(png, sizeof png, "image/png"));
    return mcp_prompt_add(r, "user", mcp_text("Please analyze the image above."));
}

bool mcp_fixtures_register(mcp_server *srv, err_t *e)
{
    const mcp_tool_def tools[] = {
        {"test_simple_text", NULL, "Tests simple text content response", NULL, NULL, NULL,
         t_simple_text, NULL},
        {"test_image_content", NULL, "Tests image content response", NULL, NULL, NULL, t_image,
         NULL},
        {"test_audio_content", NULL, "Tests audio content response", NULL, NULL, NULL, t_audio,
         NULL},
        {"test_embedded_resource", NULL, "Tests embedded resource content response", NULL, NULL,
         NULL, t_embedded, NULL},
        {"test_multiple_content_types", NULL, "Tests response with multiple content types", NULL,
         NULL, NULL, t_multiple, NULL},
        {"test_tool_with_logging", NULL, "Tests tool that emits log messages during execution",
         NULL, NULL, NULL, t_logging, NULL},
        {"test_tool_with_progress", NULL, "Tests tool that reports progress notifications", NULL,
         NULL, NULL, t_progress, NULL},
        {"test_error_handling", NULL, "Tests error response handling", NULL, NULL, NULL, t_error,
         NULL},
        {"test_sampling", NULL, "Tests server-initiated sampling (LLM completion request)",
         "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\",\"description\":"
         "\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}",
         NULL, NULL, t_sampling, NULL},
        {"test_elicitation", NULL, "Tests server-initiated elicitation (user input request)",
         "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"description\":"
         "\"The message to show the user\"}},\"required\":[\"message\"]}",
         NULL, NULL, t_elicitation, NULL},
        {"test_elicitation_sep1034_defaults", NULL,
         "Tests elicitation with default values per SEP-1034", NULL, NULL, NULL, t_elicit_defaults,
         NULL},
        {"test_elicitation_sep1330_enums", NULL,
         "Tests elicitation with enum schema improvements per SEP-1330", NULL, NULL, NULL,
         t_elicit_enums, NULL},
        {"test_block", NULL, "Blocks until test_release is called or the request is cancelled",
         NULL, NULL, NULL, t_block, NULL},
        {"test_release", NULL, "Releases every blocked test_block call", NULL, NULL, NULL,
         t_release, NULL},
        {"test_structured", NULL, "Returns structured content",
         "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}",
         "{\"type\":\"object\",\"properties\":{\"double\":{\"type\":\"integer\"},\"unit\":{"
         "\"type\":\"string\"}},\"required\":[\"double\"]}",
         "{\"readOnlyHint\":true}", t_structured, NULL},
        {"test_validate", NULL, "Validates its arguments",
         "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1},"
         "\"count\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}},\"required\":[\"name\"],"
         "\"additionalProperties\":false}",
         NULL, NULL, t_validate, NULL},
        {"test_touch_watched", NULL, "Signals an update of test://watched-resource", NULL, NULL,
         NULL, t_touch, NULL},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (mcp_server_add_tool(srv, &tools[i], e) != ERR_OK)
            return false;
    const mcp_resource_def res[] = {
        {"test://static-text", "Static Text Resource", NULL, "A static text resource for testing",
         "text/plain", r_static_text, NULL},
        {"test://static-binary", "Static Binary Resource", NULL,
         "A static binary resource (image) for testing", "image/png", r_static_binary, NULL},
        {"test://watched-resource", "Watched Resource", NULL,
         "A resource that can be subscribed to", "text/plain", r_watched, NULL},
    };
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++)
        if (mcp_server_add_resource(srv, &res[i], e) != ERR_OK)
            return false;
    const mcp_template_def tmpl = {"test://template/{id}/data",
                                   "Template Resource",
                                   NULL,
                                   "A resource template with parameter substitution",
                                   "application/json",
                                   r_template,
                                   c_template,
                                   NULL};
    if (mcp_server_add_template(srv, &tmpl, e) != ERR_OK)
        return false;
    const mcp_prompt_arg args2[] = {{"arg1", NULL, "First test argument", true, c_arg1},
                                    {"arg2", NULL, "Second test argument", true, NULL}};
    const mcp_prompt_arg args_res[] = {
        {"resourceUri", NULL, "URI of the resource to embed", true, NULL}};
    const mcp_prompt_def prompts[] = {
        {"test_simple_prompt", NULL, "A simple prompt without arguments", NULL, 0, p_simple, NULL},
        {"test_prompt_with_arguments", NULL, "A prompt with required arguments", args2, 2, p_args,
         NULL},
        {"test_prompt_with_embedded_resource", NULL, "A prompt that includes an embedded resource",
         args_res, 1, p_embedded, NULL},
        {"test_prompt_with_image", NULL, "A prompt that includes image content", NULL, 0, p_image,
         NULL},
    };
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++)
        if (mcp_server_add_prompt(srv, &prompts[i], e) != ERR_OK)
            return false;
    return true;
}
