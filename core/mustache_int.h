/*
 * mustache_int: what mustache.c (the set and the renderer) and
 * mustache_parse.c (the parser) share. Not part of the module's face.
 *
 * A parsed template is one flat array of nodes in source order. A
 * container (section, inverted section, parent, block) is followed by its
 * children; its 'end' is the index just past the last of them, so the
 * children of node i are i+1 .. end-1 and a sibling walk steps j = end.
 * Every other node has end = its index + 1.
 *
 * Indentation (standalone partials, parents and blocks) is not baked into
 * the text: a NODE_LINE marks each place where a source line starts and
 * the renderer writes the indentation in force there. So one parsed
 * template serves every indentation it is used with.
 *
 * Strings in nodes point into the template's own 'src' (never copied).
 */
#ifndef CORE_MUSTACHE_INT_H
#define CORE_MUSTACHE_INT_H

#include <stddef.h>
#include <stdint.h>

enum mustache_node_kind {
    NODE_DEAD,     /* removed after the fact: renders nothing */
    NODE_LINE,     /* a source line starts here: write the indentation */
    NODE_TEXT,     /* 's', 'n': literal text, at most one line */
    NODE_VAR,      /* {{name}}, or {{{name}}} / {{&name}} with NODE_F_RAW */
    NODE_SECTION,  /* {{#name}} */
    NODE_INVERTED, /* {{^name}} */
    NODE_PARTIAL,  /* {{>name}} */
    NODE_PARENT,   /* {{<name}} */
    NODE_BLOCK,    /* {{$name}} */
};

#define NODE_F_RAW 1     /* var: no HTML escaping */
#define NODE_F_DYNAMIC 2 /* partial, parent: 'name' names the data holding the name */
#define NODE_F_STANDALONE                                                                          \
    4 /* partial, parent: standalone, 'ind' indents it; block: a
                               standalone pair, 'ind' indents an overriding argument */
#define NODE_F_EOL                                                                                 \
    8                 /* block: the opening tag ended its line, so the content starts
                               a line (a parameter's tag was alone on it, and 'ind' is the
                               next line's indentation) */
#define NODE_F_ARG 16 /* block: an argument (a direct child of a parent) */

struct mustache_node {
    unsigned char kind, flags;
    size_t end;
    const char *s; /* text, or the tag's name */
    size_t n;
    const char *ind; /* partial, parent, block: indentation (see the flags) */
    size_t nind;
    const char *body; /* section: its unrendered source, for a lambda */
    size_t nbody;
    const char *otag, *ctag; /* section: the delimiters in force, for a lambda */
    size_t olen, clen;
};

/* One parsed template. 'refs' and 'retired' are guarded by the set's mutex:
 * a template replaced by mustache_add while renders hold it is freed by the
 * last of them. */
struct mustache_tmpl {
    char *src; /* owned */
    size_t len;
    struct mustache_node *nodes;
    size_t n;
    unsigned refs;
    int retired;
};

/* Parse 't->src' ('t->len' bytes) into 't->nodes' starting with the
 * delimiters 'otag' and 'ctag'. Returns 0, or -1 with "line N: reason" in
 * 'err' (t->nodes is then freed). */
int mustache_parse(struct mustache_tmpl *t, const char *otag, size_t olen, const char *ctag,
                   size_t clen, char *err, size_t errlen) __attribute__((warn_unused_result));

/* A template that owns 'src' ('len' bytes, from malloc), not parsed yet. */
struct mustache_tmpl *mustache_tmpl_new(char *src, size_t len);
/* Free 't', its nodes and its source; accepts NULL. */
void mustache_tmpl_free(struct mustache_tmpl *t);

#endif
