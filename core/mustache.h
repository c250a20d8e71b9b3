/*
 * mustache: llmtap's Mustache renderer (https://mustache.github.io), written
 * to pass every test of the official spec (../shared/mustache-spec): comments,
 * delimiters, interpolation, inverted, partials, sections, and the optional
 * ~inheritance, ~dynamic-names and ~lambdas modules. The UI's pages and the
 * prompt registry's templates are rendered with it.
 *
 * A 'struct mustache' is a set of parsed templates kept by name: the cache.
 * A template is parsed once, the first time it is added or needed as a
 * partial or parent, and never changes afterwards, so renders share it.
 * Templates the set does not hold are asked of its loader (a missing
 * partial or parent renders as nothing, as the spec says).
 *
 * Data is a cJSON tree (borrowed for the render). A lambda is a cJSON_Raw
 * node whose valuestring is the name of one of the render's lambdas.
 * HTML escaping of {{name}} turns & " < > ' into entities; {{{name}}} and
 * {{&name}} do not escape (never use them on untrusted text). Values print
 * as: strings as they are, numbers in their shortest form (1.210 is "1.21",
 * 85.0 is "85"), true/false as words, null as nothing, arrays and objects
 * as compact JSON. A section is skipped for a missing name, null, false
 * and the empty list; 0 and "" are truthy (the spec's reference reading).
 *
 * Output is appended to a caller's bounded buf: passing its ceiling stops
 * the render with MUSTACHE_ERR_TOOBIG. Recursion through partials, parents
 * and sections is bounded by MUSTACHE_MAX_DEPTH.
 *
 * Thread-safety: mustache_render and mustache_add may be called from many
 * threads on one set (an internal mutex guards the name table; parsed
 * templates are immutable). The loader may be called from any of them.
 */
#ifndef CORE_MUSTACHE_H
#define CORE_MUSTACHE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

#define MUSTACHE_MAX_DEPTH 64

struct mustache;

enum mustache_result {
    MUSTACHE_OK = 0,
    MUSTACHE_ERR_SYNTAX,   /* unclosed tag or section, mismatched close, bad delimiters */
    MUSTACHE_ERR_TOOBIG,   /* the output passed the buf's ceiling */
    MUSTACHE_ERR_DEPTH,    /* nesting past MUSTACHE_MAX_DEPTH (a partial including itself) */
    MUSTACHE_ERR_LAMBDA,   /* a lambda failed, or a cJSON_Raw named no lambda given */
    MUSTACHE_ERR_NOTFOUND, /* mustache_render of a name the set and its loader lack */
};

/* Source of a template the set does not hold yet: return it in memory from
 * malloc (the set takes it and frees it) with its length in *len, or NULL
 * when there is no such template. Called at most once per name (a NULL is
 * remembered too; a source with a syntax error is not, and fails each
 * render that needs it), with the set's mutex held: it must not call
 * back into the set. 'name' comes from a template or, for {{>*x}}, from
 * the data: a loader reading files must refuse names like "../x". */
typedef char *(*mustache_loader)(void *arg, const char *name, size_t *len);

/* A lambda. For an interpolation {{name}} 'text' is NULL and 'len' 0; for a
 * section {{#name}}…{{/name}} 'text' is the section's unrendered source.
 * Append what it returns to 'out' (which is then rendered as a template, as
 * the spec says) and return 0; non-zero fails the render. */
typedef int (*mustache_lambda_fn)(void *arg, const char *text, size_t len, struct buf *out);

struct mustache_lambda {
    const char *name;
    mustache_lambda_fn fn;
    void *arg;
};

/* A new empty set; 'load' may be NULL (no templates beyond those added).
 * Caller frees with mustache_free. */
struct mustache *mustache_new(mustache_loader load, void *load_arg);
/* Text mode for templates whose output is not HTML (prompts, scorer
 * strings): with 'plain' 1, {{name}} writes values as they are, exactly
 * like {{{name}}}. Set it before the first render; the UI never does. */
void mustache_set_plain(struct mustache *m, int plain);

/* Free the set and every template in it; accepts NULL. */
void mustache_free(struct mustache *m);

/* Parse 'src' ('len' bytes, borrowed; copied) and keep it as 'name',
 * replacing any template of that name. Returns MUSTACHE_OK or
 * MUSTACHE_ERR_SYNTAX with the line and the reason in 'err'. */
int mustache_add(struct mustache *m, const char *name, const char *src, size_t len, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

/* Render template 'name' with 'data' (borrowed; may be NULL) and the
 * 'nlambdas' lambdas, appending to 'out'. Returns a mustache_result; on
 * failure 'err' says why (and 'out' holds a partial rendering). */
int mustache_render(struct mustache *m, const char *name, const cJSON *data,
                    const struct mustache_lambda *lambdas, size_t nlambdas, struct buf *out,
                    char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
