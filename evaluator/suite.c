/*
 * suite: loading a suite file and reading its dataset (suite.h). Every
 * check names the file and the key or line at fault, so a broken suite in
 * CI says exactly what to fix.
 */
#include "evaluator/suite.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "core/stats.h"
#include "store/prompts.h"

#define EVAL_PROJECT "llmtap-eval"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The whole file at 'path', at most 'max' bytes (caller frees). */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *p = xmalloc(cap + 1);
    size_t got;
    while ((got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n > max) {
            fclose(f);
            free(p);
            fail(err, errlen, "%s: larger than %zu bytes", path, max);
            return NULL;
        }
        if (n == cap) {
            cap *= 2;
            p = xrealloc(p, cap + 1);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        fail(err, errlen, "%s: read error", path);
        return NULL;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

/* 'rel' against 'dir' unless absolute (caller frees). */
static char *resolve(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !*dir)
        return xstrdup(rel);
    return xasprintf("%s/%s", dir, rel);
}

static int only_keys(const cJSON *o, const char *const *keys, const char *where, const char *file,
                     char *err, size_t errlen)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(c->string, keys[i]) == 0;
        if (!known)
            return fail(err, errlen, "%s: %s: unknown key \"%s\"", file, where, c->string);
    }
    return 0;
}

/* An optional string member: 0 (NULL when absent), -1 when not a string. */
static int opt_str(const cJSON *o, const char *key, char **out, const char *where, const char *file,
                   char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return fail(err, errlen, "%s: %s.%s: expected a non-empty string", file, where, key);
    *out = xstrdup(v->valuestring);
    return 0;
}

static int is_file_ref(const char *ref)
{
    size_t n = strlen(ref);
    return strchr(ref, '/') || (n > 5 && strcmp(ref + n - 5, ".json") == 0);
}

static int check_ref(const char *ref, const char *where, const char *file, char *err, size_t errlen)
{
    char name[PROMPTS_NAME_MAX + 1], v[PROMPTS_NAME_MAX + 1];
    if (prompts_split_ref(ref, name, sizeof(name), v, sizeof(v)) != 0)
        return fail(err, errlen,
                    "%s: %s: \"%s\" is neither NAME@VERSION (or @LABEL) nor a prompt file path",
                    file, where, ref);
    return 0;
}

static int parse_variant(struct suite *s, const cJSON *v, struct suite_variant *out, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {"prompt", "model", "upstream", "params", NULL};
    char where[160];
    snprintf(where, sizeof(where), "variants.%s", v->string);
    if (!cJSON_IsObject(v))
        return fail(err, errlen, "%s: %s: expected an object", s->path, where);
    out->name = xstrdup(v->string);
    if (only_keys(v, keys, where, s->path, err, errlen) ||
        opt_str(v, "prompt", &out->prompt, where, s->path, err, errlen) ||
        opt_str(v, "model", &out->model, where, s->path, err, errlen) ||
        opt_str(v, "upstream", &out->upstream, where, s->path, err, errlen))
        return -1;
    if (!out->prompt)
        return fail(err, errlen, "%s: %s.prompt: required", s->path, where);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "params");
    if (p && !cJSON_IsObject(p))
        return fail(err, errlen, "%s: %s.params: expected an object", s->path, where);
    out->params = p ? jsonx_print(p) : NULL;
    return suite_set_prompt(s, out->name, out->prompt, err, errlen);
}

static void variant_release(struct suite_variant *v)
{
    free(v->name);
    free(v->prompt);
    free(v->model);
    free(v->upstream);
    free(v->params);
    memset(v, 0, sizeof(*v));
}

/* Baseline first, candidate second, the others in file order. */
static int rank_of(const char *name)
{
    return strcmp(name, "baseline") == 0 ? 0 : strcmp(name, "candidate") == 0 ? 1 : 2;
}

static int parse_variants(struct suite *s, const cJSON *vs, char *err, size_t errlen)
{
    if (!cJSON_IsObject(vs) || !vs->child)
        return fail(err, errlen, "%s: variants: expected an object of one or more variants",
                    s->path);
    for (int rank = 0; rank < 3; rank++) {
        const cJSON *v;
        cJSON_ArrayForEach(v, vs)
        {
            if (rank_of(v->string) != rank)
                continue;
            if (s->nvariants == EVAL_MAX_VARIANTS)
                return fail(err, errlen, "%s: variants: at most %d", s->path, EVAL_MAX_VARIANTS);
            /* suite_set_prompt looks the variant up by name: give it its slot first */
            struct suite_variant *out = &s->variants[s->nvariants++];
            if (parse_variant(s, v, out, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

static int parse_from(struct suite *s, const cJSON *f, char *err, size_t errlen)
{
    static const char *const keys[] = {"prompt", "version", "since", "sample", "project", NULL};
    if (!cJSON_IsObject(f))
        return fail(err, errlen, "%s: dataset.from: expected an object", s->path);
    if (only_keys(f, keys, "dataset.from", s->path, err, errlen) ||
        opt_str(f, "prompt", &s->from.prompt, "dataset.from", s->path, err, errlen) ||
        opt_str(f, "project", &s->from.project, "dataset.from", s->path, err, errlen))
        return -1;
    if (!s->from.prompt || !prompts_valid_name(s->from.prompt))
        return fail(err, errlen, "%s: dataset.from.prompt: a prompt name is required", s->path);
    s->has_from = 1;
    s->from.version = -1;
    s->from.sample = 200;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, "version");
    if (v && (jsonx_int64(v, &s->from.version) != 0 || s->from.version < 1))
        return fail(err, errlen, "%s: dataset.from.version: expected an integer >= 1", s->path);
    v = cJSON_GetObjectItemCaseSensitive(f, "sample");
    if (v && (jsonx_int64(v, &s->from.sample) != 0 || s->from.sample < 1 ||
              s->from.sample > EVAL_MAX_CASES))
        return fail(err, errlen, "%s: dataset.from.sample: expected 1..%d", s->path,
                    EVAL_MAX_CASES);
    const char *since = jsonx_str(f, "since");
    if (cJSON_GetObjectItemCaseSensitive(f, "since") &&
        (!since || time_parse_when(since, time_now_ns(), &s->from.since_ns) != 0))
        return fail(err, errlen,
                    "%s: dataset.from.since: expected a duration (\"7d\") or an ISO time", s->path);
    return 0;
}

static int parse_dataset(struct suite *s, const cJSON *d, char *err, size_t errlen)
{
    static const char *const keys[] = {"file", "from", NULL};
    if (!cJSON_IsObject(d))
        return fail(err, errlen, "%s: dataset: required, an object with \"file\" or \"from\"",
                    s->path);
    if (only_keys(d, keys, "dataset", s->path, err, errlen))
        return -1;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(d, "file");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(d, "from");
    if (!!file == !!from)
        return fail(err, errlen, "%s: dataset: give exactly one of \"file\" and \"from\"", s->path);
    if (from)
        return parse_from(s, from, err, errlen);
    if (!cJSON_IsString(file) || !*file->valuestring)
        return fail(err, errlen, "%s: dataset.file: expected a path", s->path);
    s->dataset_file = resolve(s->dir, file->valuestring);
    return 0;
}

static int num_in(const cJSON *o, const char *key, double lo, double hi, double *out,
                  const char *file, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return fail(err, errlen, "%s: gate.%s: expected a number in [%g, %g]", file, key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int parse_gate(struct suite *s, const cJSON *g, char *err, size_t errlen)
{
    static const char *const keys[] = {"min_score", "max_regression", "alpha", NULL};
    if (!g)
        return 0;
    if (!cJSON_IsObject(g))
        return fail(err, errlen, "%s: gate: expected an object", s->path);
    if (only_keys(g, keys, "gate", s->path, err, errlen) ||
        num_in(g, "min_score", 0, 1, &s->min_score, s->path, err, errlen) ||
        num_in(g, "max_regression", 0, 1, &s->max_regression, s->path, err, errlen) ||
        num_in(g, "alpha", 1e-6, 0.5, &s->alpha, s->path, err, errlen))
        return -1;
    return 0;
}

static int int_in(const cJSON *o, const char *key, int lo, int hi, int *out, const char *file,
                  char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t x;
    if (!v)
        return 0;
    if (jsonx_int64(v, &x) != 0 || x < lo || x > hi)
        return fail(err, errlen, "%s: %s: expected an integer in [%d, %d]", file, key, lo, hi);
    *out = (int)x;
    return 0;
}

static int parse_root(struct suite *s, const cJSON *j, char *err, size_t errlen)
{
    static const char *const keys[] = {"name", "description", "dataset",     "variants", "scorers",
                                       "gate", "repeat",      "concurrency", NULL};
    if (!cJSON_IsObject(j))
        return fail(err, errlen, "%s: expected a JSON object", s->path);
    if (only_keys(j, keys, "suite", s->path, err, errlen))
        return -1;
    const char *name = jsonx_str(j, "name");
    if (!name || !*name || strlen(name) > 200)
        return fail(err, errlen, "%s: name: required, a string of at most 200 bytes", s->path);
    s->name = xstrdup(name);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scorers");
    if (!cJSON_IsArray(sc) || cJSON_GetArraySize(sc) == 0 ||
        cJSON_GetArraySize(sc) > EVAL_MAX_SCORERS)
        return fail(err, errlen, "%s: scorers: required, an array of 1..%d scorers", s->path,
                    EVAL_MAX_SCORERS);
    s->scorers = cJSON_Duplicate(sc, 1);
    if (parse_dataset(s, cJSON_GetObjectItemCaseSensitive(j, "dataset"), err, errlen) ||
        parse_variants(s, cJSON_GetObjectItemCaseSensitive(j, "variants"), err, errlen) ||
        parse_gate(s, cJSON_GetObjectItemCaseSensitive(j, "gate"), err, errlen) ||
        int_in(j, "repeat", 1, EVAL_MAX_REPEATS, &s->repeat, s->path, err, errlen) ||
        int_in(j, "concurrency", 1, 256, &s->concurrency, s->path, err, errlen))
        return -1;
    return 0;
}

int suite_load(const char *path, struct suite **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t len;
    char *text = slurp(path, SUITE_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    struct suite *s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    const char *slash = strrchr(path, '/');
    s->dir = slash ? xstrndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
    s->min_score = NAN;
    s->alpha = 0.05;
    char why[256];
    cJSON *j = jsonx_parse(text, len, why, sizeof(why));
    free(text);
    int rc = j ? parse_root(s, j, err, errlen) : fail(err, errlen, "%s: not JSON: %s", path, why);
    cJSON_Delete(j);
    if (rc != 0) {
        suite_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void suite_free(struct suite *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nvariants; i++)
        variant_release(&s->variants[i]);
    free(s->path);
    free(s->dir);
    free(s->name);
    free(s->dataset_file);
    free(s->from.prompt);
    free(s->from.project);
    cJSON_Delete(s->scorers);
    free(s);
}

int suite_set_prompt(struct suite *s, const char *name, const char *ref, char *err, size_t errlen)
{
    struct suite_variant *v = NULL;
    for (size_t i = 0; i < s->nvariants; i++)
        if (strcmp(s->variants[i].name, name) == 0)
            v = &s->variants[i];
    char where[160];
    snprintf(where, sizeof(where), "variants.%s.prompt", name);
    int file = is_file_ref(ref);
    if (!file && check_ref(ref, where, s->path, err, errlen) != 0)
        return -1;
    if (!v) {
        if (s->nvariants == EVAL_MAX_VARIANTS || s->nvariants == 0)
            return fail(err, errlen, "%s: cannot add variant %s", s->path, name);
        /* --candidate on a one-variant suite: a new second variant like the first */
        v = &s->variants[s->nvariants++];
        v->name = xstrdup(name);
        const struct suite_variant *first = &s->variants[0];
        v->model = first->model ? xstrdup(first->model) : NULL;
        v->upstream = first->upstream ? xstrdup(first->upstream) : NULL;
        v->params = first->params ? xstrdup(first->params) : NULL;
    }
    char *p = file ? resolve(s->dir, ref) : xstrdup(ref); /* 'ref' may be v->prompt */
    free(v->prompt);
    v->prompt = p;
    v->is_file = file;
    return 0;
}

/* ---- datasets ---------------------------------------------------------------------- */

void suite_cases_free(struct eval_case *cases, size_t n)
{
    for (size_t i = 0; cases && i < n; i++) {
        free(cases[i].id);
        free(cases[i].vars);
        free(cases[i].expected);
        free(cases[i].metadata);
    }
    free(cases);
}

struct caselist {
    struct eval_case *v;
    size_t n, cap;
};

static struct eval_case *case_add(struct caselist *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct eval_case *c = &l->v[l->n++];
    memset(c, 0, sizeof(*c));
    return c;
}

static int blank_line(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++, n--;
    return n == 0 || *p == '#' || (n >= 2 && p[0] == '/' && p[1] == '/');
}

static int one_line(const struct suite *s, struct caselist *l, const char *p, size_t n,
                    size_t lineno, char *err, size_t errlen)
{
    static const char *const keys[] = {"vars", "expected", "metadata", "id", NULL};
    char why[256], where[64];
    cJSON *j = jsonx_parse(p, n, why, sizeof(why));
    if (!j)
        return fail(err, errlen, "%s:%zu: not JSON: %s", s->dataset_file, lineno, why);
    int rc = 0;
    snprintf(where, sizeof(where), "line %zu", lineno);
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(j, "vars");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    if (!cJSON_IsObject(j))
        rc = fail(err, errlen, "%s:%zu: expected an object", s->dataset_file, lineno);
    else if (only_keys(j, keys, where, s->dataset_file, err, errlen))
        rc = -1;
    else if (vars && !cJSON_IsObject(vars))
        rc = fail(err, errlen, "%s:%zu: vars: expected an object", s->dataset_file, lineno);
    else if (md && !cJSON_IsObject(md) && !cJSON_IsNull(md))
        rc = fail(err, errlen, "%s:%zu: metadata: expected an object", s->dataset_file, lineno);
    if (rc == 0) {
        if (l->n == EVAL_MAX_CASES) {
            cJSON_Delete(j);
            return fail(err, errlen, "%s: more than %d cases", s->dataset_file, EVAL_MAX_CASES);
        }
        struct eval_case *c = case_add(l);
        const char *id = jsonx_str(j, "id");
        c->id = id ? xstrdup(id) : xasprintf("%zu", lineno);
        c->vars = vars ? jsonx_print(vars) : xstrdup("{}");
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "expected");
        c->expected = ex && !cJSON_IsNull(ex) ? jsonx_print(ex) : NULL;
        c->metadata = cJSON_IsObject(md) ? jsonx_print(md) : NULL;
    }
    cJSON_Delete(j);
    return rc;
}

static int read_file_cases(const struct suite *s, struct caselist *l, char *err, size_t errlen)
{
    size_t len;
    char *text = slurp(s->dataset_file, SUITE_DATASET_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    int rc = 0;
    size_t lineno = 0;
    for (char *p = text; rc == 0 && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        lineno++;
        if (!blank_line(p, n))
            rc = one_line(s, l, p, n, lineno, err, errlen);
        p += n + 1;
    }
    free(text);
    return rc;
}

/* The columns every stored-traffic case reads, in this order. */
#define CASE_COLS                                                                                  \
    "trace_id, span_id, prompt_vars, output, project, provider, model, latency_ms, cost_usd,"      \
    " input_tokens, output_tokens, prompt_name, prompt_version, input"

static const char from_sql[] =
    "SELECT " CASE_COLS " FROM spans"
    " WHERE prompt_name = ?1 AND (?2 < 0 OR prompt_version = ?2) AND start_ns >= ?3"
    " AND status = 'ok' AND prompt_vars IS NOT NULL AND replay_of IS NULL"
    " AND (CASE WHEN ?4 IS NULL THEN project <> '" EVAL_PROJECT "' ELSE project = ?4 END)"
    " ORDER BY start_ns";

static const char span_sql[] = "SELECT " CASE_COLS " FROM spans"
                               " WHERE trace_id = ?1 AND (?2 IS NULL OR span_id = ?2)"
                               " AND (?2 IS NOT NULL OR kind = 'llm')"
                               " ORDER BY start_ns, span_id LIMIT 1";

static void add_col(cJSON *md, sqlite3_stmt *st, int i, const char *name)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        cJSON_AddNullToObject(md, name);
        break;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        cJSON_AddNumberToObject(md, name, sqlite3_column_double(st, i));
        break;
    default:
        cJSON_AddStringToObject(md, name, (const char *)sqlite3_column_text(st, i));
    }
}

/* Fill 'c' (its strings freed first) from a CASE_COLS row. */
static void case_from_row(struct eval_case *c, sqlite3_stmt *st)
{
    free(c->id);
    free(c->vars);
    free(c->expected);
    free(c->metadata);
    c->id = xasprintf("%s:%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
    const char *vars = (const char *)sqlite3_column_text(st, 2);
    c->vars = xstrdup(vars ? vars : "{}");
    char *ref = eval_output_text((const char *)sqlite3_column_text(st, 3));
    c->expected = NULL;
    if (ref) {
        cJSON *js = cJSON_CreateString(ref);
        c->expected = jsonx_print(js);
        cJSON_Delete(js);
    }
    free(ref);
    static const char *const names[] = {"project",       "provider",    "model",
                                        "latency_ms",    "cost_usd",    "input_tokens",
                                        "output_tokens", "prompt_name", "prompt_version"};
    cJSON *md = cJSON_CreateObject();
    for (int i = 0; i < 9; i++)
        add_col(md, st, 4 + i, names[i]);
    const char *input = (const char *)sqlite3_column_text(st, 13);
    cJSON *in = !vars && input ? cJSON_Parse(input) : NULL;
    if (in)
        cJSON_AddItemToObject(md, "input", in);
    c->metadata = jsonx_print(md);
    cJSON_Delete(md);
}

/* Reservoir sampling keeps 'sample' of the matching spans, seeded. */
static int read_from_cases(const struct suite *s, sqlite3 *db, uint64_t seed, struct caselist *l,
                           char *err, size_t errlen)
{
    if (!db)
        return fail(err, errlen, "%s: dataset.from needs a database", s->path);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, from_sql, -1, &st, NULL) != SQLITE_OK)
        return fail(err, errlen, "stored traffic: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, s->from.prompt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, s->from.version);
    sqlite3_bind_int64(st, 3, s->from.since_ns);
    if (s->from.project)
        sqlite3_bind_text(st, 4, s->from.project, -1, SQLITE_STATIC);
    struct stats_rng rng;
    stats_rng_seed(&rng, seed);
    size_t seen = 0, want = (size_t)s->from.sample;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t slot = seen < want ? seen : stats_rng_below(&rng, seen + 1);
        seen++;
        if (slot >= want)
            continue;
        case_from_row(slot < l->n ? &l->v[slot] : case_add(l), st);
    }
    if (rc != SQLITE_DONE)
        fail(err, errlen, "stored traffic: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int suite_read_span_case(sqlite3 *db, const char *trace_id, const char *span_id,
                         struct eval_case **out, char *err, size_t errlen)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, span_sql, -1, &st, NULL) != SQLITE_OK)
        return fail(err, errlen, "stored traffic: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_STATIC);
    if (span_id)
        sqlite3_bind_text(st, 2, span_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = xcalloc(1, sizeof(**out));
        case_from_row(*out, st);
    } else if (rc != SQLITE_DONE) {
        fail(err, errlen, "stored traffic: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct eval_case *suite_cases_copy(const struct eval_case *cases, size_t n)
{
    struct eval_case *c = xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i].id = dup_or_null(cases[i].id);
        c[i].vars = dup_or_null(cases[i].vars ? cases[i].vars : "{}");
        c[i].expected = dup_or_null(cases[i].expected);
        c[i].metadata = dup_or_null(cases[i].metadata);
    }
    return c;
}

int suite_read_cases(const struct suite *s, sqlite3 *db, uint64_t seed, struct eval_case **cases,
                     size_t *n, char *err, size_t errlen)
{
    struct caselist l = {0};
    int rc = s->has_from ? read_from_cases(s, db, seed, &l, err, errlen)
                         : read_file_cases(s, &l, err, errlen);
    if (rc == 0 && l.n == 0)
        rc = s->has_from ? fail(err, errlen,
                                "%s: dataset.from: no stored calls of prompt %s with variables"
                                " match",
                                s->path, s->from.prompt)
                         : fail(err, errlen, "%s: no cases", s->dataset_file);
    if (rc != 0) {
        suite_cases_free(l.v, l.n);
        return -1;
    }
    *cases = l.v;
    *n = l.n;
    return 0;
}
