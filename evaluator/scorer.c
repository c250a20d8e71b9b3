/*
 * scorer: parsing a scorer spec, its accessors, rendering its templates and
 * the local assertions (scorer.h). The other parts: scorer_json.c,
 * scorer_sim.c, scorer_judge.c, scorer_cmd.c (scorer_int.h).
 *
 * Invariants: a parsed scorer is immutable (scorer_similar_corpus aside),
 * every template it renders was added to its mustache set at parse time,
 * and a regex pattern without "{{" is compiled once there. Scoring builds
 * its render context and its buffers per call, so calls may run from many
 * threads at once.
 */
#include "evaluator/scorer.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/scorer_int.h"

/* What each type is: its default threshold and the keys it takes beyond
 * the common ones. Indexed by enum scorer_kind. */
struct kind_info {
    const char *type;
    enum scorer_kind kind;
    double threshold;
    const char *keys;
};

static const struct kind_info kinds[] = {
    {"equals", SK_EQUALS, 1, "value"},
    {"contains", SK_CONTAINS, 1, "value"},
    {"icontains", SK_ICONTAINS, 1, "value"},
    {"contains-any", SK_CONTAINS_ANY, 1, "value"},
    {"contains-all", SK_CONTAINS_ALL, 1, "value"},
    {"icontains-any", SK_ICONTAINS_ANY, 1, "value"},
    {"icontains-all", SK_ICONTAINS_ALL, 1, "value"},
    {"regex", SK_REGEX, 1, "value flags"},
    {"starts-with", SK_STARTS_WITH, 1, "value"},
    {"is-json", SK_IS_JSON, 1, ""},
    {"json-schema", SK_JSON_SCHEMA, 1, "schema"},
    {"length", SK_LENGTH, 1, "min max"},
    {"latency", SK_LATENCY, 1, "min max"},
    {"cost", SK_COST, 1, "max"},
    {"similar", SK_SIMILAR, 0.8, "value model upstream"},
    {"judge", SK_JUDGE, 0.5, "rubric model upstream scale"},
    {"pairwise", SK_PAIRWISE, 0.5, "rubric model upstream"},
    {"command", SK_COMMAND, 0.5, "command timeout_ms"},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
#define COMMON_KEYS "type name weight threshold not"
#define PAIRWISE_RUBRIC                                                                            \
    "Which answer better satisfies the request in the input: correct, complete, "                  \
    "helpful and concise."

/* ---- parsing -------------------------------------------------------------- */

static int perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* 1 when 'key' is one of the space-separated words of 'list'. */
static int key_in(const char *list, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len && len == n && memcmp(p, key, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

static const struct kind_info *find_kind(const char *type)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].type, type) == 0)
            return &kinds[i];
    return NULL;
}

static int parse_type(const cJSON *spec, const struct kind_info **ki, char *err, size_t errlen)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "type");
    char q[96];
    if (!t)
        return perr(err, errlen, "type: required");
    if (!cJSON_IsString(t))
        return perr(err, errlen, "type: must be a string");
    *ki = find_kind(t->valuestring);
    if (!*ki)
        return perr(err, errlen, "type: unknown scorer type %s",
                    scorer_quote(q, sizeof(q), t->valuestring, strlen(t->valuestring)));
    return 0;
}

static int check_keys(const cJSON *spec, const struct kind_info *ki, char *err, size_t errlen)
{
    for (const cJSON *it = spec->child; it; it = it->next) {
        const char *k = it->string ? it->string : "";
        if (key_in(COMMON_KEYS, k) || key_in(ki->keys, k))
            continue;
        char q[96];
        return perr(err, errlen, "%s: unknown key for a %s scorer",
                    scorer_quote(q, sizeof(q), k, strlen(k)), ki->type);
    }
    return 0;
}

/* A number member: 0 with *out (and *has 1) when present, 0 with *has 0
 * when absent, -1 when not a number. */
static int get_number(const cJSON *spec, const char *key, double *out, int *has, char *err,
                      size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (has)
        *has = it != NULL;
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return perr(err, errlen, "%s: must be a number", key);
    *out = it->valuedouble;
    return 0;
}

/* An optional non-empty string member, copied into *out. */
static int get_string(const cJSON *spec, const char *key, char **out, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!it)
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return perr(err, errlen, "%s: must be a non-empty string", key);
    *out = xstrdup(it->valuestring);
    return 0;
}

static int parse_common(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(spec, "name");
    if (it && (!cJSON_IsString(it) || !it->valuestring[0]))
        return perr(err, errlen, "name: must be a non-empty string");
    sc->name = xstrdup(it ? it->valuestring : sc->type);
    sc->weight = 1;
    sc->threshold = kinds[sc->kind].threshold;
    if (get_number(spec, "weight", &sc->weight, NULL, err, errlen))
        return -1;
    if (!(sc->weight > 0))
        return perr(err, errlen, "weight: must be > 0");
    if (get_number(spec, "threshold", &sc->threshold, NULL, err, errlen))
        return -1;
    if (sc->threshold < 0 || sc->threshold > 1)
        return perr(err, errlen, "threshold: must be in [0, 1]");
    it = cJSON_GetObjectItemCaseSensitive(spec, "not");
    if (it && !cJSON_IsBool(it))
        return perr(err, errlen, "not: must be true or false");
    sc->negate = cJSON_IsTrue(it);
    return 0;
}

static int add_template(struct scorer *sc, const char *tmpl, const char *src, const char *key,
                        char *err, size_t errlen)
{
    char why[256];
    if (mustache_add(sc->m, tmpl, src, strlen(src), why, sizeof(why)) != MUSTACHE_OK)
        return perr(err, errlen, "%s: bad template: %s", key, why);
    return 0;
}

/* "value" as one string template (required). */
static int parse_text(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "value");
    if (!v)
        return perr(err, errlen, "value: required");
    if (!cJSON_IsString(v))
        return perr(err, errlen, "value: must be a string");
    sc->has_value = 1;
    return add_template(sc, "value", v->valuestring, "value", err, errlen);
}

static int parse_equals(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "value");
    if (v && !cJSON_IsString(v)) {
        sc->literal = cJSON_Duplicate(v, 1);
        return 0;
    }
    return parse_text(sc, spec, err, errlen);
}

/* The -any / -all lists: an array of string templates, or one template
 * split on commas after rendering. */
static int parse_list(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "value");
    if (v && cJSON_IsString(v))
        return parse_text(sc, spec, err, errlen);
    if (!v)
        return perr(err, errlen, "value: required");
    if (!cJSON_IsArray(v))
        return perr(err, errlen, "value: must be an array of strings or a string");
    if (!v->child)
        return perr(err, errlen, "value: must not be empty");
    size_t i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char tmpl[32], key[48];
        snprintf(tmpl, sizeof(tmpl), "v%zu", i);
        snprintf(key, sizeof(key), "value[%zu]", i);
        if (!cJSON_IsString(it))
            return perr(err, errlen, "%s: must be a string", key);
        if (add_template(sc, tmpl, it->valuestring, key, err, errlen))
            return -1;
    }
    sc->nitems = i;
    return 0;
}

static int parse_regex(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(spec, "flags");
    sc->re_flags = REG_EXTENDED | REG_NOSUB;
    if (flags && !(cJSON_IsString(flags) &&
                   (strcmp(flags->valuestring, "") == 0 || strcmp(flags->valuestring, "i") == 0)))
        return perr(err, errlen, "flags: must be \"i\" or \"\"");
    if (flags && strcmp(flags->valuestring, "i") == 0)
        sc->re_flags |= REG_ICASE;
    if (parse_text(sc, spec, err, errlen))
        return -1;
    const char *pat = cJSON_GetObjectItemCaseSensitive(spec, "value")->valuestring;
    if (strstr(pat, "{{"))
        return 0; /* compiled per rendering */
    int rc = regcomp(&sc->re, pat, sc->re_flags);
    if (rc != 0) {
        char why[256];
        regerror(rc, &sc->re, why, sizeof(why));
        return perr(err, errlen, "value: bad regex: %s", why);
    }
    sc->re_ready = 1;
    return 0;
}

static int parse_schema(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(spec, "schema");
    if (!s)
        return perr(err, errlen, "schema: required");
    if (scorer_schema_check(s, err, errlen))
        return -1;
    sc->schema = cJSON_Duplicate(s, 1);
    return 0;
}

/* "min" / "max" of length, latency and cost. */
static int parse_bounds(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    if (get_number(spec, "min", &sc->min, &sc->has_min, err, errlen) ||
        get_number(spec, "max", &sc->max, &sc->has_max, err, errlen))
        return -1;
    if (sc->kind == SK_LENGTH && !sc->has_min && !sc->has_max)
        return perr(err, errlen, "max: required (or \"min\")");
    if (sc->kind != SK_LENGTH && !sc->has_max)
        return perr(err, errlen, "max: required");
    if (sc->has_min && sc->min < 0)
        return perr(err, errlen, "min: must be >= 0");
    if (sc->has_max && sc->max < 0)
        return perr(err, errlen, "max: must be >= 0");
    if (sc->has_min && sc->has_max && sc->max < sc->min)
        return perr(err, errlen, "max: must be >= min");
    return 0;
}

static int parse_similar(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    if (get_string(spec, "model", &sc->model, err, errlen) ||
        get_string(spec, "upstream", &sc->upstream, err, errlen))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(spec, "value"))
        return parse_text(sc, spec, err, errlen);
    sc->has_value = 1;
    return add_template(sc, "value", "{{expected}}", "value", err, errlen);
}

/* judge and pairwise. */
static int parse_judge(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "rubric");
    double scale = SCORER_DEFAULT_SCALE;
    if (get_string(spec, "model", &sc->model, err, errlen) ||
        get_string(spec, "upstream", &sc->upstream, err, errlen) ||
        get_number(spec, "scale", &scale, NULL, err, errlen))
        return -1;
    if (scale < 1 || scale > 1000 || scale != floor(scale))
        return perr(err, errlen, "scale: must be an integer from 1 to 1000");
    sc->scale = (int)scale;
    if (!r && sc->kind == SK_JUDGE)
        return perr(err, errlen, "rubric: required");
    if (r && (!cJSON_IsString(r) || !r->valuestring[0]))
        return perr(err, errlen, "rubric: must be a non-empty string");
    return add_template(sc, "rubric", r ? r->valuestring : PAIRWISE_RUBRIC, "rubric", err, errlen);
}

static int parse_command(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    double t = SCORER_CMD_TIMEOUT_MS;
    if (!cJSON_GetObjectItemCaseSensitive(spec, "command"))
        return perr(err, errlen, "command: required");
    if (get_string(spec, "command", &sc->command, err, errlen) ||
        get_number(spec, "timeout_ms", &t, NULL, err, errlen))
        return -1;
    if (t < 1 || t > 86400000.0)
        return perr(err, errlen, "timeout_ms: must be from 1 to 86400000");
    sc->timeout_ms = (long)t;
    return 0;
}

static int parse_kind(struct scorer *sc, const cJSON *spec, char *err, size_t errlen)
{
    switch (sc->kind) {
    case SK_EQUALS:
        return parse_equals(sc, spec, err, errlen);
    case SK_CONTAINS:
    case SK_ICONTAINS:
    case SK_STARTS_WITH:
        return parse_text(sc, spec, err, errlen);
    case SK_CONTAINS_ANY:
    case SK_CONTAINS_ALL:
    case SK_ICONTAINS_ANY:
    case SK_ICONTAINS_ALL:
        return parse_list(sc, spec, err, errlen);
    case SK_REGEX:
        return parse_regex(sc, spec, err, errlen);
    case SK_IS_JSON:
        return 0;
    case SK_JSON_SCHEMA:
        return parse_schema(sc, spec, err, errlen);
    case SK_LENGTH:
    case SK_LATENCY:
    case SK_COST:
        return parse_bounds(sc, spec, err, errlen);
    case SK_SIMILAR:
        return parse_similar(sc, spec, err, errlen);
    case SK_JUDGE:
    case SK_PAIRWISE:
        return parse_judge(sc, spec, err, errlen);
    case SK_COMMAND:
        return parse_command(sc, spec, err, errlen);
    }
    return perr(err, errlen, "type: unhandled");
}

int scorer_parse(const cJSON *spec, struct scorer **out, char *err, size_t errlen)
{
    const struct kind_info *ki = NULL;
    struct scorer *sc = NULL;
    *out = NULL;
    if (!cJSON_IsObject(spec))
        return perr(err, errlen, "scorer: must be an object");
    if (parse_type(spec, &ki, err, errlen) || check_keys(spec, ki, err, errlen))
        return -1;
    sc = xcalloc(1, sizeof(*sc));
    sc->kind = ki->kind;
    sc->type = ki->type;
    sc->m = mustache_new(NULL, NULL);
    mustache_set_plain(sc->m, 1);
    if (parse_common(sc, spec, err, errlen) || parse_kind(sc, spec, err, errlen))
        goto fail;
    *out = sc;
    return 0;
fail:
    scorer_free(sc);
    return -1;
}

void scorer_free(struct scorer *sc)
{
    if (!sc)
        return;
    mustache_free(sc->m);
    if (sc->re_ready)
        regfree(&sc->re);
    cJSON_Delete(sc->literal);
    cJSON_Delete(sc->schema);
    free(sc->name);
    free(sc->model);
    free(sc->upstream);
    free(sc->command);
    free(sc->df);
    free(sc);
}

/* ---- accessors ------------------------------------------------------------ */

const char *scorer_name(const struct scorer *sc)
{
    return sc->name;
}

const char *scorer_type(const struct scorer *sc)
{
    return sc->type;
}

double scorer_weight(const struct scorer *sc)
{
    return sc->weight;
}

double scorer_threshold(const struct scorer *sc)
{
    return sc->threshold;
}

enum scorer_needs scorer_needs(const struct scorer *sc)
{
    switch (sc->kind) {
    case SK_SIMILAR:
        return sc->model ? SCORER_NEEDS_EMBED : SCORER_NEEDS_NOTHING;
    case SK_JUDGE:
        return SCORER_NEEDS_JUDGE;
    case SK_PAIRWISE:
        return SCORER_NEEDS_PAIRWISE;
    default:
        return SCORER_NEEDS_NOTHING;
    }
}

const char *scorer_model(const struct scorer *sc)
{
    return sc->model;
}

const char *scorer_upstream(const struct scorer *sc)
{
    return sc->upstream;
}

/* ---- rendering and filling ------------------------------------------------ */

static int add_json(cJSON *obj, const char *key, const char *text, char *err, size_t errlen)
{
    char why[128];
    cJSON *v = text ? jsonx_parse(text, strlen(text), why, sizeof(why)) : cJSON_CreateNull();
    if (!v)
        return perr(err, errlen, "case %s: %s", key, why);
    cJSON_AddItemToObject(obj, key, v);
    return 0;
}

cJSON *scorer_context(const struct eval_case *c, const char *output, char *err, size_t errlen)
{
    cJSON *ctx = cJSON_CreateObject();
    const char *vars = c && c->vars ? c->vars : "{}";
    if (add_json(ctx, "vars", vars, err, errlen) ||
        add_json(ctx, "expected", c ? c->expected : NULL, err, errlen) ||
        add_json(ctx, "metadata", c ? c->metadata : NULL, err, errlen)) {
        cJSON_Delete(ctx);
        return NULL;
    }
    if (output)
        cJSON_AddStringToObject(ctx, "output", output);
    return ctx;
}

char *scorer_render(const struct scorer *sc, const char *tmpl, const cJSON *ctx, char *err,
                    size_t errlen)
{
    struct buf b;
    char why[256];
    buf_init(&b, SCORER_RENDER_MAX);
    if (mustache_render(sc->m, tmpl, ctx, NULL, 0, &b, why, sizeof(why)) != MUSTACHE_OK) {
        buf_release(&b);
        if (tmpl[0] == 'v' && isdigit((unsigned char)tmpl[1]))
            perr(err, errlen, "value[%s]: does not render: %s", tmpl + 1, why);
        else
            perr(err, errlen, "%s: does not render: %s", tmpl, why);
        return NULL;
    }
    return buf_take(&b, NULL);
}

char *scorer_render_reference(const struct scorer *sc, const struct scorer_input *in, char *err,
                              size_t errlen)
{
    if (!sc->has_value) {
        perr(err, errlen, "%s: a %s scorer has no reference", sc->name, sc->type);
        return NULL;
    }
    const char *output = in->out && in->out->text ? in->out->text : "";
    cJSON *ctx = scorer_context(in->c, output, err, errlen);
    if (!ctx)
        return NULL;
    char *s = scorer_render(sc, "value", ctx, err, errlen);
    cJSON_Delete(ctx);
    return s;
}

void scorer_fill(const struct scorer *sc, struct eval_score *score, double raw, const char *reason)
{
    double v = isnan(raw) || raw < 0 ? 0 : raw > 1 ? 1 : raw;
    if (sc->negate)
        v = 1 - v;
    score->value = v;
    score->pass = v >= sc->threshold;
    score->error = 0;
    if (!reason)
        score->reason = NULL;
    else
        score->reason = sc->negate ? xasprintf("not: %s", reason) : xstrdup(reason);
}

void scorer_fail(struct eval_score *score, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    score->reason = xmalloc(n > 0 ? (size_t)n + 1 : 1);
    vsnprintf(score->reason, n > 0 ? (size_t)n + 1 : 1, fmt, ap2);
    va_end(ap2);
    score->value = 0;
    score->pass = 0;
    score->error = 1;
}

size_t scorer_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

size_t scorer_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Bytes 'c' takes JSON-escaped. */
static size_t esc_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r')
        return 2;
    return c < 0x20 ? 6 : 1;
}

static size_t esc_put(char *dst, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
    case '\\':
        dst[0] = '\\', dst[1] = (char)c;
        return 2;
    case '\n':
        dst[0] = '\\', dst[1] = 'n';
        return 2;
    case '\t':
        dst[0] = '\\', dst[1] = 't';
        return 2;
    case '\r':
        dst[0] = '\\', dst[1] = 'r';
        return 2;
    }
    if (c >= 0x20) {
        dst[0] = (char)c;
        return 1;
    }
    memcpy(dst, "\\u00", 4);
    dst[4] = hex[c >> 4], dst[5] = hex[c & 15];
    return 6;
}

const char *scorer_quote(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t o = 0, i = 0;
    dst[o++] = '"';
    while (i < n) {
        /* one code point: its lead byte and its continuation bytes */
        size_t cp = 1, need = esc_len((unsigned char)s[i]);
        while (i + cp < n && ((unsigned char)s[i + cp] & 0xC0) == 0x80)
            cp++, need++;
        if (o + need + 5 > dstlen) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (cp == 1)
            o += esc_put(dst + o, (unsigned char)s[i]);
        else
            memcpy(dst + o, s + i, cp), o += cp;
        i += cp;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

/* ---- the local assertions ------------------------------------------------- */

/* One scoring call: the case, its render context (built on first use) and
 * the verdict's explanation. */
struct scoring {
    const struct scorer *sc;
    const struct scorer_input *in;
    const char *text; /* the output ("" when none) */
    cJSON *ctx;
    int error; /* 1: could not score; 'why' says why */
    char why[768];
};

/* Set the explanation and return 'v'. */
static double verdict(struct scoring *s, double v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static double verdict(struct scoring *s, double v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    return v;
}

static char *render(struct scoring *s, const char *tmpl)
{
    if (!s->ctx) {
        s->ctx = scorer_context(s->in->c, s->text, s->why, sizeof(s->why));
        if (!s->ctx) {
            s->error = 1;
            return NULL;
        }
    }
    char *r = scorer_render(s->sc, tmpl, s->ctx, s->why, sizeof(s->why));
    s->error = r == NULL;
    return r;
}

#define Q(buf, str) scorer_quote(buf, sizeof(buf), str, strlen(str))

/* The rendered 'want' compared as JSON with the output. */
static double equals_json(struct scoring *s, const cJSON *want)
{
    char q[160];
    char *wtext = jsonx_print(want);
    cJSON *got = scorer_json_output(s->text, NULL, 0);
    int same = got && cJSON_Compare(got, want, 1);
    Q(q, wtext);
    cJSON_Delete(got);
    free(wtext);
    if (same)
        return verdict(s, 1, "output equals %s as JSON", q);
    return verdict(s, 0, "output does not equal %s as JSON", q);
}

static double score_equals(struct scoring *s)
{
    char q[160];
    if (s->sc->literal)
        return equals_json(s, s->sc->literal);
    char *want = render(s, "value");
    if (!want)
        return 0;
    double v;
    if (strcmp(s->text, want) == 0) {
        v = verdict(s, 1, "output equals %s", Q(q, want));
    } else {
        cJSON *j = jsonx_parse(want, strlen(want), NULL, 0);
        if (j && !cJSON_IsString(j))
            v = equals_json(s, j);
        else
            v = verdict(s, 0, "output does not equal %s", Q(q, want));
        cJSON_Delete(j);
    }
    free(want);
    return v;
}

/* 'needle' in 'hay', ASCII case-insensitively when 'icase'. */
static int has_text(const char *hay, const char *needle, size_t n, int icase)
{
    if (!icase)
        return n == 0 || memmem(hay, strlen(hay), needle, n) != NULL;
    for (const char *p = hay;; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
        if (!*p)
            return 0;
    }
}

static double score_contains(struct scoring *s)
{
    char q[160];
    char *want = render(s, "value");
    if (!want)
        return 0;
    double v;
    if (has_text(s->text, want, strlen(want), s->sc->kind == SK_ICONTAINS))
        v = verdict(s, 1, "output contains %s", Q(q, want));
    else
        v = verdict(s, 0, "output does not contain %s", Q(q, want));
    free(want);
    return v;
}

static double score_starts_with(struct scoring *s)
{
    char q[160];
    char *want = render(s, "value");
    if (!want)
        return 0;
    double v;
    if (strncmp(s->text, want, strlen(want)) == 0)
        v = verdict(s, 1, "output starts with %s", Q(q, want));
    else
        v = verdict(s, 0, "output does not start with %s", Q(q, want));
    free(want);
    return v;
}

/* Append 'item' (quoted) to the "none of" list in 'why'. */
static void list_note(char *why, size_t whylen, const char *item, size_t n)
{
    char q[96];
    size_t len = strlen(why);
    if (len + 8 < whylen)
        snprintf(why + len, whylen - len, "%s%s", len ? ", " : "",
                 scorer_quote(q, sizeof(q), item, n));
}

/* One item of a list scorer: the verdict when it decides it (any: 1 when
 * found; all: 0 when missing), else -1 and the item noted in 'seen'. */
static int list_item(struct scoring *s, const char *item, size_t n, int all, char *seen,
                     size_t seenlen)
{
    char q[160];
    int icase = s->sc->kind == SK_ICONTAINS_ANY || s->sc->kind == SK_ICONTAINS_ALL;
    int found = has_text(s->text, item, n, icase);
    scorer_quote(q, sizeof(q), item, n);
    if (!all && found)
        return (int)verdict(s, 1, "output contains %s", q);
    if (all && !found)
        return (int)verdict(s, 0, "output does not contain %s", q);
    list_note(seen, seenlen, item, n);
    return -1;
}

/* The items of a "value" string: comma-separated, trimmed, empties
 * skipped. Returns as list_item. */
static int list_split(struct scoring *s, const char *list, int all, char *seen, size_t seenlen,
                      size_t *count)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *b = p, *e = p + len;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b) {
            (*count)++;
            int v = list_item(s, b, (size_t)(e - b), all, seen, seenlen);
            if (v >= 0)
                return v;
        }
        p += len + (p[len] == ',');
    }
    return -1;
}

static double score_list(struct scoring *s)
{
    int all = s->sc->kind == SK_CONTAINS_ALL || s->sc->kind == SK_ICONTAINS_ALL;
    size_t nitems = s->sc->nitems, count = 0;
    char seen[512] = "";
    for (size_t i = 0; i < (nitems ? nitems : 1); i++) {
        char tmpl[32];
        snprintf(tmpl, sizeof(tmpl), "v%zu", i);
        char *item = render(s, nitems ? tmpl : "value");
        if (!item)
            return 0;
        int v;
        if (nitems) {
            count++;
            v = list_item(s, item, strlen(item), all, seen, sizeof(seen));
        } else {
            v = list_split(s, item, all, seen, sizeof(seen), &count);
        }
        free(item);
        if (v >= 0)
            return v;
    }
    if (count == 0) {
        s->error = 1;
        return verdict(s, 0, "value: renders to an empty list");
    }
    if (all)
        return verdict(s, 1, "output contains all of %s", seen);
    return verdict(s, 0, "output contains none of %s", seen);
}

static double score_regex(struct scoring *s)
{
    char q[160];
    regex_t local;
    const regex_t *re = &s->sc->re;
    char *pat = render(s, "value");
    if (!pat)
        return 0;
    if (!s->sc->re_ready) {
        int rc = regcomp(&local, pat, s->sc->re_flags);
        if (rc != 0) {
            char why[256];
            regerror(rc, &local, why, sizeof(why));
            free(pat);
            s->error = 1;
            return verdict(s, 0, "value: bad regex: %s", why);
        }
        re = &local;
    }
    int match = regexec(re, s->text, 0, NULL, 0) == 0;
    Q(q, pat);
    if (re == &local)
        regfree(&local);
    free(pat);
    if (match)
        return verdict(s, 1, "output matches %s", q);
    return verdict(s, 0, "output does not match %s", q);
}

static double score_json(struct scoring *s)
{
    char why[512];
    cJSON *j = scorer_json_output(s->text, why, sizeof(why));
    if (!j)
        return verdict(s, 0, "output is not JSON: %s", why);
    double v;
    if (s->sc->kind == SK_IS_JSON)
        v = verdict(s, 1, "output is JSON");
    else if (scorer_schema_validate(s->sc->schema, j, why, sizeof(why)) == 0)
        v = verdict(s, 1, "output matches the schema");
    else
        v = verdict(s, 0, "%s", why);
    cJSON_Delete(j);
    return v;
}

/* 'x' against the scorer's min / max, 'what' naming it and 'unit' after
 * the numbers. */
static double bounded(struct scoring *s, const char *what, double x, const char *unit)
{
    const struct scorer *sc = s->sc;
    if (sc->has_max && x > sc->max)
        return verdict(s, 0, "%s %.6g%s > max %.6g%s", what, x, unit, sc->max, unit);
    if (sc->has_min && x < sc->min)
        return verdict(s, 0, "%s %.6g%s < min %.6g%s", what, x, unit, sc->min, unit);
    if (sc->has_min && sc->has_max)
        return verdict(s, 1, "%s %.6g%s within [%.6g, %.6g]", what, x, unit, sc->min, sc->max);
    if (sc->has_max)
        return verdict(s, 1, "%s %.6g%s <= max %.6g%s", what, x, unit, sc->max, unit);
    return verdict(s, 1, "%s %.6g%s >= min %.6g%s", what, x, unit, sc->min, unit);
}

static double score_bounds(struct scoring *s)
{
    const struct eval_output *out = s->in->out;
    if (s->sc->kind == SK_LENGTH)
        return bounded(s, "length", (double)scorer_utf8_len(s->text), "");
    if (!out) {
        s->error = 1;
        return verdict(s, 0, "no output");
    }
    if (s->sc->kind == SK_LATENCY)
        return bounded(s, "latency", out->latency_ms, " ms");
    return bounded(s, "cost", (double)out->cost_nusd / 1e9, " USD");
}

static double score_similar(struct scoring *s)
{
    if (s->sc->model) {
        s->error = 1;
        return verdict(s, 0, "similar with a model needs embeddings");
    }
    char *ref = render(s, "value");
    if (!ref)
        return 0;
    double v = scorer_sim_cosine(s->sc, s->text, ref);
    free(ref);
    return verdict(s, v, "similarity %.3f", v);
}

static double score_kind(struct scoring *s)
{
    switch (s->sc->kind) {
    case SK_EQUALS:
        return score_equals(s);
    case SK_CONTAINS:
    case SK_ICONTAINS:
        return score_contains(s);
    case SK_CONTAINS_ANY:
    case SK_CONTAINS_ALL:
    case SK_ICONTAINS_ANY:
    case SK_ICONTAINS_ALL:
        return score_list(s);
    case SK_REGEX:
        return score_regex(s);
    case SK_STARTS_WITH:
        return score_starts_with(s);
    case SK_IS_JSON:
    case SK_JSON_SCHEMA:
        return score_json(s);
    case SK_LENGTH:
    case SK_LATENCY:
    case SK_COST:
        return score_bounds(s);
    case SK_SIMILAR:
        return score_similar(s);
    default:
        s->error = 1;
        return verdict(s, 0, "a %s scorer needs a model call", s->sc->type);
    }
}

void scorer_score_local(const struct scorer *sc, const struct scorer_input *in,
                        struct eval_score *score)
{
    struct scoring s = {.sc = sc, .in = in};
    s.text = in->out && in->out->text ? in->out->text : "";
    if (sc->kind == SK_COMMAND) {
        scorer_cmd_score(sc, in, score);
        return;
    }
    if (sc->kind == SK_COST && in->out && !in->out->has_cost) {
        /* not a verdict "not" could flip: the cost is unknown */
        score->value = 0;
        score->pass = 0;
        score->error = 0;
        score->reason = xstrdup("unpriced");
        return;
    }
    double v = score_kind(&s);
    if (s.error)
        scorer_fail(score, "%s", s.why);
    else
        scorer_fill(sc, score, v, s.why);
    cJSON_Delete(s.ctx);
}
