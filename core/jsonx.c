/*
 * jsonx: bounded-depth parsing and typed accessors over cJSON (see jsonx.h).
 */
#include "core/jsonx.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

int jsonx_depth(const char *text, size_t len)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

cJSON *jsonx_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (jsonx_depth(text, len) > JSONX_MAX_DEPTH) {
        snprintf(err, errlen, "JSON nested deeper than %d levels", JSONX_MAX_DEPTH);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        snprintf(err, errlen, "malformed JSON at byte %zu", off);
        return NULL;
    }
    /* Only whitespace may follow the value. */
    for (const char *p = end; p && p < text + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
            snprintf(err, errlen, "malformed JSON at byte %zu: data after the value",
                     (size_t)(p - text));
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

const char *jsonx_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int jsonx_int64(const cJSON *item, int64_t *out)
{
    if (!item || cJSON_IsNull(item))
        return 1;
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end != '\0' || errno == ERANGE)
            return -1;
        *out = v;
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9.2e18)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

int jsonx_member_int64(const cJSON *obj, const char *key, int64_t *out)
{
    return jsonx_int64(cJSON_GetObjectItemCaseSensitive(obj, key), out);
}

int jsonx_double(const cJSON *item, double *out)
{
    if (!item || cJSON_IsNull(item))
        return 1;
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return 0;
    }
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end != '\0')
            return -1;
        *out = d;
        return 0;
    }
    return -1;
}

char *jsonx_print(const cJSON *item)
{
    if (!item)
        return NULL;
    char *s = cJSON_PrintUnformatted(item);
    if (!s) {
        fprintf(stderr, "llmtap: out of memory printing JSON\n");
        abort();
    }
    return s;
}

cJSON *jsonx_int64_node(int64_t v)
{
    if (v > -(1LL << 53) && v < (1LL << 53))
        return cJSON_CreateNumber((double)v);
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    return cJSON_CreateString(tmp);
}
