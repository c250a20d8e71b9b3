/*
 * mustache_parse: Mustache source to the flat node array of mustache_int.h,
 * once per template. One pass over the source; the node array grows by
 * doubling (nothing is allocated per token) and strings point into the
 * source.
 *
 * Standalone lines follow the spec. A tag other than an interpolation that
 * is alone on its line but for whitespace takes the whole line with it
 * (its NODE_LINE, the whitespace before it and the line ending after it).
 * Parents and blocks are also judged as pairs (~inheritance): a parent
 * whose opening tag starts its line and whose closing tag ends one is
 * standalone and indented like a partial; a parameter block placed so is a
 * "standalone pair" whose indentation is given to an overriding argument
 * (the next line's when its opening tag ended its line, else the
 * whitespace before the tag). Inside an argument block whose opening tag
 * ends its line, the "intrinsic" indentation (the whitespace that starts
 * the line after it) is left out of every line, so that the argument takes
 * the indentation of the place it is put. Text directly inside a parent is
 * parsed (it may change the delimiters) but never rendered.
 */
#include "core/mustache_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "core/mustache.h"

#define NONE ((size_t)-1)

enum { MEASURE_NONE, MEASURE_STRIP, MEASURE_INDENT };

/* A container tag not closed yet. */
struct open {
    size_t node;       /* its index */
    size_t at;         /* offset of its tag, for messages */
    const char *strip; /* argument block: intrinsic indentation left out of its lines */
    size_t nstrip;
    int measure;               /* MEASURE_*: what to take from the next line's leading whitespace */
    int left;                  /* only whitespace before the opening tag on its line */
    size_t lead_line, lead_ws; /* the NODE_LINE and whitespace before the tag, or NONE */
};

struct parser {
    struct mustache_tmpl *t;
    const char *s;
    size_t len, pos;
    size_t bol;       /* where the current line's content starts */
    size_t line_node; /* index of the current line's NODE_LINE, or NONE */
    size_t next_tag;  /* offset of the next opening delimiter at or after pos, or NONE */
    int next_known;   /* next_tag is valid for the delimiters in force */
    const char *otag, *ctag;
    size_t olen, clen;
    size_t cap;
    size_t depth;
    struct open open[MUSTACHE_MAX_DEPTH];
    char *err;
    size_t errlen;
};

static int line_of(const struct parser *p, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && i < p->len; i++)
        line += p->s[i] == '\n';
    return line;
}

static int fail(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return -1;
    int k = snprintf(p->err, p->errlen, "line %d: ", line_of(p, at));
    if (k >= 0 && (size_t)k < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static size_t push(struct parser *p, int kind, const char *s, size_t n)
{
    struct mustache_tmpl *t = p->t;
    if (t->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        t->nodes = xrealloc(t->nodes, p->cap * sizeof(*t->nodes));
    }
    struct mustache_node *nd = &t->nodes[t->n];
    memset(nd, 0, sizeof(*nd));
    nd->kind = (unsigned char)kind;
    nd->end = t->n + 1;
    nd->s = s;
    nd->n = n;
    return t->n++;
}

static void text(struct parser *p, size_t from, size_t to)
{
    if (to > from)
        push(p, NODE_TEXT, p->s + from, to - from);
}

static size_t blank_run(const struct parser *p, size_t at)
{
    size_t n = 0;
    while (at + n < p->len && (p->s[at + n] == ' ' || p->s[at + n] == '\t'))
        n++;
    return n;
}

/* A new source line starts at pos: leave out the intrinsic indentation of
 * the argument blocks we are in, take the measures asked for, and mark the
 * line (unless the source ends here). */
static void line_start(struct parser *p)
{
    for (size_t i = 0; i < p->depth; i++) {
        struct open *o = &p->open[i];
        if (o->measure == MEASURE_STRIP) {
            o->strip = p->s + p->pos;
            o->nstrip = blank_run(p, p->pos);
        } else if (o->measure == MEASURE_INDENT) {
            p->t->nodes[o->node].ind = p->s + p->pos;
            p->t->nodes[o->node].nind = blank_run(p, p->pos);
        }
        o->measure = MEASURE_NONE;
        if (o->nstrip && p->len - p->pos >= o->nstrip &&
            memcmp(p->s + p->pos, o->strip, o->nstrip) == 0)
            p->pos += o->nstrip;
    }
    p->bol = p->pos;
    p->line_node = p->pos < p->len ? push(p, NODE_LINE, p->s + p->pos, 0) : NONE;
}

/* Only blanks between the line's start and 'at'? */
static int clear_left(const struct parser *p, size_t at)
{
    for (size_t i = p->bol; i < at; i++)
        if (p->s[i] != ' ' && p->s[i] != '\t')
            return 0;
    return 1;
}

/* The offset past the line ending if only blanks follow 'at' on its line
 * (the end of the source counts as a line ending), else NONE. */
static size_t clear_right(const struct parser *p, size_t at)
{
    at += blank_run(p, at);
    if (at == p->len)
        return at;
    if (p->s[at] == '\n')
        return at + 1;
    if (p->s[at] == '\r' && at + 1 < p->len && p->s[at + 1] == '\n')
        return at + 2;
    return NONE;
}

/* Where a standalone tag spanning [at, end) takes the parse (past its line
 * ending), or NONE when the tag is not standalone. */
static size_t standalone_end(const struct parser *p, size_t at, size_t end)
{
    return clear_left(p, at) ? clear_right(p, end) : NONE;
}

/* Forget the current line's nodes (its NODE_LINE and leading blanks). */
static void drop_line(struct parser *p)
{
    if (p->line_node != NONE)
        p->t->n = p->line_node;
    p->line_node = NONE;
}

static size_t find_tag(struct parser *p)
{
    if (!p->next_known || (p->next_tag != NONE && p->next_tag < p->pos)) {
        const char *hit = memmem(p->s + p->pos, p->len - p->pos, p->otag, p->olen);
        p->next_tag = hit ? (size_t)(hit - p->s) : NONE;
        p->next_known = 1;
    }
    return p->next_tag;
}

/* The closing delimiter of the tag whose content starts at 'q': the
 * content ends at *content_end and the tag at *end. 'closer' is '}' for
 * {{{name}}} and '=' for {{=a b=}}, which need that character before the
 * closing delimiter. */
static int find_close(const struct parser *p, size_t q, char closer, size_t *content_end,
                      size_t *end)
{
    for (size_t from = q; from < p->len;) {
        const char *hit = memmem(p->s + from, p->len - from, p->ctag, p->clen);
        if (!hit)
            return -1;
        size_t c = (size_t)(hit - p->s);
        if (!closer || (c > q && p->s[c - 1] == closer)) {
            *content_end = closer ? c - 1 : c;
            *end = c + p->clen;
            return 0;
        }
        from = c + 1;
    }
    return -1;
}

static struct open *push_open(struct parser *p, size_t node, size_t at)
{
    struct open *o = &p->open[p->depth++];
    memset(o, 0, sizeof(*o));
    o->node = node;
    o->at = at;
    o->lead_line = o->lead_ws = NONE;
    return o;
}

/* Remember the line's NODE_LINE and leading blanks before a tag at 'at' with
 * only blanks before it, to remove them should its pair turn out standalone. */
static void note_lead(struct parser *p, struct open *o, size_t at)
{
    struct mustache_node *nd = &p->t->nodes[o->node];
    o->left = 1;
    o->lead_line = p->line_node;
    if (p->line_node != NONE && o->node == p->line_node + 2)
        o->lead_ws = p->line_node + 1;
    nd->ind = p->s + p->bol;
    nd->nind = at - p->bol;
}

static void kill_lead(struct parser *p, const struct open *o)
{
    if (o->lead_line != NONE)
        p->t->nodes[o->lead_line].kind = NODE_DEAD;
    if (o->lead_ws != NONE)
        p->t->nodes[o->lead_ws].kind = NODE_DEAD;
}

static int check_name(struct parser *p, size_t at, const char *name, size_t n)
{
    if (n == 0)
        return fail(p, at, "empty tag");
    for (size_t i = 0; i < n; i++)
        if (is_space(name[i]))
            return fail(p, at, "bad tag name '%.*s'", (int)n, name);
    return 0;
}

static int check_depth(struct parser *p, size_t at)
{
    if (p->depth < MUSTACHE_MAX_DEPTH)
        return 0;
    return fail(p, at, "sections nested deeper than %d", MUSTACHE_MAX_DEPTH);
}

static int set_delimiters(struct parser *p, size_t at, const char *c, size_t n)
{
    size_t a = 0, b;
    while (a < n && !is_space(c[a]))
        a++;
    for (b = a; b < n && is_space(c[b]); b++)
        ;
    int bad = a == 0 || b == a || b == n;
    for (size_t i = b; i < n; i++)
        bad |= is_space(c[i]);
    if (bad)
        return fail(p, at, "bad delimiters '%.*s'", (int)n, c);
    p->otag = c;
    p->olen = a;
    p->ctag = c + b;
    p->clen = n - b;
    p->next_known = 0;
    return 0;
}

/* A tag that renders nothing by itself ({{! }} and {{= =}}). */
static void quiet_tag(struct parser *p, size_t at, size_t end)
{
    size_t eol = standalone_end(p, at, end);
    if (eol == NONE) {
        p->pos = end;
        return;
    }
    drop_line(p);
    p->pos = eol;
    line_start(p);
}

static int open_section(struct parser *p, size_t at, size_t end, int kind, const char *name,
                        size_t n)
{
    if (check_depth(p, at) != 0)
        return -1;
    size_t eol = standalone_end(p, at, end);
    if (eol != NONE)
        drop_line(p);
    size_t i = push(p, kind, name, n);
    struct mustache_node *nd = &p->t->nodes[i];
    nd->body = p->s + end;
    nd->otag = p->otag;
    nd->olen = p->olen;
    nd->ctag = p->ctag;
    nd->clen = p->clen;
    push_open(p, i, at);
    p->pos = eol != NONE ? eol : end;
    if (eol != NONE)
        line_start(p);
    return 0;
}

static int open_parent(struct parser *p, size_t at, size_t end, const char *name, size_t n, int dyn)
{
    if (check_depth(p, at) != 0)
        return -1;
    size_t i = push(p, NODE_PARENT, name, n);
    p->t->nodes[i].flags = dyn ? NODE_F_DYNAMIC : 0;
    struct open *o = push_open(p, i, at);
    if (clear_left(p, at))
        note_lead(p, o, at);
    p->pos = end;
    return 0;
}

static int open_block(struct parser *p, size_t at, size_t end, const char *name, size_t n)
{
    if (check_depth(p, at) != 0)
        return -1;
    int arg = p->depth && p->t->nodes[p->open[p->depth - 1].node].kind == NODE_PARENT;
    size_t eol = clear_right(p, end);
    if (arg) {
        struct open *o = push_open(p, push(p, NODE_BLOCK, name, n), at);
        p->t->nodes[o->node].flags = NODE_F_ARG | (eol != NONE ? NODE_F_EOL : 0);
        o->measure = eol != NONE ? MEASURE_STRIP : MEASURE_NONE;
    } else if (eol != NONE && clear_left(p, at)) {
        drop_line(p);
        struct open *o = push_open(p, push(p, NODE_BLOCK, name, n), at);
        p->t->nodes[o->node].flags = NODE_F_EOL;
        o->left = 1;
        o->measure = MEASURE_INDENT;
    } else {
        struct open *o = push_open(p, push(p, NODE_BLOCK, name, n), at);
        if (clear_left(p, at))
            note_lead(p, o, at);
        eol = NONE;
    }
    p->pos = eol != NONE ? eol : end;
    if (eol != NONE)
        line_start(p);
    return 0;
}

static int partial(struct parser *p, size_t at, size_t end, const char *name, size_t n, int dyn)
{
    size_t eol = standalone_end(p, at, end), bol = p->bol;
    if (eol != NONE)
        drop_line(p);
    size_t i = push(p, NODE_PARTIAL, name, n); /* before taking nodes: push may move them */
    struct mustache_node *nd = &p->t->nodes[i];
    nd->flags = dyn ? NODE_F_DYNAMIC : 0;
    if (eol == NONE) {
        p->pos = end;
        return 0;
    }
    nd->flags |= NODE_F_STANDALONE;
    nd->ind = p->s + bol;
    nd->nind = at - bol;
    p->pos = eol;
    line_start(p);
    return 0;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case NODE_PARENT:
        return "parent";
    case NODE_BLOCK:
        return "block";
    default:
        return "section";
    }
}

/* Close the innermost container; 'at'..'end' is the closing tag. */
static void close_open(struct parser *p, size_t at, size_t end)
{
    struct open *o = &p->open[p->depth - 1];
    struct mustache_node *nd = &p->t->nodes[o->node];
    int left = clear_left(p, at);
    size_t eol = clear_right(p, end);
    if (nd->kind == NODE_SECTION || nd->kind == NODE_INVERTED)
        nd->nbody = (size_t)(p->s + at - nd->body);
    if (nd->flags & NODE_F_ARG) {
        if (left)
            drop_line(p);
        eol = NONE;
    } else if (nd->kind == NODE_PARENT) {
        if (!o->left)
            eol = NONE;
        if (eol != NONE) {
            nd->flags |= NODE_F_STANDALONE;
            kill_lead(p, o);
        }
    } else {
        if (nd->kind == NODE_BLOCK && o->left && eol != NONE) {
            nd->flags |= NODE_F_STANDALONE;
            if (!(nd->flags & NODE_F_EOL))
                kill_lead(p, o);
        }
        if (!left)
            eol = NONE;
        if (eol != NONE)
            drop_line(p);
    }
    nd->end = p->t->n;
    p->depth--;
    p->pos = eol != NONE ? eol : end;
    if (eol != NONE)
        line_start(p);
}

static int close_tag(struct parser *p, size_t at, size_t end, const char *name, size_t n)
{
    if (n == 0)
        return fail(p, at, "empty tag");
    if (p->depth == 0)
        return fail(p, at, "closing tag '%.*s' closes nothing", (int)n, name);
    const struct open *o = &p->open[p->depth - 1];
    const struct mustache_node *nd = &p->t->nodes[o->node];
    const char *cmp = name;
    size_t cn = n;
    if ((nd->flags & NODE_F_DYNAMIC) && *cmp == '*') /* closed by "/", "*" and the name */
        for (cmp++, cn--; cn && is_space(*cmp); cmp++, cn--)
            ;
    else if (nd->flags & NODE_F_DYNAMIC)
        cn = NONE;
    if (cn != nd->n || memcmp(cmp, nd->s, cn) != 0)
        return fail(p, at, "closing tag '%.*s' does not match %s '%.*s' (line %d)", (int)n, name,
                    kind_name(nd->kind), (int)nd->n, nd->s, line_of(p, o->at));
    close_open(p, at, end);
    return 0;
}

/* 'c' (trimmed content) names a partial or parent, "*name" for a dynamic one. */
static int dyn_name(struct parser *p, size_t at, const char **c, size_t *n, int *dyn)
{
    *dyn = *n && **c == '*';
    if (*dyn)
        for ((*c)++, (*n)--; *n && is_space(**c); (*c)++, (*n)--)
            ;
    return check_name(p, at, *c, *n);
}

static int tag(struct parser *p, size_t at, char type, const char *c, size_t n, size_t end)
{
    int dyn = 0;
    switch (type) {
    case '!':
        quiet_tag(p, at, end);
        return 0;
    case '=':
        if (set_delimiters(p, at, c, n) != 0)
            return -1;
        quiet_tag(p, at, end);
        return 0;
    case '/':
        return close_tag(p, at, end, c, n);
    case '#':
    case '^':
        if (check_name(p, at, c, n) != 0)
            return -1;
        return open_section(p, at, end, type == '#' ? NODE_SECTION : NODE_INVERTED, c, n);
    case '$':
        return check_name(p, at, c, n) ? -1 : open_block(p, at, end, c, n);
    case '>':
        return dyn_name(p, at, &c, &n, &dyn) ? -1 : partial(p, at, end, c, n, dyn);
    case '<':
        return dyn_name(p, at, &c, &n, &dyn) ? -1 : open_parent(p, at, end, c, n, dyn);
    default:
        if (check_name(p, at, c, n) != 0)
            return -1;
        size_t i = push(p, NODE_VAR, c, n);
        p->t->nodes[i].flags = type ? NODE_F_RAW : 0;
        p->pos = end;
        return 0;
    }
}

/* The tag whose opening delimiter is at pos. */
static int parse_tag(struct parser *p)
{
    size_t at = p->pos, q = at + p->olen, content_end, end;
    char type = q < p->len ? p->s[q] : '\0';
    if (type && strchr("!=#^/>&{<$", type))
        q++;
    else
        type = '\0';
    char closer = type == '{' ? '}' : type == '=' ? '=' : '\0';
    if (find_close(p, q, closer, &content_end, &end) != 0)
        return fail(p, at, "unclosed tag");
    const char *c = p->s + q;
    size_t n = content_end - q;
    while (n && is_space(*c))
        c++, n--;
    while (n && is_space(c[n - 1]))
        n--;
    return tag(p, at, type, c, n, end);
}

static int parse_all(struct parser *p)
{
    line_start(p);
    while (p->pos < p->len) {
        size_t at = find_tag(p), stop = at == NONE ? p->len : at;
        const char *nl = memchr(p->s + p->pos, '\n', stop - p->pos);
        if (nl) {
            size_t e = (size_t)(nl - p->s) + 1;
            text(p, p->pos, e);
            p->pos = e;
            line_start(p);
            continue;
        }
        text(p, p->pos, stop);
        p->pos = stop;
        if (at != NONE && parse_tag(p) != 0)
            return -1;
    }
    if (p->depth == 0)
        return 0;
    const struct open *o = &p->open[p->depth - 1];
    const struct mustache_node *nd = &p->t->nodes[o->node];
    return fail(p, o->at, "unclosed %s '%.*s'", kind_name(nd->kind), (int)nd->n, nd->s);
}

int mustache_parse(struct mustache_tmpl *t, const char *otag, size_t olen, const char *ctag,
                   size_t clen, char *err, size_t errlen)
{
    struct parser *p = xcalloc(1, sizeof(*p));
    p->t = t;
    p->s = t->src;
    p->len = t->len;
    p->line_node = NONE;
    p->otag = otag;
    p->olen = olen;
    p->ctag = ctag;
    p->clen = clen;
    p->err = err;
    p->errlen = errlen;
    t->nodes = NULL;
    t->n = 0;
    int rc = parse_all(p);
    if (rc != 0) {
        free(t->nodes);
        t->nodes = NULL;
        t->n = 0;
    }
    free(p);
    return rc;
}

struct mustache_tmpl *mustache_tmpl_new(char *src, size_t len)
{
    struct mustache_tmpl *t = xcalloc(1, sizeof(*t));
    t->src = src;
    t->len = len;
    return t;
}

void mustache_tmpl_free(struct mustache_tmpl *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->src);
    free(t);
}
