/* mcp/structured.c — a structured tool result is serialised once: mcp_result_structured
 * dumps the value into the text content block and notes (per thread, holding
 * references) that this text IS the value's compact JSON; when the same result then
 * reaches mcp_rpc_result on that thread, the value is written by copying that text
 * instead of dumping the tree a second time. Clients receive the same JSON (the
 * structuredContent member comes last in the result object; member order carries no
 * meaning in JSON). A result whose value or text block was replaced is dumped normally.
 * Must not: change what is sent, keep a note past the request that made it (session.c
 * forgets it after each reply; a thread's exit frees it), or hold any lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

typedef struct note {
    json_t *value; /* the structuredContent object */
    json_t *text;  /* the string in content[0].text: its compact dump */
} note;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void note_free(void *p)
{
    note *n = p;
    if (!n)
        return;
    json_decref(n->value);
    json_decref(n->text);
    free(n);
}

static void key_init(void)
{
    pthread_key_create(&g_key, note_free);
}

void mcp_structured_note(json_t *value, json_t *text)
{
    pthread_once(&g_once, key_init);
    note *n = pthread_getspecific(g_key);
    if (!n) {
        n = xcalloc(1, sizeof *n);
        pthread_setspecific(g_key, n);
    }
    json_decref(n->value);
    json_decref(n->text);
    n->value = json_incref(value);
    n->text = json_incref(text);
}

void mcp_structured_forget(void)
{
    pthread_once(&g_once, key_init);
    note *n = pthread_getspecific(g_key);
    if (!n)
        return;
    pthread_setspecific(g_key, NULL);
    note_free(n);
}

bool mcp_structured_append(sbuf_t *b, json_t *result)
{
    pthread_once(&g_once, key_init);
    note *n = pthread_getspecific(g_key);
    if (!n || !n->value)
        return false;
    json_t *sc = json_object_get(result, "structuredContent");
    json_t *content = json_object_get(result, "content");
    json_t *block = json_array_get(content, 0);
    if (sc != n->value || json_array_size(content) != 1 ||
        json_object_get(block, "text") != n->text || !json_is_string(n->text))
        return false;
    json_incref(sc);
    json_object_del(result, "structuredContent");
    size_t start = b->len;
    mcp_json_append(b, result);
    json_object_set_new(result, "structuredContent", sc);
    if (b->len < start + 2 || b->p[b->len - 1] != '}') { /* cannot happen: redo */
        b->len = start;
        b->p[start] = '\0';
        mcp_json_append(b, result);
        return true;
    }
    b->p[--b->len] = '\0'; /* reopen the object */
    sbuf_puts(b, ",\"structuredContent\":");
    sbuf_append(b, json_string_value(n->text), json_string_length(n->text));
    sbuf_putc(b, '}');
    return true;
}
