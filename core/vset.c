/*
 * vset: version_set canonicalisation and derivation (see vset.h).
 */
#include "core/vset.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/xmem.h"

#define VSET_MAX_PARTS 64

struct part {
    char *key; /* whole token when there is no '=' */
    char *val; /* NULL for a bare token */
};

static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

static int part_cmp(const void *a, const void *b)
{
    return strcmp(((const struct part *)a)->key, ((const struct part *)b)->key);
}

/* Split 'given' into parts; later duplicates of a key replace earlier ones. */
static size_t split_parts(const char *given, struct part *parts)
{
    size_t n = 0;
    const char *p = given;
    while (*p && n < VSET_MAX_PARTS) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char *key = trimmed(p, eq ? (size_t)(eq - p) : len);
        char *val = eq ? trimmed(eq + 1, len - (size_t)(eq - p) - 1) : NULL;
        if (*key == '\0') {
            free(key);
            free(val);
        } else {
            size_t i = 0;
            while (i < n && strcmp(parts[i].key, key) != 0)
                i++;
            if (i < n) {
                free(parts[i].key);
                free(parts[i].val);
            } else {
                n++;
            }
            parts[i].key = key;
            parts[i].val = val;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return n;
}

char *vset_canonical(const char *given)
{
    if (!given)
        return NULL;
    struct part parts[VSET_MAX_PARTS];
    size_t n = split_parts(given, parts);
    qsort(parts, n, sizeof(parts[0]), part_cmp);
    struct buf b;
    buf_init(&b, VSET_MAX_LEN);
    int toobig = 0;
    for (size_t i = 0; i < n; i++) {
        if (!toobig && ((i && buf_putc(&b, ';')) || buf_puts(&b, parts[i].key) ||
                        (parts[i].val && (buf_putc(&b, '=') || buf_puts(&b, parts[i].val)))))
            toobig = 1;
        free(parts[i].key);
        free(parts[i].val);
    }
    if (toobig || b.len == 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b, NULL);
}

static int canon_json(struct buf *b, const cJSON *it);

static int canon_object(struct buf *b, const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    const cJSON **kids = xcalloc(n ? n : 1, sizeof(*kids));
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        kids[i++] = c;
    /* insertion sort: params objects are small */
    for (size_t a = 1; a < n; a++)
        for (size_t k = a; k > 0 && strcmp(kids[k - 1]->string, kids[k]->string) > 0; k--) {
            const cJSON *t = kids[k];
            kids[k] = kids[k - 1];
            kids[k - 1] = t;
        }
    int rc = buf_putc(b, '{');
    for (i = 0; i < n && !rc; i++)
        rc = (i && buf_putc(b, ',')) || buf_json_str(b, kids[i]->string) || buf_putc(b, ':') ||
             canon_json(b, kids[i]);
    free(kids);
    return rc || buf_putc(b, '}');
}

static int canon_json(struct buf *b, const cJSON *it)
{
    if (cJSON_IsObject(it))
        return canon_object(b, it);
    if (cJSON_IsArray(it)) {
        int rc = buf_putc(b, '[');
        int first = 1;
        for (const cJSON *c = it->child; c && !rc; c = c->next, first = 0)
            rc = (!first && buf_putc(b, ',')) || canon_json(b, c);
        return rc || buf_putc(b, ']');
    }
    char *s = jsonx_print(it);
    int rc = buf_puts(b, s);
    free(s);
    return rc;
}

int vset_params_hash(const char *json, char out[9])
{
    char err[128];
    cJSON *root = jsonx_parse(json, strlen(json), err, sizeof(err));
    if (!root)
        return -1;
    struct buf b;
    buf_init(&b, 0);
    int rc = canon_json(&b, root);
    cJSON_Delete(root);
    uint64_t h = ids_hash64(buf_str(&b), b.len, 0);
    buf_release(&b);
    snprintf(out, 9, "%08" PRIx32, (uint32_t)(h >> 32));
    return rc ? -1 : 0;
}

char *vset_derive(const struct span *s)
{
    struct buf b;
    buf_init(&b, VSET_MAX_LEN);
    const char *model = s->response_model ? s->response_model : s->model;
    char ph[9] = "";
    int has_params =
        s->params && strcmp(s->params, "{}") != 0 && vset_params_hash(s->params, ph) == 0;
    int rc = 0;
    /* keys in sorted order: app, model, params, prompt */
    if (s->service_version)
        rc |= buf_printf(&b, "%sapp=%s", b.len ? ";" : "", s->service_version);
    if (model)
        rc |= buf_printf(&b, "%smodel=%s", b.len ? ";" : "", model);
    if (has_params)
        rc |= buf_printf(&b, "%sparams=%s", b.len ? ";" : "", ph);
    if (s->prompt_name && s->prompt_version >= 0)
        rc |= buf_printf(&b, "%sprompt=%s@%" PRId64, b.len ? ";" : "", s->prompt_name,
                         s->prompt_version);
    else if (s->prompt_name)
        rc |= buf_printf(&b, "%sprompt=%s", b.len ? ";" : "", s->prompt_name);
    if (rc || b.len == 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b, NULL);
}
