/* mcp/subscriptions.c — the server's subscription index and resources/updated. Each
 * subscribed URI is one entry in a hash table keyed by the URI (base/hash.h) holding its
 * subscriptions (one per session, with the subscriber the product's check returned); an
 * entry of a URI a template serves is also filed under (template, variable, decoded
 * value) for each of its variables, so an update of "session://{sid}/..." with sid bound
 * finds exactly the subscriptions of that sid's URIs. A session keeps the list of its own
 * subscriptions (for its caps and to drop them when it ends). Updates collect their
 * targets under the index lock, then filter and send without it; a session being freed
 * waits until no update still uses it.
 * Must not: call the product (checks, filters) or the transport (send) with the index
 * lock held; walk the sessions; know what a URI means. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

typedef struct sub_uri sub_uri;
typedef struct sub_group sub_group;

/* A link of an intrusive doubly linked list; the node is found from its link (OF). */
typedef struct dlink {
    struct dlink *next, *prev;
} dlink;
#define OF(T, member, link) ((T *)(void *)((char *)(link)-offsetof(T, member)))

static void dl_push(dlink **head, dlink *l)
{
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
}

static void dl_unlink(dlink **head, dlink *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
}

/* one membership of a URI entry in a group */
typedef struct glink {
    dlink in; /* the group's list */
    sub_group *g;
    sub_uri *u;
} glink;

struct sub_group {
    char *key; /* "<template index>\x1f<variable>\x1f<decoded value>" */
    size_t len;
    dlink *head; /* glink.in */
};

struct sub_uri {
    char *uri;
    size_t len;
    size_t ti;    /* the template that serves it, SIZE_MAX: none */
    json_t *vars; /* its variables (template URIs), else NULL */
    dlink *subs;  /* mcp_sub.in_uri */
    glink *links; /* one per variable, in vars' order */
    size_t nlinks;
};

struct mcp_sub {
    mcp_session *s;
    sub_uri *u;
    void *subscriber;
    dlink in_uri;     /* the URI's subscriptions */
    dlink in_session; /* the session's subscriptions (mcp_session.subs) */
};

void mcp_subs_init(mcp_subs *x)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->idle, NULL);
    x->uris = hash_new(0);
    x->groups = hash_new(0);
}

void mcp_subs_fini(mcp_subs *x)
{
    /* every session was freed first: their subscriptions are gone, and so the entries */
    hash_free(x->uris);
    hash_free(x->groups);
    pthread_cond_destroy(&x->idle);
    pthread_mutex_destroy(&x->lock);
}

void mcp_server_set_subscription_limits(mcp_server *srv, const mcp_subscription_limits *l)
{
    pthread_mutex_lock(&srv->subs.lock);
    srv->subs.lim = l ? *l : (mcp_subscription_limits){0};
    pthread_mutex_unlock(&srv->subs.lock);
}

void mcp_server_subscription_stats(mcp_server *srv, mcp_subscription_stats *out)
{
    pthread_mutex_lock(&srv->subs.lock);
    out->subscriptions = srv->subs.count;
    out->uris = hash_count(srv->subs.uris);
    out->examined = srv->subs.examined;
    pthread_mutex_unlock(&srv->subs.lock);
}

size_t mcp_session_subscription_count(mcp_session *s)
{
    pthread_mutex_lock(&s->srv->subs.lock);
    size_t n = s->nsubs;
    pthread_mutex_unlock(&s->srv->subs.lock);
    return n;
}

/* The group key of variable `name` = `value` of template ti, into b. */
static void group_key(sbuf_t *b, size_t ti, const char *name, const char *value)
{
    sbuf_reset(b);
    sbuf_printf(b, "%zu\x1f%s\x1f%s", ti, name, value);
}

/* ---- entries (with the index lock held) ---- */

static sub_uri *entry_new(mcp_subs *x, const char *uri, size_t ti, json_t *vars)
{
    sub_uri *u = xcalloc(1, sizeof *u);
    u->len = strlen(uri);
    u->uri = xstrndup(uri, u->len);
    u->ti = ti;
    u->vars = vars;
    hash_put(x->uris, u->uri, u->len, u);
    if (!vars)
        return u;
    u->links = xcalloc(json_object_size(vars) ? json_object_size(vars) : 1, sizeof *u->links);
    sbuf_t k = SBUF_INIT;
    const char *name;
    json_t *v;
    json_object_foreach (vars, name, v) {
        group_key(&k, ti, name, json_string_value(v));
        sub_group *g = hash_get(x->groups, k.p, k.len);
        if (!g) {
            g = xcalloc(1, sizeof *g);
            g->len = k.len;
            g->key = xstrndup(k.p, k.len);
            hash_put(x->groups, g->key, g->len, g);
        }
        glink *l = &u->links[u->nlinks++];
        l->g = g;
        l->u = u;
        dl_push(&g->head, &l->in);
    }
    sbuf_free(&k);
    return u;
}

static void entry_free(mcp_subs *x, sub_uri *u)
{
    for (size_t i = 0; i < u->nlinks; i++) {
        glink *l = &u->links[i];
        dl_unlink(&l->g->head, &l->in);
        if (!l->g->head) {
            hash_remove(x->groups, l->g->key, l->g->len);
            free(l->g->key);
            free(l->g);
        }
    }
    hash_remove(x->uris, u->uri, u->len);
    free(u->links);
    json_decref(u->vars);
    free(u->uri);
    free(u);
}

/* Unlinks and frees one subscription (and its entry when it was the last one). */
static void sub_drop(mcp_subs *x, mcp_sub *b)
{
    dl_unlink(&b->u->subs, &b->in_uri);
    dl_unlink(&b->s->subs, &b->in_session);
    b->s->nsubs--;
    x->count--;
    if (!b->u->subs)
        entry_free(x, b->u);
    free(b);
}

static mcp_sub *find(const mcp_subs *x, const mcp_session *s, const char *uri, sub_uri **u)
{
    *u = hash_get(x->uris, uri, strlen(uri));
    for (dlink *l = *u ? (*u)->subs : NULL; l; l = l->next)
        if (OF(mcp_sub, in_uri, l)->s == s)
            return OF(mcp_sub, in_uri, l);
    return NULL;
}

bool mcp_subs_add(mcp_call *c, const char *uri, size_t ti, json_t *vars, void *subscriber)
{
    mcp_session *s = c->session;
    mcp_subs *x = &s->srv->subs;
    pthread_mutex_lock(&x->lock);
    sub_uri *u;
    mcp_sub *b = find(x, s, uri, &u);
    if (b) { /* again: free */
        b->subscriber = subscriber;
        pthread_mutex_unlock(&x->lock);
        json_decref(vars);
        return true;
    }
    size_t limit = 0;
    const char *scope = NULL;
    if (x->lim.per_session && s->nsubs >= x->lim.per_session)
        limit = x->lim.per_session, scope = "session";
    else if (x->lim.total && x->count >= x->lim.total)
        limit = x->lim.total, scope = "server";
    if (scope) {
        pthread_mutex_unlock(&x->lock);
        json_decref(vars);
        char msg[128];
        snprintf(msg, sizeof msg, "subscription limit reached: at most %zu %s", limit,
                 strcmp(scope, "session") == 0 ? "per session" : "in the server");
        mcp_call_set_error(c, MCP_LIMIT_REACHED, msg,
                           json_pack("{s:I s:s}", "limit", (json_int_t)limit, "scope", scope));
        return false;
    }
    if (!u)
        u = entry_new(x, uri, ti, vars);
    else
        json_decref(vars);
    b = xcalloc(1, sizeof *b);
    b->s = s;
    b->u = u;
    b->subscriber = subscriber;
    dl_push(&u->subs, &b->in_uri);
    dl_push(&s->subs, &b->in_session);
    s->nsubs++;
    x->count++;
    pthread_mutex_unlock(&x->lock);
    return true;
}

void mcp_subs_remove(mcp_session *s, const char *uri)
{
    mcp_subs *x = &s->srv->subs;
    pthread_mutex_lock(&x->lock);
    sub_uri *u;
    mcp_sub *b = find(x, s, uri, &u);
    if (b)
        sub_drop(x, b);
    pthread_mutex_unlock(&x->lock);
}

void mcp_session_unsubscribe_all(mcp_session *s)
{
    mcp_subs *x = &s->srv->subs;
    pthread_mutex_lock(&x->lock);
    while (s->subs)
        sub_drop(x, OF(mcp_sub, in_session, s->subs));
    while (s->notify_refs)
        pthread_cond_wait(&x->idle, &x->lock);
    pthread_mutex_unlock(&x->lock);
}

/* ---- updates ---- */

typedef struct target {
    mcp_session *s;
    void *subscriber;
    char *uri;
} target;

typedef struct targets {
    target *v;
    size_t n, cap;
} targets;

/* With the lock held: every subscription of u becomes a target (its session held). */
static void collect(mcp_subs *x, const sub_uri *u, targets *t)
{
    for (dlink *l = u->subs; l; l = l->next) {
        const mcp_sub *b = OF(mcp_sub, in_uri, l);
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 8;
            t->v = xrealloc(t->v, t->cap * sizeof *t->v);
        }
        t->v[t->n++] = (target){b->s, b->subscriber, xstrndup(u->uri, u->len)};
        b->s->notify_refs++;
        x->examined++;
    }
}

/* Without the lock: filters and sends, then lets the sessions go. Returns how many
 * notifications were sent. */
static int deliver(mcp_subs *x, targets *t, mcp_update_filter_fn filter, void *ud)
{
    int n = 0;
    for (size_t i = 0; i < t->n; i++) {
        target *g = &t->v[i];
        if (filter && !filter(ud, g->s, g->subscriber, g->uri))
            continue;
        json_t *msg = json_pack("{s:s,s:s,s:{s:s}}", "jsonrpc", "2.0", "method",
                                "notifications/resources/updated", "params", "uri", g->uri);
        n += mcp_session_send_json(g->s, NULL, msg) == 0;
    }
    pthread_mutex_lock(&x->lock);
    bool wake = false;
    for (size_t i = 0; i < t->n; i++) {
        wake |= --t->v[i].s->notify_refs == 0;
        free(t->v[i].uri);
    }
    if (wake)
        pthread_cond_broadcast(&x->idle);
    pthread_mutex_unlock(&x->lock);
    free(t->v);
    return n;
}

int mcp_resource_updated(mcp_server *srv, const char *uri)
{
    if (!srv || !uri)
        return 0;
    mcp_subs *x = &srv->subs;
    targets t = {0};
    pthread_mutex_lock(&x->lock);
    const sub_uri *u = hash_get(x->uris, uri, strlen(uri));
    if (u)
        collect(x, u, &t);
    pthread_mutex_unlock(&x->lock);
    return deliver(x, &t, NULL, NULL);
}

/* Does entry u (of template ti) carry every bound value? */
static bool bound_match(const sub_uri *u, size_t ti, const json_t *bound)
{
    if (u->ti != ti)
        return false;
    const char *k;
    json_t *want;
    json_object_foreach ((json_t *)bound, k, want) {
        json_t *got = json_object_get(u->vars, k);
        if (!got || !json_equal(got, want))
            return false;
    }
    return true;
}

int mcp_resource_updated_where(mcp_server *srv, const char *uri_template, const json_t *bound,
                               mcp_update_filter_fn filter, void *ud)
{
    if (!srv || !uri_template || (bound && !json_is_object(bound)))
        return -1;
    size_t ti = 0;
    while (ti < srv->ntemplates && strcmp(srv->templates[ti].uri_template, uri_template) != 0)
        ti++;
    if (ti == srv->ntemplates)
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)bound, k, v)
        if (!json_is_string(v) || !mcp_template_has_var(uri_template, k))
            return -1;
    mcp_subs *x = &srv->subs;
    targets t = {0};
    sbuf_t key = SBUF_INIT;
    void *it = bound ? json_object_iter((json_t *)bound) : NULL;
    if (it)
        group_key(&key, ti, json_object_iter_key(it),
                  json_string_value(json_object_iter_value(it)));
    pthread_mutex_lock(&x->lock);
    if (it) { /* the URIs filed under the first bound variable's value */
        const sub_group *g = hash_get(x->groups, key.p, key.len);
        for (dlink *l = g ? g->head : NULL; l; l = l->next)
            if (bound_match(OF(glink, in, l)->u, ti, bound))
                collect(x, OF(glink, in, l)->u, &t);
    } else { /* nothing bound: every subscribed URI of the template */
        hash_iter hi = HASH_ITER_INIT;
        for (const sub_uri *u; (u = hash_next(x->uris, &hi, NULL, NULL)) != NULL;)
            if (u->ti == ti)
                collect(x, u, &t);
    }
    pthread_mutex_unlock(&x->lock);
    sbuf_free(&key);
    return deliver(x, &t, filter, ud);
}

int mcp_resource_updated_template(mcp_server *srv, const char *uri_template, const json_t *bound)
{
    return mcp_resource_updated_where(srv, uri_template, bound, NULL, NULL);
}
