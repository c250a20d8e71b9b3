/*
 * scorer_sim: the similar scorer (scorer.h). Offline it is the cosine of
 * two TF-IDF vectors; with a model, the cosine of two embeddings the
 * runner fetched.
 *
 * Terms: the text is lower-cased (ASCII) and cut into words (runs of ASCII
 * letters and digits and of non-ASCII bytes), then rejoined as " w1 w2 ... ";
 * the terms are the words and every three consecutive code points of that
 * string (character trigrams, so "colour" still shares with "color"). Each
 * term is a 64-bit FNV-1a hash seeded by its kind; collisions are
 * negligible and the result is deterministic.
 * Weights: sublinear tf, 1 + log(tf), times idf = log((1 + N) / (1 + df))
 * + 1 over the corpus of N documents (every idf is 1 before
 * scorer_similar_corpus). The df table is a sorted array of (term, df).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/scorer_int.h"

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define SEED_WORD 'w'
#define SEED_TRIGRAM 't'

/* A text's terms, sorted, each with its weight once vec_weigh ran. */
struct vec {
    uint64_t *term;
    double *w;
    size_t n;
    double norm;
};

static uint64_t fnv(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = FNV_BASIS ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* " w1 w2 ... " of 'text' (caller frees); *len its length. */
static char *normalise(const char *text, size_t *len)
{
    size_t n = strlen(text), o = 0;
    int in_word = 0;
    char *out = xmalloc(n + 3);
    out[o++] = ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (word_byte(c)) {
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
            in_word = 1;
        } else if (in_word) {
            out[o++] = ' ';
            in_word = 0;
        }
    }
    if (in_word)
        out[o++] = ' ';
    out[o] = '\0';
    *len = o;
    return out;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t next_cp(const char *s, size_t i, size_t n)
{
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

/* Every term of 'text', sorted, repeats kept, into v->term (v->n). */
static void vec_terms(const char *text, struct vec *v)
{
    size_t len, n = 0;
    char *s = normalise(text, &len);
    /* at most len / 2 words and len - 2 trigrams */
    v->term = xmalloc((2 * len + 2) * sizeof(*v->term));
    for (size_t i = 1, start = 1; i < len; i++) {
        if (s[i] != ' ')
            continue;
        if (i > start)
            v->term[n++] = fnv(SEED_WORD, s + start, i - start);
        start = i + 1;
    }
    /* trigrams: c0 c1 c2 code points starting at a, b, c */
    size_t a = 0, b = next_cp(s, 0, len), c = next_cp(s, b, len);
    while (c < len) {
        size_t end = next_cp(s, c, len);
        v->term[n++] = fnv(SEED_TRIGRAM, s + a, end - a);
        a = b, b = c, c = end;
    }
    free(s);
    qsort(v->term, n, sizeof(*v->term), cmp_u64);
    v->n = n;
}

static double idf(const struct scorer *sc, uint64_t term)
{
    if (!sc->ndocs)
        return 1;
    size_t lo = 0, hi = sc->ndf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sc->df[mid].term < term)
            lo = mid + 1;
        else
            hi = mid;
    }
    double df = lo < sc->ndf && sc->df[lo].term == term ? sc->df[lo].df : 0;
    return log((1.0 + (double)sc->ndocs) / (1.0 + df)) + 1.0;
}

/* Collapse the sorted repeats into (term, weight) and compute the norm. */
static void vec_weigh(const struct scorer *sc, struct vec *v)
{
    size_t o = 0;
    double sum = 0;
    v->w = xmalloc((v->n ? v->n : 1) * sizeof(*v->w));
    for (size_t i = 0; i < v->n;) {
        size_t j = i;
        while (j < v->n && v->term[j] == v->term[i])
            j++;
        double w = (1.0 + log((double)(j - i))) * idf(sc, v->term[i]);
        v->term[o] = v->term[i];
        v->w[o++] = w;
        sum += w * w;
        i = j;
    }
    v->n = o;
    v->norm = sqrt(sum);
}

static void vec_release(struct vec *v)
{
    free(v->term);
    free(v->w);
}

double scorer_sim_cosine(const struct scorer *sc, const char *a, const char *b)
{
    struct vec va, vb;
    double dot = 0;
    vec_terms(a, &va);
    vec_terms(b, &vb);
    vec_weigh(sc, &va);
    vec_weigh(sc, &vb);
    for (size_t i = 0, j = 0; i < va.n && j < vb.n;) {
        if (va.term[i] < vb.term[j]) {
            i++;
        } else if (va.term[i] > vb.term[j]) {
            j++;
        } else {
            dot += va.w[i++] * vb.w[j++];
        }
    }
    double r = va.norm > 0 && vb.norm > 0 ? dot / (va.norm * vb.norm) : 0;
    vec_release(&va);
    vec_release(&vb);
    return r < 0 ? 0 : r > 1 ? 1 : r;
}

void scorer_similar_corpus(struct scorer *sc, const char *const *texts, size_t n)
{
    uint64_t *all = NULL;
    size_t nall = 0, cap = 0;
    for (size_t d = 0; d < n; d++) {
        struct vec v;
        vec_terms(texts[d] ? texts[d] : "", &v);
        for (size_t i = 0; i < v.n; i++) {
            if (i > 0 && v.term[i] == v.term[i - 1])
                continue; /* once per document */
            if (nall == cap) {
                cap = cap ? cap * 2 : 1024;
                all = xrealloc(all, cap * sizeof(*all));
            }
            all[nall++] = v.term[i];
        }
        free(v.term);
    }
    qsort(all, nall, sizeof(*all), cmp_u64);
    free(sc->df);
    sc->df = xmalloc((nall ? nall : 1) * sizeof(*sc->df));
    sc->ndf = 0;
    for (size_t i = 0; i < nall;) {
        size_t j = i;
        while (j < nall && all[j] == all[i])
            j++;
        sc->df[sc->ndf].term = all[i];
        sc->df[sc->ndf++].df = (uint32_t)(j - i);
        i = j;
    }
    sc->ndocs = n;
    free(all);
}

/* ---- embeddings ----------------------------------------------------------- */

char *scorer_embed_request(const struct scorer *sc, const struct scorer_input *in,
                           struct eval_score *score)
{
    char err[256];
    const char *text = in->out && in->out->text ? in->out->text : "";
    if (!sc->model) {
        scorer_fail(score, "a %s scorer without a model asks for no embeddings", sc->type);
        return NULL;
    }
    char *ref = scorer_render_reference(sc, in, err, sizeof(err));
    if (!ref) {
        scorer_fail(score, "%s", err);
        return NULL;
    }
    if (!*text || !*ref) {
        scorer_fill(sc, score, 0, *text ? "empty reference" : "empty output");
        free(ref);
        return NULL;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", sc->model);
    cJSON *input = cJSON_AddArrayToObject(body, "input");
    cJSON_AddItemToArray(input, cJSON_CreateString(text));
    cJSON_AddItemToArray(input, cJSON_CreateString(ref));
    char *s = jsonx_print(body);
    cJSON_Delete(body);
    free(ref);
    return s;
}

static int eerr(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -1;
}

/* The embeddings of index 0 (the output) and 1 (the reference). */
static int embed_vectors(const cJSON *root, const cJSON **vec, char *err, size_t errlen)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e) {
        const char *msg = cJSON_IsString(e) ? e->valuestring : jsonx_str(e, "message");
        snprintf(err, errlen, "error: %.200s", msg ? msg : "(no message)");
        return -1;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data))
        return eerr(err, errlen, "no \"data\" array");
    int pos = 0;
    for (const cJSON *it = data->child; it; it = it->next, pos++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(it, "index");
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(it, "embedding");
        double i = idx ? (cJSON_IsNumber(idx) ? idx->valuedouble : -1) : pos;
        if (i != 0 && i != 1)
            return eerr(err, errlen, "an \"index\" other than 0 or 1");
        if (vec[(int)i])
            return eerr(err, errlen, "a repeated \"index\"");
        if (!cJSON_IsArray(emb))
            return eerr(err, errlen, "an \"embedding\" that is not a float array");
        vec[(int)i] = emb;
    }
    if (!vec[0] || !vec[1])
        return eerr(err, errlen, "expected 2 embeddings");
    return 0;
}

static int embed_cosine(const cJSON *a, const cJSON *b, double *out, char *err, size_t errlen)
{
    double dot = 0, na = 0, nb = 0;
    const cJSON *x = a->child, *y = b->child;
    size_t n = 0;
    for (; x && y; x = x->next, y = y->next, n++) {
        if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y))
            return eerr(err, errlen, "an embedding holds a non-number");
        dot += x->valuedouble * y->valuedouble;
        na += x->valuedouble * x->valuedouble;
        nb += y->valuedouble * y->valuedouble;
    }
    if (x || y)
        return eerr(err, errlen, "the embeddings differ in length");
    if (n == 0)
        return eerr(err, errlen, "an empty embedding");
    *out = na > 0 && nb > 0 ? dot / (sqrt(na) * sqrt(nb)) : 0;
    if (!isfinite(*out))
        return eerr(err, errlen, "embeddings out of range");
    return 0;
}

void scorer_embed_finish(const struct scorer *sc, const char *body, size_t len,
                         struct eval_score *score)
{
    char err[256];
    const cJSON *vec[2] = {NULL, NULL};
    double cos = 0;
    cJSON *root = body ? jsonx_parse(body, len, err, sizeof(err)) : NULL;
    if (!root) {
        scorer_fail(score, "embeddings: the response is not JSON: %s", body ? err : "empty");
        return;
    }
    if (embed_vectors(root, vec, err, sizeof(err)) ||
        embed_cosine(vec[0], vec[1], &cos, err, sizeof(err))) {
        scorer_fail(score, "embeddings: %s", err);
    } else {
        char why[64];
        cos = cos < 0 ? 0 : cos > 1 ? 1 : cos;
        snprintf(why, sizeof(why), "embedding cosine %.3f", cos);
        scorer_fill(sc, score, cos, why);
    }
    cJSON_Delete(root);
}
