/*
 * mustache: the template set and the renderer (the parser is
 * mustache_parse.c; what the two share is in mustache_int.h).
 *
 * The set is a hash table from name to parsed template (NULL when the
 * loader had none, so it is not asked again), guarded by one mutex. The
 * mutex is held to look a name up, to load and parse a template the first
 * time it is needed (so the loader is called once per name, and never
 * concurrently), and to count references: a render holds one on every
 * template it is inside, and a template replaced by mustache_add while
 * held is freed by whoever drops the last reference.
 *
 * A render walks the node array recursively, keeping three stacks on the C
 * stack: the context stack (data), the chain of parent tags whose
 * argument blocks override parameter blocks (the outermost wins), and the
 * indentation, kept in one buf whose tail [ibase, len) is the indentation
 * in force (a standalone partial appends its own; an inline one starts
 * afresh). Each step down (section, partial, parent, block, lambda) counts
 * against MUSTACHE_MAX_DEPTH.
 *
 * Values: strings as they are, numbers in their shortest form (1.210 is
 * "1.21", 85.0 is "85"), true/false as words, null as nothing, arrays and
 * objects as compact JSON. Falsey for sections: a missing name, null,
 * false and the empty list; 0 and "" are truthy, as in the spec's
 * reference implementation.
 */
#include "core/mustache.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "core/mustache_int.h"

#define NONE ((size_t)-1)

struct entry {
    struct entry *next;
    char *name;
    size_t n;
    struct mustache_tmpl *t; /* NULL: the loader had no such template */
};

struct mustache {
    pthread_mutex_t mu;
    mustache_loader load;
    void *load_arg;
    struct entry **slot;
    size_t nslot, count;
    int plain; /* mustache_set_plain: {{name}} is not HTML-escaped */
};

struct ctx {
    const cJSON *v;
    const struct ctx *up;
};

/* A parent tag being rendered: its argument blocks override. */
struct frame {
    const struct frame *outer;
    const struct mustache_tmpl *t;
    size_t node;
};

struct render {
    struct mustache *m;
    const struct mustache_lambda *lambdas;
    size_t nlambdas;
    struct buf *out;
    struct buf ind; /* indentation; [ibase, len) is in force */
    size_t ibase;
    int skip;         /* the next line start is the current output line's: write only */
    size_t skip_from; /* the indentation pushed since ind.len was skip_from */
    const struct ctx *ctx;
    const struct frame *chain;
    int depth;
    char *err;
    size_t errlen;
};

static int render_range(struct render *r, const struct mustache_tmpl *t, size_t i, size_t end);

/* ---- the set ---- */

static size_t hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return (size_t)h;
}

static struct entry *find(const struct mustache *m, const char *name, size_t n)
{
    for (struct entry *e = m->slot[hash(name, n) & (m->nslot - 1)]; e; e = e->next)
        if (e->n == n && memcmp(e->name, name, n) == 0)
            return e;
    return NULL;
}

/* A new entry for 'name' (taken; 'n' bytes), template NULL. */
static struct entry *insert(struct mustache *m, char *name, size_t n)
{
    if (m->count >= m->nslot) {
        size_t nslot = m->nslot * 2;
        struct entry **slot = xcalloc(nslot, sizeof(*slot));
        for (size_t i = 0; i < m->nslot; i++)
            for (struct entry *e = m->slot[i], *next; e; e = next) {
                next = e->next;
                e->next = slot[hash(e->name, e->n) & (nslot - 1)];
                slot[hash(e->name, e->n) & (nslot - 1)] = e;
            }
        free(m->slot);
        m->slot = slot;
        m->nslot = nslot;
    }
    struct entry *e = xcalloc(1, sizeof(*e));
    e->name = name;
    e->n = n;
    e->next = m->slot[hash(name, n) & (m->nslot - 1)];
    m->slot[hash(name, n) & (m->nslot - 1)] = e;
    m->count++;
    return e;
}

struct mustache *mustache_new(mustache_loader load, void *load_arg)
{
    struct mustache *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->load = load;
    m->load_arg = load_arg;
    m->nslot = 16;
    m->slot = xcalloc(m->nslot, sizeof(*m->slot));
    return m;
}

void mustache_set_plain(struct mustache *m, int plain)
{
    m->plain = plain != 0;
}

void mustache_free(struct mustache *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nslot; i++)
        for (struct entry *e = m->slot[i], *next; e; e = next) {
            next = e->next;
            mustache_tmpl_free(e->t);
            free(e->name);
            free(e);
        }
    free(m->slot);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int mustache_add(struct mustache *m, const char *name, const char *src, size_t len, char *err,
                 size_t errlen)
{
    char *copy = xmalloc(len + 1);
    if (len)
        memcpy(copy, src, len);
    copy[len] = '\0';
    struct mustache_tmpl *t = mustache_tmpl_new(copy, len);
    if (mustache_parse(t, "{{", 2, "}}", 2, err, errlen) != 0) {
        mustache_tmpl_free(t);
        return MUSTACHE_ERR_SYNTAX;
    }
    size_t n = strlen(name);
    pthread_mutex_lock(&m->mu);
    struct entry *e = find(m, name, n);
    if (!e)
        e = insert(m, xstrdup(name), n);
    struct mustache_tmpl *old = e->t;
    e->t = t;
    int unused = old && old->refs == 0;
    if (old && !unused)
        old->retired = 1; /* the last render holding it frees it */
    pthread_mutex_unlock(&m->mu);
    if (unused)
        mustache_tmpl_free(old);
    if (err && errlen)
        err[0] = '\0';
    return MUSTACHE_OK;
}

/* Ask the loader for 'name' and keep its answer, a missing template too.
 * Called with the lock held. */
static int load(struct mustache *m, const char *name, size_t n, struct entry **ep, char *why,
                size_t whylen)
{
    char *key = xmalloc(n + 1);
    memcpy(key, name, n);
    key[n] = '\0';
    size_t len = 0;
    char *src = m->load(m->load_arg, key, &len);
    struct mustache_tmpl *t = NULL;
    if (src) {
        t = mustache_tmpl_new(src, len);
        if (mustache_parse(t, "{{", 2, "}}", 2, why, whylen) != 0) {
            mustache_tmpl_free(t);
            free(key);
            return MUSTACHE_ERR_SYNTAX; /* not kept: asked again next time */
        }
    }
    *ep = insert(m, key, n);
    (*ep)->t = t;
    return MUSTACHE_OK;
}

/* Template 'name' with a reference taken (*out NULL when there is none). */
static int get(struct mustache *m, const char *name, size_t n, struct mustache_tmpl **out,
               char *why, size_t whylen)
{
    int rc = MUSTACHE_OK;
    *out = NULL;
    pthread_mutex_lock(&m->mu);
    struct entry *e = find(m, name, n);
    if (!e && m->load)
        rc = load(m, name, n, &e, why, whylen);
    if (e && e->t) {
        e->t->refs++;
        *out = e->t;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void unref(struct mustache *m, struct mustache_tmpl *t)
{
    pthread_mutex_lock(&m->mu);
    int dead = --t->refs == 0 && t->retired;
    pthread_mutex_unlock(&m->mu);
    if (dead)
        mustache_tmpl_free(t);
}

/* ---- output ---- */

static int fail(struct render *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct render *r, int rc, const char *fmt, ...)
{
    if (r->err && r->errlen && !r->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int put(struct render *r, const char *s, size_t n)
{
    if (n == 0 || buf_append(r->out, s, n) == BUF_OK)
        return MUSTACHE_OK;
    return fail(r, MUSTACHE_ERR_TOOBIG, "the output passed %zu bytes", r->out->max);
}

static const char *entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '"':
        return "&quot;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

static int put_escaped(struct render *r, const char *s, size_t n)
{
    size_t from = 0;
    if (r->m->plain)
        return put(r, s, n);
    for (size_t i = 0; i < n; i++) {
        const char *ent = entity(s[i]);
        if (!ent)
            continue;
        int rc = put(r, s + from, i - from);
        if (rc == MUSTACHE_OK)
            rc = put(r, ent, strlen(ent));
        if (rc != MUSTACHE_OK)
            return rc;
        from = i + 1;
    }
    return put(r, s + from, n - from);
}

static const char *indent(const struct render *r, size_t *n)
{
    *n = r->ind.len - r->ibase;
    return buf_str(&r->ind) + r->ibase;
}

static int indent_push(struct render *r, const char *s, size_t n)
{
    if (buf_append(&r->ind, s, n) == BUF_OK) /* no ceiling: never fails */
        return MUSTACHE_OK;
    return fail(r, MUSTACHE_ERR_TOOBIG, "indentation too deep");
}

static void indent_pop(struct render *r, size_t len)
{
    r->ind.len = len;
    if (r->ind.data)
        r->ind.data[len] = '\0';
}

/* A line starts: write the indentation in force. */
static int start_line(struct render *r)
{
    size_t n;
    const char *s = indent(r, &n);
    if (r->skip && r->skip_from > r->ibase) {
        s += r->skip_from - r->ibase;
        n -= r->skip_from - r->ibase;
    }
    r->skip = 0;
    return put(r, s, n);
}

/* ---- values ---- */

static void format_number(double d, char *out, size_t outlen)
{
    if (d == 0)
        snprintf(out, outlen, "0"); /* -0 too */
    else if (d == floor(d) && fabs(d) < 1e21)
        snprintf(out, outlen, "%.0f", d);
    else if (snprintf(out, outlen, "%.15g", d) > 0 && strtod(out, NULL) != d)
        snprintf(out, outlen, "%.17g", d);
}

/* The text of 'v'; '*json' is set to text to free with cJSON_free. */
static const char *value_text(const cJSON *v, char *tmp, size_t tmplen, char **json)
{
    *json = NULL;
    if (cJSON_IsString(v))
        return v->valuestring ? v->valuestring : "";
    if (cJSON_IsNumber(v)) {
        format_number(v->valuedouble, tmp, tmplen);
        return tmp;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        *json = cJSON_PrintUnformatted(v);
        return *json ? *json : "";
    }
    return "";
}

static int falsey(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v) || (cJSON_IsArray(v) && !v->child);
}

static const cJSON *member(const cJSON *obj, const char *name, size_t n)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strlen(c->string) == n && memcmp(c->string, name, n) == 0)
            return c;
    return NULL;
}

/* The value of a (dotted) name: the first part is looked up down the
 * context stack, each further part only in what the former one found. */
static const cJSON *lookup(const struct render *r, const char *name, size_t n)
{
    if (n == 1 && name[0] == '.')
        return r->ctx ? r->ctx->v : NULL;
    const char *dot = memchr(name, '.', n);
    size_t first = dot ? (size_t)(dot - name) : n;
    const cJSON *v = NULL;
    for (const struct ctx *c = r->ctx; c && !v; c = c->up)
        v = member(c->v, name, first);
    while (v && dot) {
        const char *part = dot + 1;
        size_t rest = n - (size_t)(part - name);
        dot = memchr(part, '.', rest);
        v = member(v, part, dot ? (size_t)(dot - part) : rest);
    }
    return v;
}

/* ---- lambdas ---- */

static const struct mustache_lambda *find_lambda(const struct render *r, const char *name)
{
    for (size_t i = 0; i < r->nlambdas; i++)
        if (r->lambdas[i].name && r->lambdas[i].fn && strcmp(r->lambdas[i].name, name) == 0)
            return &r->lambdas[i];
    return NULL;
}

/* Call the lambda 'v' names with 'text' and render what it returns, parsed
 * with the delimiters given, into 'into'. Not cached: called every time. */
static int run_lambda(struct render *r, const cJSON *v, const char *text, size_t len,
                      const char *const tags[2], const size_t tlen[2], struct buf *into)
{
    const char *name = v->valuestring ? v->valuestring : "";
    const struct mustache_lambda *lam = find_lambda(r, name);
    if (!lam)
        return fail(r, MUSTACHE_ERR_LAMBDA, "no lambda '%s'", name);
    struct buf res;
    buf_init(&res, r->out->max);
    if (lam->fn(lam->arg, text, len, &res) != 0) {
        buf_release(&res);
        return fail(r, MUSTACHE_ERR_LAMBDA, "lambda '%s' failed", name);
    }
    size_t n;
    char *src = buf_take(&res, &n);
    struct mustache_tmpl *t = mustache_tmpl_new(src, n);
    char why[256];
    int rc = MUSTACHE_OK;
    if (mustache_parse(t, tags[0], tlen[0], tags[1], tlen[1], why, sizeof(why)) != 0) {
        rc = fail(r, MUSTACHE_ERR_SYNTAX, "lambda '%s': %s", name, why);
    } else {
        struct buf *out = r->out;
        size_t base = r->ibase;
        r->out = into;
        r->ibase = r->ind.len; /* its text is no line of ours */
        rc = render_range(r, t, 0, t->n);
        r->out = out;
        r->ibase = base;
    }
    mustache_tmpl_free(t);
    return rc;
}

/* {{name}} on a lambda: its text, rendered with the default delimiters,
 * then escaped unless 'raw'. */
static int interpolate_lambda(struct render *r, const cJSON *v, int raw)
{
    static const char *const tags[2] = {"{{", "}}"};
    static const size_t tlen[2] = {2, 2};
    struct buf tmp;
    buf_init(&tmp, r->out->max);
    int rc = run_lambda(r, v, NULL, 0, tags, tlen, &tmp);
    if (rc == MUSTACHE_OK)
        rc = raw ? put(r, buf_str(&tmp), tmp.len) : put_escaped(r, buf_str(&tmp), tmp.len);
    buf_release(&tmp);
    return rc;
}

/* ---- nodes ---- */

static int render_var(struct render *r, const struct mustache_node *nd)
{
    const cJSON *v = lookup(r, nd->s, nd->n);
    int raw = nd->flags & NODE_F_RAW;
    if (cJSON_IsRaw(v))
        return interpolate_lambda(r, v, raw);
    char tmp[40], *json;
    const char *s = value_text(v, tmp, sizeof(tmp), &json);
    int rc = raw ? put(r, s, strlen(s)) : put_escaped(r, s, strlen(s));
    cJSON_free(json);
    return rc;
}

static int with_context(struct render *r, const cJSON *v, const struct mustache_tmpl *t, size_t i)
{
    struct ctx c = {v, r->ctx};
    r->ctx = &c;
    int rc = render_range(r, t, i + 1, t->nodes[i].end);
    r->ctx = c.up;
    return rc;
}

static int render_section(struct render *r, const struct mustache_tmpl *t, size_t i)
{
    const struct mustache_node *nd = &t->nodes[i];
    const cJSON *v = lookup(r, nd->s, nd->n);
    if (cJSON_IsRaw(v)) { /* a lambda is truthy: an inverted section shows nothing */
        const char *const tags[2] = {nd->otag, nd->ctag};
        const size_t tlen[2] = {nd->olen, nd->clen};
        if (nd->kind == NODE_INVERTED)
            return MUSTACHE_OK;
        return run_lambda(r, v, nd->body, nd->nbody, tags, tlen, r->out);
    }
    if (nd->kind == NODE_INVERTED)
        return falsey(v) ? render_range(r, t, i + 1, nd->end) : MUSTACHE_OK;
    if (falsey(v))
        return MUSTACHE_OK;
    if (!cJSON_IsArray(v))
        return with_context(r, v, t, i);
    int rc = MUSTACHE_OK;
    for (const cJSON *el = v->child; el && rc == MUSTACHE_OK; el = el->next)
        rc = with_context(r, el, t, i);
    return rc;
}

/* The template a partial or parent tag names, with a reference taken; NULL
 * (and MUSTACHE_OK) when there is none: that renders as nothing. */
static int named(struct render *r, const struct mustache_node *nd, struct mustache_tmpl **out)
{
    const char *name = nd->s;
    size_t n = nd->n;
    *out = NULL;
    if (nd->flags & NODE_F_DYNAMIC) {
        const cJSON *v = lookup(r, nd->s, nd->n);
        if (!cJSON_IsString(v) || !v->valuestring)
            return MUSTACHE_OK;
        name = v->valuestring;
        n = strlen(name);
    }
    char why[256];
    int rc = get(r->m, name, n, out, why, sizeof(why));
    if (rc != MUSTACHE_OK)
        return fail(r, rc, "template '%.*s': %s", (int)n, name, why);
    return MUSTACHE_OK;
}

/* Template 'pt' in place of tag 'nd': a standalone tag indents every line
 * of it; an inline one starts it without indentation. */
static int expand(struct render *r, const struct mustache_node *nd, const struct mustache_tmpl *pt)
{
    size_t len = r->ind.len, base = r->ibase;
    int rc = MUSTACHE_OK;
    if (nd->flags & NODE_F_STANDALONE)
        rc = indent_push(r, nd->ind, nd->nind);
    else
        r->ibase = len;
    if (rc == MUSTACHE_OK)
        rc = render_range(r, pt, 0, pt->n);
    indent_pop(r, len);
    r->ibase = base;
    return rc;
}

static int render_partial(struct render *r, const struct mustache_tmpl *t, size_t i)
{
    struct mustache_tmpl *pt;
    int rc = named(r, &t->nodes[i], &pt);
    if (rc != MUSTACHE_OK || !pt)
        return rc;
    rc = expand(r, &t->nodes[i], pt);
    unref(r->m, pt);
    return rc;
}

static int render_parent(struct render *r, const struct mustache_tmpl *t, size_t i)
{
    struct mustache_tmpl *pt;
    int rc = named(r, &t->nodes[i], &pt);
    if (rc != MUSTACHE_OK || !pt)
        return rc;
    struct frame f = {r->chain, t, i};
    r->chain = &f;
    rc = expand(r, &t->nodes[i], pt);
    r->chain = f.outer;
    unref(r->m, pt);
    return rc;
}

/* The argument block 'name' of parent node 'p' in 't', or NONE. */
static size_t find_arg(const struct mustache_tmpl *t, size_t p, const char *name, size_t n)
{
    for (size_t j = p + 1; j < t->nodes[p].end; j = t->nodes[j].end)
        if (t->nodes[j].kind == NODE_BLOCK && t->nodes[j].n == n &&
            memcmp(t->nodes[j].s, name, n) == 0)
            return j;
    return NONE;
}

/* A parameter block: the outermost argument of that name overrides its
 * default. A standalone pair indents an argument (or its default when it
 * took the whitespace before it), writing the indentation of the first
 * line itself when the content starts mid-line; placed inline, it leaves
 * out the indentation of an argument's first line. */
static int render_block(struct render *r, const struct mustache_tmpl *t, size_t i)
{
    const struct mustache_node *nd = &t->nodes[i];
    const struct frame *owner = NULL, *chain = r->chain;
    size_t at = i, len = r->ind.len;
    for (const struct frame *f = r->chain; f; f = f->outer) {
        size_t a = find_arg(f->t, f->node, nd->s, nd->n);
        if (a != NONE) {
            owner = f;
            at = a;
        }
    }
    const struct mustache_tmpl *ct = owner ? owner->t : t;
    int starts_line = ct->nodes[at].flags & NODE_F_EOL, skip = r->skip, rc = MUSTACHE_OK;
    if ((nd->flags & NODE_F_STANDALONE) && (owner || !(nd->flags & NODE_F_EOL))) {
        rc = indent_push(r, nd->ind, nd->nind);
        if (rc == MUSTACHE_OK && !starts_line)
            rc = start_line(r);
    } else if (owner && starts_line && !skip) {
        r->skip = 1;
        r->skip_from = len;
    }
    if (owner)
        r->chain = owner->outer; /* its own blocks resolve where it was written */
    if (rc == MUSTACHE_OK)
        rc = render_range(r, ct, at + 1, ct->nodes[at].end);
    if (!skip)
        r->skip = 0; /* ours, and nothing was written */
    r->chain = chain;
    indent_pop(r, len);
    return rc;
}

static int render_node(struct render *r, const struct mustache_tmpl *t, size_t i)
{
    const struct mustache_node *nd = &t->nodes[i];
    switch (nd->kind) {
    case NODE_LINE:
        return start_line(r);
    case NODE_TEXT:
        return put(r, nd->s, nd->n);
    case NODE_VAR:
        return render_var(r, nd);
    case NODE_SECTION:
    case NODE_INVERTED:
        return render_section(r, t, i);
    case NODE_PARTIAL:
        return render_partial(r, t, i);
    case NODE_PARENT:
        return render_parent(r, t, i);
    case NODE_BLOCK:
        return render_block(r, t, i);
    default:
        return MUSTACHE_OK;
    }
}

static int render_range(struct render *r, const struct mustache_tmpl *t, size_t i, size_t end)
{
    if (r->depth >= MUSTACHE_MAX_DEPTH)
        return fail(r, MUSTACHE_ERR_DEPTH,
                    "nested deeper than %d (a partial that includes itself?)", MUSTACHE_MAX_DEPTH);
    r->depth++;
    int rc = MUSTACHE_OK;
    for (; i < end && rc == MUSTACHE_OK; i = t->nodes[i].end)
        rc = render_node(r, t, i);
    r->depth--;
    return rc;
}

int mustache_render(struct mustache *m, const char *name, const cJSON *data,
                    const struct mustache_lambda *lambdas, size_t nlambdas, struct buf *out,
                    char *err, size_t errlen)
{
    struct render r = {
        .m = m, .lambdas = lambdas, .nlambdas = nlambdas, .out = out, .err = err, .errlen = errlen};
    struct ctx root = {data, NULL};
    struct mustache_tmpl *t = NULL;
    if (err && errlen)
        err[0] = '\0';
    buf_init(&r.ind, 0);
    r.ctx = data ? &root : NULL;
    int rc = named(&r, &(struct mustache_node){.s = name, .n = strlen(name)}, &t);
    if (rc == MUSTACHE_OK && !t)
        rc = fail(&r, MUSTACHE_ERR_NOTFOUND, "no template '%s'", name);
    if (t) {
        rc = render_range(&r, t, 0, t->n);
        unref(m, t);
    }
    buf_release(&r.ind);
    return rc;
}
