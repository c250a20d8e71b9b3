/*
 * prices: the price table and exact cost computation (see prices.h and
 * docs/PRICES.md). Doubles appear only while a layer is parsed: every price
 * becomes int64 pico-USD per token (1 USD per Mtok = 1e6 pico-USD per token),
 * and a cost is a checked int64 sum of tokens x pico rates, rounded once to
 * nano-USD. Invariants after each add: entries are unique per (id, effective),
 * 'names' is the sorted index of every id and alias (lower case), 'patterned'
 * lists the entries with a compiled POSIX ERE. Readers never write, so a
 * built table may be shared between threads.
 */
#include "store/prices.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"

enum price_rate {
    PR_INPUT,
    PR_OUTPUT,
    PR_CACHE_READ,
    PR_CACHE_WRITE,
    PR_CACHE_WRITE_1H,
    PR_REASONING,
    PR_COUNT
};
static const char *const rate_key[PR_COUNT] = {"input",       "output",         "cache_read",
                                               "cache_write", "cache_write_1h", "reasoning"};

enum price_svc { SVC_STANDARD, SVC_PRIORITY, SVC_FLEX, SVC_BATCH, SVC_COUNT };
static const char *const svc_key[SVC_COUNT] = {"standard", "priority", "flex", "batch"};

static const char *const mode_names[] = {"chat", "completion", "responses", "embedding", NULL};

#define PRICE_MAX_TIERS 8
#define PRICE_MAX_ALIASES 16
#define PRICE_MATCH_MAX 512
#define PRICE_MAX_USD_PER_MTOK 100000.0 /* $0.1 per token, far above any real price */
#define PICO_PER_USD_PER_MTOK 1000000LL
#define PRICE_ALWAYS INT64_MIN /* effective_ns of an entry without a date */
#define PRICE_MAX_FORMS 6
#define WHERE_MAX (PRICE_NAME_MAX + 48) /* "models[12] (<id>)" */

struct price_rates {
    int64_t pico[PR_COUNT]; /* pico-USD per token; -1 = not given */
};

struct price_tier {
    int64_t above; /* applies when input_tokens > above */
    struct price_rates rates;
};

struct price_set {
    bool present;
    struct price_rates base;
    size_t ntiers;
    struct price_tier *tiers; /* ascending 'above' */
};

struct price_entry {
    char *id;       /* as written */
    char *key;      /* lower-case id: the index key */
    char *provider; /* NULL when not given */
    char *match;    /* pattern text, non-NULL only once 're' is compiled */
    regex_t re;
    char **aliases; /* lower case */
    size_t naliases;
    char *effective;      /* as written; NULL = always */
    int64_t effective_ns; /* PRICE_ALWAYS when 'effective' is NULL */
    const char *mode;     /* static, one of mode_names */
    bool embedding;       /* input tokens only */
    unsigned layer;
    size_t order; /* addition order across the table: later wins */
    bool dead;    /* replaced; only during price_table_add_json */
    struct price_set sets[SVC_COUNT];
};

struct name_ref {
    const char *name; /* borrowed from the entry */
    const struct price_entry *e;
    bool alias;
};

struct price_table {
    struct price_entry **entries;
    size_t n;
    struct name_ref *names; /* sorted by name */
    size_t nnames;
    const struct price_entry **patterned;
    size_t npatterned;
    char **sources; /* one per layer */
    unsigned nlayers;
    size_t next_order;
    uint64_t hash;
    char version[16];
    struct pattern_cache *cache; /* name -> pattern hit; see pattern_cached */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    dst[n] = '\0';
}

static char *xstrlower(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n + 1);
    lower_copy(out, s, n);
    return out;
}

static void rates_clear(struct price_rates *r)
{
    for (int k = 0; k < PR_COUNT; k++)
        r->pico[k] = -1;
}

static bool rates_any(const struct price_rates *r)
{
    for (int k = 0; k < PR_COUNT; k++)
        if (r->pico[k] >= 0)
            return true;
    return false;
}

static void entry_free(struct price_entry *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->key);
    free(e->provider);
    if (e->match)
        regfree(&e->re);
    free(e->match);
    for (size_t i = 0; i < e->naliases; i++)
        free(e->aliases[i]);
    free(e->aliases);
    free(e->effective);
    for (int s = 0; s < SVC_COUNT; s++)
        free(e->sets[s].tiers);
    free(e);
}

/* ---- parsing our format ---------------------------------------------- */

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(key, allowed[i]) == 0)
            return true;
    return false;
}

/* Reject members of 'obj' not named in 'allowed' (typos must not pass as
 * "no price"). */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *where, char *err,
                      size_t errlen)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (!key_allowed(it->string, allowed)) {
            seterr(err, errlen, "%s: unknown key '%.64s'", where, it->string);
            return -1;
        }
    }
    return 0;
}

static int rate_index(const char *key)
{
    for (int k = 0; k < PR_COUNT; k++)
        if (strcmp(key, rate_key[k]) == 0)
            return k;
    return -1;
}

static int parse_rates(const cJSON *obj, struct price_rates *r, const char *where, char *err,
                       size_t errlen)
{
    rates_clear(r);
    if (!cJSON_IsObject(obj)) {
        seterr(err, errlen, "%s: usd_per_mtok must be an object", where);
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int k = rate_index(it->string);
        if (k < 0) {
            seterr(err, errlen, "%s: usd_per_mtok: unknown key '%.64s'", where, it->string);
            return -1;
        }
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (!isfinite(v) || v < 0 || v > PRICE_MAX_USD_PER_MTOK) {
            seterr(err, errlen, "%s: usd_per_mtok.%s must be a number from 0 to %.0f", where,
                   rate_key[k], PRICE_MAX_USD_PER_MTOK);
            return -1;
        }
        if (r->pico[k] >= 0) {
            seterr(err, errlen, "%s: usd_per_mtok.%s given twice", where, rate_key[k]);
            return -1;
        }
        r->pico[k] = llround(v * (double)PICO_PER_USD_PER_MTOK);
    }
    return 0;
}

static int parse_tier(const cJSON *obj, struct price_tier *tier, const char *where, char *err,
                      size_t errlen)
{
    static const char *const keys[] = {"above_input_tokens", "usd_per_mtok", NULL};
    if (!cJSON_IsObject(obj)) {
        seterr(err, errlen, "%s: each tier must be an object", where);
        return -1;
    }
    if (check_keys(obj, keys, where, err, errlen) < 0)
        return -1;
    int64_t above = 0;
    if (jsonx_member_int64(obj, "above_input_tokens", &above) != 0 || above <= 0 ||
        above > PRICE_MAX_TOKENS) {
        seterr(err, errlen, "%s: tier needs above_input_tokens, a positive integer", where);
        return -1;
    }
    tier->above = above;
    const cJSON *rates = cJSON_GetObjectItemCaseSensitive(obj, "usd_per_mtok");
    if (parse_rates(rates, &tier->rates, where, err, errlen) < 0)
        return -1;
    if (!rates_any(&tier->rates)) {
        seterr(err, errlen, "%s: tier above %" PRId64 " has no prices", where, above);
        return -1;
    }
    return 0;
}

static int cmp_tier(const void *a, const void *b)
{
    const struct price_tier *x = a, *y = b;
    return (x->above > y->above) - (x->above < y->above);
}

static int parse_tiers(const cJSON *arr, struct price_set *set, const char *where, char *err,
                       size_t errlen)
{
    if (!arr)
        return 0;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 0 || n > PRICE_MAX_TIERS) {
        seterr(err, errlen, "%s: tiers must be an array of at most %d", where, PRICE_MAX_TIERS);
        return -1;
    }
    set->tiers = xcalloc((size_t)n + 1, sizeof(*set->tiers));
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (parse_tier(it, &set->tiers[set->ntiers], where, err, errlen) < 0)
            return -1;
        set->ntiers++;
    }
    qsort(set->tiers, set->ntiers, sizeof(*set->tiers), cmp_tier);
    for (size_t i = 1; i < set->ntiers; i++) {
        if (set->tiers[i].above == set->tiers[i - 1].above) {
            seterr(err, errlen, "%s: two tiers above %" PRId64, where, set->tiers[i].above);
            return -1;
        }
    }
    return 0;
}

/* A price set: "usd_per_mtok" (required, with input or output) and "tiers"
 * read from 'obj' (the entry itself, or one of its service tiers). */
static int parse_set(const cJSON *obj, struct price_set *set, const char *where, char *err,
                     size_t errlen)
{
    const cJSON *rates = cJSON_GetObjectItemCaseSensitive(obj, "usd_per_mtok");
    if (!rates) {
        seterr(err, errlen, "%s: usd_per_mtok is missing", where);
        return -1;
    }
    if (parse_rates(rates, &set->base, where, err, errlen) < 0)
        return -1;
    if (set->base.pico[PR_INPUT] < 0 && set->base.pico[PR_OUTPUT] < 0) {
        seterr(err, errlen, "%s: usd_per_mtok needs input or output", where);
        return -1;
    }
    set->present = true;
    return parse_tiers(cJSON_GetObjectItemCaseSensitive(obj, "tiers"), set, where, err, errlen);
}

static int parse_service_tiers(const cJSON *obj, struct price_entry *e, const char *where,
                               char *err, size_t errlen)
{
    static const char *const set_keys[] = {"usd_per_mtok", "tiers", NULL};
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj)) {
        seterr(err, errlen, "%s: service_tiers must be an object", where);
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int s = SVC_PRIORITY;
        while (s < SVC_COUNT && strcmp(it->string, svc_key[s]) != 0)
            s++;
        char sub[WHERE_MAX + 64];
        snprintf(sub, sizeof(sub), "%s: service_tiers.%.32s", where, it->string);
        if (s == SVC_COUNT) {
            seterr(err, errlen, "%s: unknown service tier (priority, flex or batch)", sub);
            return -1;
        }
        if (!cJSON_IsObject(it) || e->sets[s].present) {
            seterr(err, errlen, "%s: must be one object", sub);
            return -1;
        }
        if (check_keys(it, set_keys, sub, err, errlen) < 0 ||
            parse_set(it, &e->sets[s], sub, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* An optional string member no longer than PRICE_NAME_MAX - 1 (or 'max'). */
static int opt_string(const cJSON *obj, const char *key, size_t max, const char **out,
                      const char *where, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!it)
        return 0;
    if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) >= max) {
        seterr(err, errlen, "%s: %s must be a non-empty string shorter than %zu", where, key, max);
        return -1;
    }
    *out = it->valuestring;
    return 0;
}

static int parse_aliases(const cJSON *arr, struct price_entry *e, const char *where, char *err,
                         size_t errlen)
{
    if (!arr)
        return 0;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 0 || n > PRICE_MAX_ALIASES) {
        seterr(err, errlen, "%s: aliases must be an array of at most %d names", where,
               PRICE_MAX_ALIASES);
        return -1;
    }
    e->aliases = xcalloc((size_t)n + 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) >= PRICE_NAME_MAX) {
            seterr(err, errlen, "%s: each alias must be a non-empty name", where);
            return -1;
        }
        e->aliases[e->naliases++] = xstrlower(it->valuestring);
    }
    return 0;
}

static int parse_match(const char *pattern, struct price_entry *e, const char *where, char *err,
                       size_t errlen)
{
    if (!pattern)
        return 0;
    if (strstr(pattern, "(?")) {
        seterr(err, errlen,
               "%s: match uses '(?' (inline flags are not POSIX; matching already ignores case)",
               where);
        return -1;
    }
    int rc = regcomp(&e->re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &e->re, why, sizeof(why));
        seterr(err, errlen, "%s: match does not compile: %s", where, why);
        return -1;
    }
    e->match = xstrdup(pattern);
    return 0;
}

static int parse_mode(const char *mode, struct price_entry *e, const char *where, char *err,
                      size_t errlen)
{
    e->mode = mode_names[0];
    if (!mode)
        return 0;
    for (size_t i = 0; mode_names[i]; i++) {
        if (strcmp(mode, mode_names[i]) == 0) {
            e->mode = mode_names[i];
            e->embedding = strcmp(mode, "embedding") == 0;
            return 0;
        }
    }
    seterr(err, errlen, "%s: mode must be chat, completion, responses or embedding", where);
    return -1;
}

static int parse_effective(const char *text, struct price_entry *e, const char *where, char *err,
                           size_t errlen)
{
    e->effective_ns = PRICE_ALWAYS;
    if (!text)
        return 0;
    /* Years 1970-2200 only: unix ns of later years overflow int64. */
    int year = 0;
    for (int i = 0; i < 4 && text[i] >= '0' && text[i] <= '9'; i++)
        year = year * 10 + (text[i] - '0');
    if (year < 1970 || year > 2200 || text[4] != '-' ||
        time_parse_iso(text, &e->effective_ns) < 0) {
        seterr(err, errlen, "%s: effective must be a date like 2025-06-10", where);
        return -1;
    }
    e->effective = xstrdup(text);
    return 0;
}

static int parse_entry_fields(const cJSON *m, struct price_entry *e, const char *where, char *err,
                              size_t errlen)
{
    static const char *const keys[] = {"id",   "provider",      "match", "aliases",
                                       "mode", "effective",     "tiers", "usd_per_mtok",
                                       "note", "service_tiers", NULL};
    const char *provider, *pattern, *mode, *effective;
    if (check_keys(m, keys, where, err, errlen) < 0 ||
        opt_string(m, "provider", PRICE_NAME_MAX, &provider, where, err, errlen) < 0 ||
        opt_string(m, "match", PRICE_MATCH_MAX, &pattern, where, err, errlen) < 0 ||
        opt_string(m, "mode", PRICE_NAME_MAX, &mode, where, err, errlen) < 0 ||
        opt_string(m, "effective", 64, &effective, where, err, errlen) < 0)
        return -1;
    e->provider = xstrdup(provider);
    if (parse_mode(mode, e, where, err, errlen) < 0 ||
        parse_effective(effective, e, where, err, errlen) < 0 ||
        parse_aliases(cJSON_GetObjectItemCaseSensitive(m, "aliases"), e, where, err, errlen) < 0 ||
        parse_match(pattern, e, where, err, errlen) < 0 ||
        parse_set(m, &e->sets[SVC_STANDARD], where, err, errlen) < 0)
        return -1;
    return parse_service_tiers(cJSON_GetObjectItemCaseSensitive(m, "service_tiers"), e, where, err,
                               errlen);
}

/* One element of "models"; NULL with 'err' set when it is not valid. */
static struct price_entry *parse_entry(const cJSON *m, size_t idx, char *err, size_t errlen)
{
    char where[WHERE_MAX];
    const char *id;
    snprintf(where, sizeof(where), "models[%zu]", idx);
    if (!cJSON_IsObject(m)) {
        seterr(err, errlen, "%s: must be an object", where);
        return NULL;
    }
    if (opt_string(m, "id", PRICE_NAME_MAX, &id, where, err, errlen) < 0)
        return NULL;
    if (!id) {
        seterr(err, errlen, "%s: id is missing", where);
        return NULL;
    }
    snprintf(where, sizeof(where), "models[%zu] (%s)", idx, id);
    struct price_entry *e = xcalloc(1, sizeof(*e));
    e->id = xstrdup(id);
    e->key = xstrlower(id);
    if (parse_entry_fields(m, e, where, err, errlen) < 0) {
        entry_free(e);
        return NULL;
    }
    return e;
}

/* Parse a whole layer into a new array of entries (caller frees both). */
static int parse_layer(const char *json, size_t len, struct price_entry ***out, size_t *nout,
                       char *err, size_t errlen)
{
    static const char *const keys[] = {"version", "models", "note", NULL};
    struct price_entry **v = NULL;
    size_t n = 0;
    if (len > PRICE_MAX_JSON) {
        seterr(err, errlen, "price file larger than %u bytes", PRICE_MAX_JSON);
        return -1;
    }
    cJSON *root = jsonx_parse(json, len, err, errlen);
    if (!root)
        return -1;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(models)) {
        seterr(err, errlen, "a price file is an object with a \"models\" array");
        goto fail;
    }
    if (check_keys(root, keys, "price file", err, errlen) < 0)
        goto fail;
    int count = cJSON_GetArraySize(models);
    if (count > PRICE_MAX_ENTRIES) {
        seterr(err, errlen, "more than %d models in one price file", PRICE_MAX_ENTRIES);
        goto fail;
    }
    v = xcalloc((size_t)count + 1, sizeof(*v));
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        if (!(v[n] = parse_entry(m, n, err, errlen)))
            goto fail;
        n++;
    }
    cJSON_Delete(root);
    *out = v;
    *nout = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        entry_free(v[i]);
    free(v);
    cJSON_Delete(root);
    return -1;
}

/* ---- building the table ---------------------------------------------- */

static int cmp_entry_slot(const void *a, const void *b)
{
    const struct price_entry *x = *(struct price_entry *const *)a;
    const struct price_entry *y = *(struct price_entry *const *)b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->effective_ns != y->effective_ns)
        return x->effective_ns < y->effective_ns ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* 'to' replaces 'from': what 'to' does not say about matching (pattern,
 * aliases, provider) it keeps from 'from', so overriding a price does not
 * stop the dated snapshots from matching. */
static void inherit_matching(struct price_entry *to, struct price_entry *from)
{
    if (!to->match && from->match &&
        regcomp(&to->re, from->match, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0)
        to->match = xstrdup(from->match);
    if (to->naliases == 0 && from->naliases > 0) {
        free(to->aliases);
        to->aliases = from->aliases;
        to->naliases = from->naliases;
        from->aliases = NULL;
        from->naliases = 0;
    }
    if (!to->provider && from->provider) {
        to->provider = from->provider;
        from->provider = NULL;
    }
}

/* Keep only the last-added entry of each (id, effective) pair. */
static void drop_replaced(struct price_table *t)
{
    struct price_entry **sorted = xmalloc((t->n + 1) * sizeof(*sorted));
    memcpy(sorted, t->entries, t->n * sizeof(*sorted));
    qsort(sorted, t->n, sizeof(*sorted), cmp_entry_slot);
    for (size_t i = 0; i + 1 < t->n; i++) {
        if (strcmp(sorted[i]->key, sorted[i + 1]->key) == 0 &&
            sorted[i]->effective_ns == sorted[i + 1]->effective_ns) {
            sorted[i]->dead = true;
            inherit_matching(sorted[i + 1], sorted[i]);
        }
    }
    free(sorted);
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->entries[i]->dead)
            entry_free(t->entries[i]);
        else
            t->entries[kept++] = t->entries[i];
    }
    t->n = kept;
}

static int cmp_ref(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static void build_index(struct price_table *t)
{
    size_t nrefs = t->n;
    for (size_t i = 0; i < t->n; i++)
        nrefs += t->entries[i]->naliases;
    free(t->names);
    free(t->patterned);
    t->names = xmalloc((nrefs + 1) * sizeof(*t->names));
    t->patterned = xmalloc((t->n + 1) * sizeof(*t->patterned));
    t->nnames = t->npatterned = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct price_entry *e = t->entries[i];
        t->names[t->nnames++] = (struct name_ref){e->key, e, false};
        for (size_t a = 0; a < e->naliases; a++)
            t->names[t->nnames++] = (struct name_ref){e->aliases[a], e, true};
        if (e->match)
            t->patterned[t->npatterned++] = e;
    }
    qsort(t->names, t->nnames, sizeof(*t->names), cmp_ref);
}

static void set_version(struct price_table *t)
{
    uint32_t h = (uint32_t)(t->hash ^ (t->hash >> 32));
    snprintf(t->version, sizeof(t->version), "p-%08" PRIx32, h);
}

static struct pattern_cache *pcache_new(void);
static void pcache_free(struct pattern_cache *c);

int price_table_new(struct price_table **out)
{
    struct price_table *t = xcalloc(1, sizeof(*t));
    t->cache = pcache_new();
    t->hash = 0x6c6c6d746170ULL; /* "llmtap" */
    set_version(t);
    *out = t;
    return LT_OK;
}

int price_table_add_json(struct price_table *t, const char *json, size_t len, const char *source,
                         char *err, size_t errlen)
{
    struct price_entry **v = NULL;
    size_t nv = 0;
    if (!t || !json) {
        seterr(err, errlen, "no price table or text");
        return LT_INVALID_INPUT;
    }
    if (parse_layer(json, len, &v, &nv, err, errlen) < 0)
        return LT_INVALID_INPUT;
    if (t->n + nv > PRICE_MAX_ENTRIES) {
        seterr(err, errlen, "a price table holds at most %d entries", PRICE_MAX_ENTRIES);
        for (size_t i = 0; i < nv; i++)
            entry_free(v[i]);
        free(v);
        return LT_INVALID_INPUT;
    }
    t->entries = xrealloc(t->entries, (t->n + nv + 1) * sizeof(*t->entries));
    for (size_t i = 0; i < nv; i++) {
        v[i]->layer = t->nlayers;
        v[i]->order = t->next_order++;
        t->entries[t->n++] = v[i];
    }
    free(v);
    t->sources = xrealloc(t->sources, (t->nlayers + 1) * sizeof(*t->sources));
    t->sources[t->nlayers++] = xstrdup(source ? source : "custom");
    drop_replaced(t);
    build_index(t);
    pcache_free(t->cache); /* cached keys point into entries a layer may replace */
    t->cache = pcache_new();
    t->hash = ids_hash64(json, len, t->hash);
    set_version(t);
    return LT_OK;
}

int price_table_default(struct price_table **out, char *err, size_t errlen)
{
    struct price_table *t = NULL;
    *out = NULL;
    if (price_table_new(&t) != LT_OK)
        return LT_INTERNAL;
    int rc = price_table_add_json(t, embedded_prices_json, embedded_prices_json_len, "default", err,
                                  errlen);
    if (rc != LT_OK) {
        price_table_free(t);
        return rc;
    }
    *out = t;
    return LT_OK;
}

void price_table_free(struct price_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        entry_free(t->entries[i]);
    free(t->entries);
    free(t->names);
    free(t->patterned);
    for (unsigned i = 0; i < t->nlayers; i++)
        free(t->sources[i]);
    free(t->sources);
    pcache_free(t->cache);
    free(t);
}

const char *price_table_version(const struct price_table *t)
{
    return t ? t->version : NULL;
}

size_t price_table_count(const struct price_table *t)
{
    return t ? t->n : 0;
}

/* ---- matching a model name ------------------------------------------- */

/* Is 'a' a better pick than 'b' for one exact name? Later layer, then an id
 * over an alias, then the newer effective date, then the later addition. */
static bool ref_better(const struct name_ref *a, const struct name_ref *b)
{
    if (a->e->layer != b->e->layer)
        return a->e->layer > b->e->layer;
    if (a->alias != b->alias)
        return !a->alias;
    if (a->e->effective_ns != b->e->effective_ns)
        return a->e->effective_ns > b->e->effective_ns;
    return a->e->order > b->e->order;
}

/* The entry pricing exact name 'name' (lower case) at 'when', or NULL.
 * *known says whether any entry carries that name, in effect or not. */
static const struct price_entry *resolve(const struct price_table *t, const char *name,
                                         int64_t when, bool *known)
{
    size_t lo = 0, hi = t->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->names[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct name_ref *best = NULL;
    *known = false;
    for (size_t i = lo; i < t->nnames && strcmp(t->names[i].name, name) == 0; i++) {
        *known = true;
        if (t->names[i].e->effective_ns > when)
            continue;
        if (!best || ref_better(&t->names[i], best))
            best = &t->names[i];
    }
    return best ? best->e : NULL;
}

static size_t common_prefix(const char *a, const char *b)
{
    size_t n = 0;
    while (a[n] && a[n] == b[n])
        n++;
    return n;
}

/* Among the patterns matching 'form': the later layer wins, then the entry
 * whose id shares the longest prefix with the name, then the longer pattern,
 * then the later addition. */
static const struct price_entry *pattern_best(const struct price_table *t, const char *form)
{
    const struct price_entry *best = NULL;
    size_t best_prefix = 0, best_len = 0;
    for (size_t i = 0; i < t->npatterned; i++) {
        const struct price_entry *e = t->patterned[i];
        if (regexec(&e->re, form, 0, NULL, 0) != 0)
            continue;
        size_t prefix = common_prefix(e->key, form), len = strlen(e->match);
        bool better = !best || e->layer > best->layer;
        if (best && e->layer == best->layer)
            better = prefix != best_prefix ? prefix > best_prefix
                     : len != best_len     ? len > best_len
                                           : e->order > best->order;
        if (better) {
            best = e;
            best_prefix = prefix;
            best_len = len;
        }
    }
    return best;
}

/* Strip Bedrock decorations from the last path part: up to two leading
 * letter-only dot segments (region "us.", vendor "anthropic."), a trailing
 * "-v1:0" version; Vertex's "@" before a date becomes "-". */
static void name_normalize(const char *src, char *dst, size_t dstlen)
{
    const char *s = src;
    for (int k = 0; k < 2; k++) {
        const char *dot = strchr(s, '.'), *q = s;
        if (!dot || dot == s || !(dot[1] >= 'a' && dot[1] <= 'z'))
            break;
        while (q < dot && ((*q >= 'a' && *q <= 'z') || *q == '-'))
            q++;
        if (q != dot)
            break;
        s = dot + 1;
    }
    snprintf(dst, dstlen, "%s", s);
    for (char *p = dst; *p; p++)
        if (*p == '@')
            *p = '-';
    char *v = strrchr(dst, '-');
    if (v && v[1] == 'v' && v[2] >= '0' && v[2] <= '9') {
        char *p = v + 2;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == ':' && p[1] >= '0' && p[1] <= '9' && p[1 + strspn(p + 1, "0123456789")] == 0)
            *v = '\0';
    }
}

struct name_forms {
    char low[PRICE_NAME_MAX];
    char norm[PRICE_NAME_MAX];
    const char *form[PRICE_MAX_FORMS];
    int n;
};

/* The spellings of a model name to try, most specific first: the name in
 * lower case, each part after a '/', then the normalized last part. */
static bool name_forms(const char *name, struct name_forms *f)
{
    size_t len = name ? strlen(name) : 0;
    f->n = 0;
    if (len == 0 || len >= PRICE_NAME_MAX)
        return false;
    lower_copy(f->low, name, len);
    f->form[f->n++] = f->low;
    const char *last = strrchr(f->low, '/');
    for (const char *p = f->low; *p && f->n < PRICE_MAX_FORMS - 2; p++)
        if (*p == '/' && p[1] && p != last)
            f->form[f->n++] = p + 1;
    if (last && last[1]) /* the bare model name, however deep the path */
        f->form[f->n++] = last + 1;
    name_normalize(f->form[f->n - 1], f->norm, sizeof(f->norm));
    if (f->norm[0] && strcmp(f->norm, f->form[f->n - 1]) != 0)
        f->form[f->n++] = f->norm;
    return true;
}

/* Pattern matching costs microseconds a call (a regexec per pattern), and
 * traffic repeats a handful of model names, so what the patterns found for a
 * name (which does not depend on the span's date) is remembered: an
 * open-addressing table of up to PCACHE_SLOTS/2 names, guarded by a mutex
 * (price_cost runs on many threads). When full it stops remembering. */
#define PCACHE_SLOTS 4096

struct pcache_slot {
    char *name;      /* lower-cased model name; NULL = empty slot */
    const char *key; /* the pattern entry's key, or NULL for no match */
};

struct pattern_cache {
    pthread_mutex_t mu;
    size_t used;
    struct pcache_slot slots[PCACHE_SLOTS];
};

static struct pattern_cache *pcache_new(void)
{
    struct pattern_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void pcache_free(struct pattern_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < PCACHE_SLOTS; i++)
        free(c->slots[i].name);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The slot for 'name': its entry, or the empty slot where it belongs. */
static struct pcache_slot *pcache_slot(struct pattern_cache *c, const char *name)
{
    size_t i = (size_t)ids_hash64(name, strlen(name), 0) % PCACHE_SLOTS;
    while (c->slots[i].name && strcmp(c->slots[i].name, name) != 0)
        i = (i + 1) % PCACHE_SLOTS;
    return &c->slots[i];
}

static const struct price_entry *pattern_search(const struct price_table *t,
                                                const struct name_forms *f)
{
    for (int i = 0; i < f->n; i++) {
        const struct price_entry *p = pattern_best(t, f->form[i]);
        if (p)
            return p;
    }
    return NULL;
}

/* The key the patterns give for the name in 'f' (NULL: none), cached. */
static const char *pattern_cached(const struct price_table *t, const struct name_forms *f)
{
    struct pattern_cache *c = t->cache;
    pthread_mutex_lock(&c->mu);
    struct pcache_slot *slot = pcache_slot(c, f->low);
    if (slot->name) {
        const char *key = slot->key;
        pthread_mutex_unlock(&c->mu);
        return key;
    }
    pthread_mutex_unlock(&c->mu);
    const struct price_entry *p = pattern_search(t, f);
    const char *key = p ? p->key : NULL;
    pthread_mutex_lock(&c->mu);
    slot = pcache_slot(c, f->low);
    if (!slot->name && c->used < PCACHE_SLOTS / 2) {
        slot->name = xstrdup(f->low);
        slot->key = key;
        c->used++;
    }
    pthread_mutex_unlock(&c->mu);
    return key;
}

/* Exact names (ids and aliases) on every form first, then patterns. */
static const struct price_entry *match_model(const struct price_table *t, const char *name,
                                             int64_t when, bool *known)
{
    struct name_forms f;
    *known = false;
    if (!name_forms(name, &f))
        return NULL;
    for (int i = 0; i < f.n; i++) {
        const struct price_entry *e = resolve(t, f.form[i], when, known);
        if (*known)
            return e;
    }
    const char *key = pattern_cached(t, &f);
    return key ? resolve(t, key, when, known) : NULL;
}

/* ---- cost -------------------------------------------------------------- */

struct tokens {
    int64_t in, out, cache_read, cache_write, cache_write_1h, reasoning;
};

static bool count_ok(int64_t v, int64_t *out)
{
    *out = v < 0 ? 0 : v;
    return v <= PRICE_MAX_TOKENS;
}

static bool tokens_read(const struct span_usage *u, struct tokens *k)
{
    if (u->input_tokens < 0 && u->output_tokens < 0)
        return false;
    if (!count_ok(u->input_tokens, &k->in) || !count_ok(u->output_tokens, &k->out) ||
        !count_ok(u->cache_read_tokens, &k->cache_read) ||
        !count_ok(u->cache_write_tokens, &k->cache_write) ||
        !count_ok(u->cache_write_1h_tokens, &k->cache_write_1h) ||
        !count_ok(u->reasoning_tokens, &k->reasoning))
        return false;
    if (k->cache_write_1h > k->cache_write)
        k->cache_write_1h = k->cache_write;
    return true;
}

static int svc_index(const char *tier)
{
    for (int s = SVC_PRIORITY; tier && s < SVC_COUNT; s++)
        if (strcasecmp(tier, svc_key[s]) == 0)
            return s;
    return SVC_STANDARD;
}

/* The rates for one call: the service tier's set (else the standard one),
 * the highest context tier the prompt exceeds laid over its base, then the
 * defaults (cache read and write at input, 1-hour write at the write rate,
 * reasoning at output). */
static void rates_for(const struct price_entry *e, const char *service_tier, int64_t input,
                      struct price_rates *r)
{
    const struct price_set *set = &e->sets[svc_index(service_tier)];
    if (!set->present)
        set = &e->sets[SVC_STANDARD];
    *r = set->base;
    const struct price_tier *tier = NULL;
    for (size_t i = 0; i < set->ntiers; i++)
        if (input > set->tiers[i].above)
            tier = &set->tiers[i];
    for (int k = 0; tier && k < PR_COUNT; k++)
        if (tier->rates.pico[k] >= 0)
            r->pico[k] = tier->rates.pico[k];
    int64_t *p = r->pico;
    if (p[PR_CACHE_READ] < 0)
        p[PR_CACHE_READ] = p[PR_INPUT];
    if (p[PR_CACHE_WRITE] < 0)
        p[PR_CACHE_WRITE] = p[PR_INPUT];
    if (p[PR_CACHE_WRITE_1H] < 0)
        p[PR_CACHE_WRITE_1H] = p[PR_CACHE_WRITE];
    if (p[PR_REASONING] < 0)
        p[PR_REASONING] = p[PR_OUTPUT];
}

/* *sum += tokens x rate; false on overflow or when tokens need a missing rate. */
static bool add_part(int64_t *sum, int64_t tokens, int64_t rate)
{
    int64_t part;
    if (tokens == 0)
        return true;
    if (rate < 0 || __builtin_mul_overflow(tokens, rate, &part) ||
        __builtin_add_overflow(*sum, part, sum))
        return false;
    return true;
}

static bool entry_cost(const struct price_entry *e, const struct span *s, int64_t *pico)
{
    struct tokens k;
    struct price_rates r;
    int64_t sum = 0;
    if (!tokens_read(&s->usage, &k))
        return false;
    rates_for(e, s->service_tier, k.in, &r);
    if (e->embedding) {
        if (s->usage.input_tokens < 0 || !add_part(&sum, k.in, r.pico[PR_INPUT]))
            return false;
        *pico = sum;
        return true;
    }
    int64_t uncached = k.in - k.cache_read - k.cache_write;
    int64_t visible = k.out - k.reasoning;
    if (!add_part(&sum, uncached > 0 ? uncached : 0, r.pico[PR_INPUT]) ||
        !add_part(&sum, k.cache_read, r.pico[PR_CACHE_READ]) ||
        !add_part(&sum, k.cache_write - k.cache_write_1h, r.pico[PR_CACHE_WRITE]) ||
        !add_part(&sum, k.cache_write_1h, r.pico[PR_CACHE_WRITE_1H]) ||
        !add_part(&sum, visible > 0 ? visible : 0, r.pico[PR_OUTPUT]) ||
        !add_part(&sum, k.reasoning, r.pico[PR_REASONING]))
        return false;
    *pico = sum;
    return true;
}

int price_cost(const struct price_table *t, const struct span *s, int64_t *nusd,
               const char **matched)
{
    bool known = false;
    int64_t pico = 0;
    if (matched)
        *matched = NULL;
    if (!t || !s || !nusd)
        return 0;
    int64_t when = s->start_ns > 0 ? s->start_ns : time_now_ns();
    const struct price_entry *e = match_model(t, s->response_model, when, &known);
    if (!e && !known)
        e = match_model(t, s->model, when, &known);
    if (!e || !entry_cost(e, s, &pico))
        return 0;
    *nusd = pico / 1000 + (pico % 1000 >= 500);
    if (matched)
        *matched = e->id;
    return 1;
}

int price_apply(const struct price_table *t, struct span *s)
{
    int64_t nusd;
    if (!s)
        return 0;
    if (s->has_cost)
        return 1; /* the sender's figure wins */
    if (!price_cost(t, s, &nusd, NULL))
        return 0;
    s->has_cost = true;
    s->cost_nusd = nusd;
    xstrset(&s->price_version, price_table_version(t));
    return 1;
}

/* ---- writing our format ---------------------------------------------- */

/* pico-USD per token as exact decimal USD per Mtok ("0.075"). */
static int put_usd(struct buf *b, int64_t pico)
{
    int64_t whole = pico / PICO_PER_USD_PER_MTOK, frac = pico % PICO_PER_USD_PER_MTOK;
    if (frac == 0)
        return buf_printf(b, "%" PRId64, whole);
    char digits[16];
    snprintf(digits, sizeof(digits), "%06" PRId64, frac);
    for (size_t n = strlen(digits); n > 0 && digits[n - 1] == '0'; n--)
        digits[n - 1] = '\0';
    return buf_printf(b, "%" PRId64 ".%s", whole, digits);
}

static int put_rates(struct buf *b, const struct price_rates *r)
{
    int rc = buf_putc(b, '{');
    bool first = true;
    for (int k = 0; k < PR_COUNT; k++) {
        if (r->pico[k] < 0)
            continue;
        rc |= buf_printf(b, "%s\"%s\":", first ? "" : ",", rate_key[k]);
        rc |= put_usd(b, r->pico[k]);
        first = false;
    }
    return rc | buf_putc(b, '}');
}

/* "usd_per_mtok":{...}[,"tiers":[...]] (no surrounding braces). */
static int put_set(struct buf *b, const struct price_set *s)
{
    int rc = buf_puts(b, "\"usd_per_mtok\":");
    rc |= put_rates(b, &s->base);
    if (s->ntiers == 0)
        return rc;
    rc |= buf_puts(b, ",\"tiers\":[");
    for (size_t i = 0; i < s->ntiers; i++) {
        rc |= buf_printf(b, "%s{\"above_input_tokens\":%" PRId64 ",\"usd_per_mtok\":", i ? "," : "",
                         s->tiers[i].above);
        rc |= put_rates(b, &s->tiers[i].rates);
        rc |= buf_putc(b, '}');
    }
    return rc | buf_putc(b, ']');
}

static int put_service_tiers(struct buf *b, const struct price_set *sets)
{
    int rc = 0;
    bool first = true;
    for (int s = SVC_PRIORITY; s < SVC_COUNT; s++) {
        if (!sets[s].present)
            continue;
        rc |= buf_printf(b, "%s\"%s\":{", first ? ",\"service_tiers\":{" : ",", svc_key[s]);
        rc |= put_set(b, &sets[s]);
        rc |= buf_putc(b, '}');
        first = false;
    }
    return first ? rc : rc | buf_putc(b, '}');
}

static int put_opt_str(struct buf *b, const char *key, const char *value)
{
    if (!value)
        return 0;
    int rc = buf_printf(b, ",\"%s\":", key);
    return rc | buf_json_str(b, value);
}

static int put_aliases(struct buf *b, const char *const *aliases, size_t n)
{
    if (n == 0)
        return 0;
    int rc = buf_puts(b, ",\"aliases\":[");
    for (size_t i = 0; i < n; i++) {
        rc |= i ? buf_putc(b, ',') : 0;
        rc |= buf_json_str(b, aliases[i]);
    }
    return rc | buf_putc(b, ']');
}

static int put_entry(struct buf *b, const struct price_table *t, const struct price_entry *e)
{
    int rc = buf_puts(b, "{\"id\":");
    rc |= buf_json_str(b, e->id);
    rc |= put_opt_str(b, "source", t->sources[e->layer]);
    rc |= put_opt_str(b, "provider", e->provider);
    rc |= put_opt_str(b, "effective", e->effective);
    rc |= put_opt_str(b, "match", e->match);
    rc |= put_aliases(b, (const char *const *)e->aliases, e->naliases);
    rc |= put_opt_str(b, "mode", e->mode);
    rc |= buf_putc(b, ',');
    rc |= put_set(b, &e->sets[SVC_STANDARD]);
    rc |= put_service_tiers(b, e->sets);
    return rc | buf_putc(b, '}');
}

static bool entry_listed(const struct price_entry *e, const char *filter,
                         const struct name_forms *f)
{
    if (strstr(e->key, filter))
        return true;
    for (size_t i = 0; i < e->naliases; i++)
        if (strstr(e->aliases[i], filter))
            return true;
    for (int i = 0; e->match && i < f->n; i++)
        if (regexec(&e->re, f->form[i], 0, NULL, 0) == 0)
            return true;
    return false;
}

char *price_table_list_json(const struct price_table *t, const char *model_filter)
{
    struct buf b;
    struct name_forms f;
    bool filtered = model_filter && model_filter[0];
    buf_init(&b, 0);
    if (filtered && !name_forms(model_filter, &f))
        return xstrdup("[]"); /* no model has such a name */
    int rc = buf_putc(&b, '[');
    bool first = true;
    for (size_t i = 0; t && i < t->n; i++) {
        if (filtered && !entry_listed(t->entries[i], f.low, &f))
            continue;
        rc |= first ? 0 : buf_putc(&b, ',');
        rc |= put_entry(&b, t, t->entries[i]);
        first = false;
    }
    rc |= buf_putc(&b, ']');
    (void)rc; /* no ceiling: appends cannot fail */
    return buf_take(&b, NULL);
}

/* ---- LiteLLM import ---------------------------------------------------- */

/* The token prices of one LiteLLM model, per service tier. */
struct lite_prices {
    struct price_rates base[SVC_COUNT];
    struct price_tier tiers[SVC_COUNT][PRICE_MAX_TIERS];
    size_t ntiers[SVC_COUNT];
};

/* Split a LiteLLM field name into rate, context threshold and service tier:
 * "<base>[_above_<N>k_tokens][_priority|_flex|_batches]". *hit is set for
 * DeepSeek's input_cost_per_token_cache_hit (a cache-read price used only
 * when cache_read_input_token_cost is absent). */
static bool litellm_field(const char *field, int *rate, int64_t *above, int *svc, bool *hit)
{
    static const struct {
        const char *name;
        int rate;
    } base[] = {{"input_cost_per_token", PR_INPUT},
                {"output_cost_per_token", PR_OUTPUT},
                {"cache_read_input_token_cost", PR_CACHE_READ},
                {"input_cost_per_token_cache_hit", PR_CACHE_READ},
                {"cache_creation_input_token_cost", PR_CACHE_WRITE},
                {"cache_creation_input_token_cost_above_1hr", PR_CACHE_WRITE_1H},
                {"output_cost_per_reasoning_token", PR_REASONING}};
    static const char *const svc_suffix[SVC_COUNT] = {"", "_priority", "_flex", "_batches"};
    char name[96];
    size_t n = strlen(field);
    if (n >= sizeof(name))
        return false;
    memcpy(name, field, n + 1);
    *svc = SVC_STANDARD;
    for (int s = SVC_PRIORITY; s < SVC_COUNT; s++) {
        size_t sl = strlen(svc_suffix[s]);
        if (n > sl && strcmp(name + n - sl, svc_suffix[s]) == 0) {
            name[n - sl] = '\0';
            *svc = s;
            break;
        }
    }
    *above = 0;
    char *a = NULL;
    for (char *p = strstr(name, "_above_"); p; p = strstr(p + 1, "_above_"))
        a = p;
    if (a) {
        char *end;
        long long k = strtoll(a + 7, &end, 10);
        if (end > a + 7 && k > 0 && k < 1000000 && strcmp(end, "k_tokens") == 0) {
            *above = k * 1000;
            *a = '\0';
        }
    }
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        if (strcmp(name, base[i].name) == 0) {
            *rate = base[i].rate;
            *hit = i == 3;
            return true;
        }
    }
    return false;
}

static struct price_rates *lite_slot(struct lite_prices *lp, int svc, int64_t above)
{
    if (above == 0)
        return &lp->base[svc];
    for (size_t i = 0; i < lp->ntiers[svc]; i++)
        if (lp->tiers[svc][i].above == above)
            return &lp->tiers[svc][i].rates;
    if (lp->ntiers[svc] == PRICE_MAX_TIERS)
        return NULL;
    struct price_tier *t = &lp->tiers[svc][lp->ntiers[svc]++];
    t->above = above;
    rates_clear(&t->rates);
    return &t->rates;
}

/* A LiteLLM price in USD per token we accept: finite, 0 to $0.1. */
static bool lite_value(const cJSON *it, double *v)
{
    if (!cJSON_IsNumber(it))
        return false;
    *v = it->valuedouble;
    return isfinite(*v) && *v >= 0 && *v <= PRICE_MAX_USD_PER_MTOK / 1e6;
}

/* Gather the token prices of 'model'; 'pass' 0 takes every field except the
 * cache-hit fallback, pass 1 takes only that, into slots still empty. */
static void lite_collect(const cJSON *model, struct lite_prices *lp, int pass)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, model)
    {
        int rate, svc;
        int64_t above;
        bool hit;
        double v; /* USD per token */
        if (!lite_value(it, &v) || !litellm_field(it->string, &rate, &above, &svc, &hit) ||
            hit != (pass == 1))
            continue;
        struct price_rates *slot = lite_slot(lp, svc, above);
        if (slot && (!hit || slot->pico[rate] < 0))
            slot->pico[rate] = llround(v * 1e12);
    }
}

static bool litellm_mode_ok(const cJSON *model)
{
    const char *mode = jsonx_str(model, "mode");
    for (size_t i = 0; mode && mode_names[i]; i++)
        if (strcmp(mode, mode_names[i]) == 0)
            return true;
    return false;
}

/* A model we convert: a token-priced mode with a base input or output price. */
static bool litellm_usable(const cJSON *model)
{
    if (!cJSON_IsObject(model) || !litellm_mode_ok(model))
        return false;
    double v;
    return lite_value(cJSON_GetObjectItemCaseSensitive(model, "input_cost_per_token"), &v) ||
           lite_value(cJSON_GetObjectItemCaseSensitive(model, "output_cost_per_token"), &v);
}

static int lite_put(struct buf *b, const char *key, const char *alias, const cJSON *model)
{
    struct lite_prices lp;
    struct price_set sets[SVC_COUNT];
    for (int s = 0; s < SVC_COUNT; s++) {
        rates_clear(&lp.base[s]);
        lp.ntiers[s] = 0;
    }
    lite_collect(model, &lp, 0);
    lite_collect(model, &lp, 1);
    for (int s = 0; s < SVC_COUNT; s++) {
        qsort(lp.tiers[s], lp.ntiers[s], sizeof(lp.tiers[s][0]), cmp_tier);
        sets[s] = (struct price_set){rates_any(&lp.base[s]) || lp.ntiers[s] > 0, lp.base[s],
                                     lp.ntiers[s], lp.tiers[s]};
    }
    const char *mode = jsonx_str(model, "mode");
    const char *provider = jsonx_str(model, "litellm_provider");
    if (provider && (!provider[0] || strlen(provider) >= PRICE_NAME_MAX))
        provider = NULL; /* our format would refuse it */
    int rc = buf_puts(b, "{\"id\":");
    rc |= buf_json_str(b, key);
    rc |= put_opt_str(b, "provider", provider);
    rc |= put_aliases(b, &alias, alias ? 1 : 0);
    rc |= put_opt_str(b, "mode", strcmp(mode, "embedding") == 0 ? mode : NULL);
    rc |= buf_putc(b, ',');
    rc |= put_set(b, &sets[SVC_STANDARD]);
    for (int s = SVC_PRIORITY; s < SVC_COUNT; s++) /* our format needs input or output */
        sets[s].present = sets[s].base.pico[PR_INPUT] >= 0 || sets[s].base.pico[PR_OUTPUT] >= 0;
    rc |= put_service_tiers(b, sets);
    return rc | buf_putc(b, '}');
}

struct lite_key {
    const char *name; /* LiteLLM's key, borrowed from the tree */
    char *low;
    const char *alias; /* points into 'low', or NULL */
    const cJSON *model;
};

struct lite_alias {
    const char *alias;
    size_t idx;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_alias(const void *a, const void *b)
{
    const struct lite_alias *x = a, *y = b;
    int c = strcmp(x->alias, y->alias);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Give each key its name minus the "provider/" prefix as an alias, unless
 * that name is itself a key or an earlier key already took it. */
static void lite_aliases(struct lite_key *keys, size_t n)
{
    const char **sorted = xmalloc((n + 1) * sizeof(*sorted));
    struct lite_alias *cand = xmalloc((n + 1) * sizeof(*cand));
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = keys[i].low;
        const char *slash = strchr(keys[i].low, '/');
        if (slash && slash[1])
            cand[nc++] = (struct lite_alias){slash + 1, i};
    }
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    qsort(cand, nc, sizeof(*cand), cmp_alias);
    for (size_t i = 0; i < nc; i++) {
        if (i > 0 && strcmp(cand[i].alias, cand[i - 1].alias) == 0)
            continue;
        if (!bsearch(&cand[i].alias, sorted, n, sizeof(*sorted), cmp_str))
            keys[cand[i].idx].alias = cand[i].alias;
    }
    free(sorted);
    free(cand);
}

/* The models worth converting, in file order; counts the others. */
static struct lite_key *lite_keys(const cJSON *root, size_t *n, size_t *skipped)
{
    struct lite_key *keys = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*keys));
    const cJSON *it;
    *n = 0;
    cJSON_ArrayForEach(it, root)
    {
        const char *name = it->string;
        if (!cJSON_IsObject(it) || strcmp(name, "sample_spec") == 0 ||
            strcmp(name, "fallback_generalizations") == 0)
            continue;
        if (!litellm_usable(it) || name[0] == '\0' || strlen(name) >= PRICE_NAME_MAX) {
            (*skipped)++;
            continue;
        }
        keys[*n] = (struct lite_key){name, xstrlower(name), NULL, it};
        (*n)++;
    }
    return keys;
}

int price_litellm_convert(const char *json, size_t len, char **ours, size_t *converted,
                          size_t *skipped, char *err, size_t errlen)
{
    struct lite_key *keys = NULL;
    size_t n = 0, nskip = 0;
    struct buf b;
    buf_init(&b, PRICE_MAX_JSON);
    *ours = NULL;
    *converted = *skipped = 0;
    if (!json || len > PRICE_MAX_JSON) {
        seterr(err, errlen, "LiteLLM file missing or larger than %u bytes", PRICE_MAX_JSON);
        return LT_INVALID_INPUT;
    }
    cJSON *root = jsonx_parse(json, len, err, errlen);
    if (!root)
        return LT_INVALID_INPUT;
    if (!cJSON_IsObject(root)) {
        seterr(err, errlen, "a LiteLLM price file is a JSON object keyed by model");
        goto fail;
    }
    keys = lite_keys(root, &n, &nskip);
    lite_aliases(keys, n);
    int rc = buf_puts(&b, "{\"version\":\"litellm\",\"note\":\"converted from LiteLLM "
                          "model_prices_and_context_window.json (MIT)\",\"models\":[\n");
    for (size_t i = 0; i < n; i++) {
        rc |= i ? buf_puts(&b, ",\n") : 0;
        rc |= lite_put(&b, keys[i].name, keys[i].alias, keys[i].model);
    }
    rc |= buf_puts(&b, "\n]}\n");
    if (rc != BUF_OK) {
        seterr(err, errlen, "converted table larger than %u bytes", PRICE_MAX_JSON);
        goto fail;
    }
    *ours = buf_take(&b, NULL);
    *converted = n;
    *skipped = nskip;
    for (size_t i = 0; i < n; i++)
        free(keys[i].low);
    free(keys);
    cJSON_Delete(root);
    return LT_OK;
fail:
    for (size_t i = 0; i < n; i++)
        free(keys[i].low);
    free(keys);
    buf_release(&b);
    cJSON_Delete(root);
    return LT_INVALID_INPUT;
}
