/*
 * scorer_int: what the scorer's parts share. scorer.c parses specs, renders
 * templates and runs the local assertions; scorer_json.c extracts JSON from
 * an output and checks the json-schema subset; scorer_sim.c scores
 * similarity (offline TF-IDF, embeddings); scorer_judge.c builds judge and
 * pairwise prompts and reads their replies; scorer_cmd.c runs a command.
 *
 * Templates live in the scorer's mustache set under fixed names: "value"
 * (the spec's "value", also a regex pattern or a similar reference),
 * "v0".."v<n-1>" (the items of a list "value"), "rubric".
 */
#ifndef EVALUATOR_SCORER_INT_H
#define EVALUATOR_SCORER_INT_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/mustache.h"
#include "evaluator/scorer.h"

#define SCORER_RENDER_MAX (4u << 20)  /* ceiling of one rendered template */
#define SCORER_REASON_MAX 2000        /* bytes of a judge's reasoning kept */
#define SCORER_CMD_OUT_MAX (1u << 20) /* bytes of a command's stdout read */
#define SCORER_CMD_TIMEOUT_MS 30000   /* default "timeout_ms" */
#define SCORER_SCHEMA_MAX_DEPTH 32    /* nesting of a json-schema */
#define SCORER_DEFAULT_SCALE 10       /* judge "scale" */

enum scorer_kind {
    SK_EQUALS = 0,
    SK_CONTAINS,
    SK_ICONTAINS,
    SK_CONTAINS_ANY,
    SK_CONTAINS_ALL,
    SK_ICONTAINS_ANY,
    SK_ICONTAINS_ALL,
    SK_REGEX,
    SK_STARTS_WITH,
    SK_IS_JSON,
    SK_JSON_SCHEMA,
    SK_LENGTH,
    SK_LATENCY,
    SK_COST,
    SK_SIMILAR,
    SK_JUDGE,
    SK_PAIRWISE,
    SK_COMMAND
};

/* One term of the offline similarity's document-frequency table. */
struct scorer_df {
    uint64_t term; /* hash of a word or a character trigram */
    uint32_t df;   /* documents of the corpus holding it */
};

struct scorer {
    enum scorer_kind kind;
    const char *type; /* static */
    char *name;
    double weight, threshold;
    int negate;         /* "not" */
    struct mustache *m; /* plain mode; the templates named above */
    int has_value;      /* template "value" exists */
    cJSON *literal;     /* equals: a "value" that is not a string (compared as JSON) */
    size_t nitems;      /* list kinds given an array: templates "v0".. (0: split "value") */
    regex_t re;         /* regex without a template, compiled once */
    int re_ready;
    int re_flags;    /* REG_EXTENDED | REG_NOSUB [| REG_ICASE] */
    cJSON *schema;   /* json-schema */
    double min, max; /* length, latency, cost */
    int has_min, has_max;
    char *model, *upstream;
    int scale;     /* judge */
    char *command; /* never rendered: case data goes on stdin only */
    long timeout_ms;
    struct scorer_df *df; /* sorted by term; NULL until scorer_similar_corpus */
    size_t ndf, ndocs;
};

/* scorer.c */

/* The render context of case 'c' with 'output' (NULL: no "output" key).
 * Caller frees with cJSON_Delete; NULL with a message when the case's
 * JSON does not parse. */
cJSON *scorer_context(const struct eval_case *c, const char *output, char *err, size_t errlen);
/* Render template 'tmpl' with 'ctx' into a new string (caller frees), or
 * NULL with a message in 'err' naming the template. */
char *scorer_render(const struct scorer *sc, const char *tmpl, const cJSON *ctx, char *err,
                    size_t errlen);
/* Fill 'score' from the raw value 'raw' (clamped to [0, 1]): the scorer's
 * "not", its threshold, and 'reason' (copied; "not: " prefixed). */
void scorer_fill(const struct scorer *sc, struct eval_score *score, double raw, const char *reason);
/* Fill 'score' as an error with a printf reason. */
void scorer_fail(struct eval_score *score, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write 's' ('n' bytes) JSON-quoted into 'dst', cut to about 'dstlen' - 8
 * bytes on a UTF-8 boundary with "..." when longer; returns 'dst'. */
const char *scorer_quote(char *dst, size_t dstlen, const char *s, size_t n);
/* The length of 'n' bytes of 's' cut on a UTF-8 boundary to at most 'max'. */
size_t scorer_utf8_cut(const char *s, size_t n, size_t max);
/* UTF-8 code points of 's' (a stray continuation byte is not counted). */
size_t scorer_utf8_len(const char *s);

/* scorer_json.c */

/* Parse an output as JSON, tolerating surrounding whitespace and a
 * ```json fence. Caller frees; NULL with a message. */
cJSON *scorer_json_output(const char *text, char *err, size_t errlen);
/* Check a json-schema at parse time (must be an object; known keywords of
 * the right shape). 0, or -1 with a message naming the path ("schema.
 * properties.id.type: ..."). */
int scorer_schema_check(const cJSON *schema, char *err, size_t errlen);
/* Validate 'v' against 'schema': 0, or -1 with the first violation and
 * its JSON path in 'why' ("$.items[1].id: expected integer"). */
int scorer_schema_validate(const cJSON *schema, const cJSON *v, char *why, size_t whylen);

/* scorer_sim.c */

/* Offline TF-IDF cosine of 'a' and 'b' in [0, 1] (0 when either has no
 * terms). */
double scorer_sim_cosine(const struct scorer *sc, const char *a, const char *b);

/* scorer_cmd.c */

/* Run the command scorer on 'in' and fill 'score'. */
void scorer_cmd_score(const struct scorer *sc, const struct scorer_input *in,
                      struct eval_score *score);

#endif
