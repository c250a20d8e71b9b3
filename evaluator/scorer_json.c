/*
 * scorer_json: JSON in an output (is-json, json-schema, equals as JSON) and
 * the json-schema subset (scorer_int.h). The subset: "type" (one name or an
 * array of them: string, number, integer, boolean, object, array, null),
 * "enum", "minimum"/"maximum", "minLength"/"maxLength" (UTF-8 code points),
 * "items", "minItems"/"maxItems", "required", "properties" and
 * "additionalProperties" (false, or a schema for the others). Any other
 * keyword ($schema, title, format, pattern, ...) is ignored. A schema is
 * checked once at parse time, so validation trusts its shape.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/jsonx.h"
#include "evaluator/scorer_int.h"

#define PATH_MAX_LEN 256

static const char *const type_names[] = {"string", "number", "integer", "boolean",
                                         "object", "array",  "null"};

/* ---- the output ----------------------------------------------------------- */

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Strip a ``` fence (with an info word such as "json") from [*b, *e). */
static void unfence(const char **b, const char **e)
{
    if (*e - *b < 3 || memcmp(*b, "```", 3) != 0)
        return;
    const char *p = *b + 3, *q = p;
    while (q < *e && isalnum((unsigned char)*q))
        q++;
    if (q == *e || isspace((unsigned char)*q))
        p = q; /* the info word */
    const char *end = *e;
    if (end - p >= 3 && memcmp(end - 3, "```", 3) == 0)
        end -= 3;
    *b = p;
    *e = end;
    trim(b, e);
}

cJSON *scorer_json_output(const char *text, char *err, size_t errlen)
{
    const char *b = text, *e = text + strlen(text);
    trim(&b, &e);
    unfence(&b, &e);
    if (b == e) {
        if (err && errlen)
            snprintf(err, errlen, "empty");
        return NULL;
    }
    return jsonx_parse(b, (size_t)(e - b), err, errlen);
}

/* ---- paths ---------------------------------------------------------------- */

/* Append a member name to 'path' (length 'len'): ".name", or ["na me"] when
 * it is not an identifier. Returns the new length. */
static size_t path_key(char *path, size_t len, const char *key)
{
    int ident = isalpha((unsigned char)key[0]) || key[0] == '_';
    for (const char *p = key; ident && *p; p++)
        ident = isalnum((unsigned char)*p) || *p == '_';
    char q[96];
    int n = ident ? snprintf(path + len, PATH_MAX_LEN - len, ".%s", key)
                  : snprintf(path + len, PATH_MAX_LEN - len, "[%s]",
                             scorer_quote(q, sizeof(q), key, strlen(key)));
    size_t add = n > 0 ? (size_t)n : 0;
    return len + add < PATH_MAX_LEN ? len + add : PATH_MAX_LEN - 1;
}

static size_t path_index(char *path, size_t len, size_t i)
{
    int n = snprintf(path + len, PATH_MAX_LEN - len, "[%zu]", i);
    size_t add = n > 0 ? (size_t)n : 0;
    return len + add < PATH_MAX_LEN ? len + add : PATH_MAX_LEN - 1;
}

/* ---- checking a schema ---------------------------------------------------- */

static int is_type_name(const cJSON *t)
{
    if (!cJSON_IsString(t))
        return 0;
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(t->valuestring, type_names[i]) == 0)
            return 1;
    return 0;
}

static int bad(char *err, size_t errlen, const char *path, const char *key, const char *what)
{
    snprintf(err, errlen, "%s.%s: %s", path, key, what);
    return -1;
}

static int check_type(const cJSON *t, const char *path, char *err, size_t errlen)
{
    if (cJSON_IsArray(t)) {
        if (!t->child)
            return bad(err, errlen, path, "type", "must not be an empty array");
        for (const cJSON *it = t->child; it; it = it->next)
            if (!is_type_name(it))
                return bad(err, errlen, path, "type", "unknown type name");
        return 0;
    }
    return is_type_name(t) ? 0 : bad(err, errlen, path, "type", "unknown type name");
}

static int check_count(const cJSON *s, const char *key, const char *path, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, key);
    if (it &&
        !(cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble == floor(it->valuedouble)))
        return bad(err, errlen, path, key, "must be a non-negative integer");
    return 0;
}

static int check_node(const cJSON *s, char *path, size_t len, int depth, char *err, size_t errlen);

static int check_props(const cJSON *props, char *path, size_t len, int depth, char *err,
                       size_t errlen)
{
    if (!cJSON_IsObject(props))
        return bad(err, errlen, path, "properties", "must be an object");
    size_t at = path_key(path, len, "properties");
    for (const cJSON *p = props->child; p; p = p->next) {
        size_t sub = path_key(path, at, p->string ? p->string : "");
        if (check_node(p, path, sub, depth + 1, err, errlen))
            return -1;
        path[at] = '\0';
    }
    path[len] = '\0';
    return 0;
}

static int check_shapes(const cJSON *s, const char *path, char *err, size_t errlen)
{
    static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (it && check_type(it, path, err, errlen))
        return -1;
    it = cJSON_GetObjectItemCaseSensitive(s, "required");
    if (it && !cJSON_IsArray(it))
        return bad(err, errlen, path, "required", "must be an array of strings");
    for (const cJSON *r = it ? it->child : NULL; r; r = r->next)
        if (!cJSON_IsString(r))
            return bad(err, errlen, path, "required", "must be an array of strings");
    it = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (it && !cJSON_IsArray(it))
        return bad(err, errlen, path, "enum", "must be an array");
    it = cJSON_GetObjectItemCaseSensitive(s, "minimum");
    if (it && !cJSON_IsNumber(it))
        return bad(err, errlen, path, "minimum", "must be a number");
    it = cJSON_GetObjectItemCaseSensitive(s, "maximum");
    if (it && !cJSON_IsNumber(it))
        return bad(err, errlen, path, "maximum", "must be a number");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (check_count(s, counts[i], path, err, errlen))
            return -1;
    return 0;
}

static int check_node(const cJSON *s, char *path, size_t len, int depth, char *err, size_t errlen)
{
    if (!cJSON_IsObject(s)) {
        snprintf(err, errlen, "%s: must be an object", path);
        return -1;
    }
    if (depth > SCORER_SCHEMA_MAX_DEPTH) {
        snprintf(err, errlen, "%s: nested deeper than %d", path, SCORER_SCHEMA_MAX_DEPTH);
        return -1;
    }
    if (check_shapes(s, path, err, errlen))
        return -1;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "properties");
    if (it && check_props(it, path, len, depth, err, errlen))
        return -1;
    it = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (it && check_node(it, path, path_key(path, len, "items"), depth + 1, err, errlen))
        return -1;
    path[len] = '\0';
    it = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    if (it && !cJSON_IsBool(it) &&
        check_node(it, path, path_key(path, len, "additionalProperties"), depth + 1, err, errlen))
        return -1;
    path[len] = '\0';
    return 0;
}

int scorer_schema_check(const cJSON *schema, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN] = "schema";
    return check_node(schema, path, strlen(path), 0, err, errlen);
}

/* ---- validating ----------------------------------------------------------- */

static int type_is(const char *name, const cJSON *v)
{
    if (strcmp(name, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(name, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(name, "integer") == 0)
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
               v->valuedouble == floor(v->valuedouble);
    if (strcmp(name, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(name, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(name, "array") == 0)
        return cJSON_IsArray(v);
    return cJSON_IsNull(v);
}

static int fail_at(char *why, size_t whylen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(char *why, size_t whylen, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(why, whylen, "%s: ", path);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < whylen)
        vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int validate_type(const cJSON *t, const cJSON *v, const char *path, char *why, size_t whylen)
{
    char names[128] = "";
    if (cJSON_IsString(t)) {
        if (type_is(t->valuestring, v))
            return 0;
        return fail_at(why, whylen, path, "expected %s", t->valuestring);
    }
    for (const cJSON *it = t->child; it; it = it->next) {
        if (type_is(it->valuestring, v))
            return 0;
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%s", len ? " or " : "", it->valuestring);
    }
    return fail_at(why, whylen, path, "expected %s", names);
}

static int validate_scalar(const cJSON *s, const cJSON *v, const char *path, char *why,
                           size_t whylen)
{
    const cJSON *it;
    if (cJSON_IsNumber(v)) {
        it = cJSON_GetObjectItemCaseSensitive(s, "minimum");
        if (it && v->valuedouble < it->valuedouble)
            return fail_at(why, whylen, path, "%.17g < minimum %.17g", v->valuedouble,
                           it->valuedouble);
        it = cJSON_GetObjectItemCaseSensitive(s, "maximum");
        if (it && v->valuedouble > it->valuedouble)
            return fail_at(why, whylen, path, "%.17g > maximum %.17g", v->valuedouble,
                           it->valuedouble);
    }
    if (cJSON_IsString(v)) {
        double n = (double)scorer_utf8_len(v->valuestring);
        it = cJSON_GetObjectItemCaseSensitive(s, "minLength");
        if (it && n < it->valuedouble)
            return fail_at(why, whylen, path, "length %.0f < minLength %.0f", n, it->valuedouble);
        it = cJSON_GetObjectItemCaseSensitive(s, "maxLength");
        if (it && n > it->valuedouble)
            return fail_at(why, whylen, path, "length %.0f > maxLength %.0f", n, it->valuedouble);
    }
    return 0;
}

static int validate_node(const cJSON *s, const cJSON *v, char *path, size_t len, char *why,
                         size_t whylen);

static int validate_array(const cJSON *s, const cJSON *v, char *path, size_t len, char *why,
                          size_t whylen)
{
    double n = (double)cJSON_GetArraySize(v);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "minItems");
    if (it && n < it->valuedouble)
        return fail_at(why, whylen, path, "%.0f items < minItems %.0f", n, it->valuedouble);
    it = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
    if (it && n > it->valuedouble)
        return fail_at(why, whylen, path, "%.0f items > maxItems %.0f", n, it->valuedouble);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    size_t i = 0;
    for (const cJSON *e = items ? v->child : NULL; e; e = e->next, i++) {
        if (validate_node(items, e, path, path_index(path, len, i), why, whylen))
            return -1;
        path[len] = '\0';
    }
    return 0;
}

static int validate_object(const cJSON *s, const cJSON *v, char *path, size_t len, char *why,
                           size_t whylen)
{
    char q[96];
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
        if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
            return fail_at(why, whylen, path, "missing required property %s",
                           scorer_quote(q, sizeof(q), r->valuestring, strlen(r->valuestring)));
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    for (const cJSON *m = v->child; m; m = m->next) {
        const char *k = m->string ? m->string : "";
        const cJSON *sub = props ? cJSON_GetObjectItemCaseSensitive(props, k) : NULL;
        if (!sub && cJSON_IsFalse(extra))
            return fail_at(why, whylen, path, "unexpected property %s",
                           scorer_quote(q, sizeof(q), k, strlen(k)));
        if (!sub && cJSON_IsObject(extra))
            sub = extra;
        if (sub && validate_node(sub, m, path, path_key(path, len, k), why, whylen))
            return -1;
        path[len] = '\0';
    }
    return 0;
}

static int validate_node(const cJSON *s, const cJSON *v, char *path, size_t len, char *why,
                         size_t whylen)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (t && validate_type(t, v, path, why, whylen))
        return -1;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (en) {
        const cJSON *e = en->child;
        while (e && !cJSON_Compare(e, v, 1))
            e = e->next;
        if (!e)
            return fail_at(why, whylen, path, "not one of the enum values");
    }
    if (validate_scalar(s, v, path, why, whylen))
        return -1;
    if (cJSON_IsArray(v))
        return validate_array(s, v, path, len, why, whylen);
    if (cJSON_IsObject(v))
        return validate_object(s, v, path, len, why, whylen);
    return 0;
}

int scorer_schema_validate(const cJSON *schema, const cJSON *v, char *why, size_t whylen)
{
    char path[PATH_MAX_LEN] = "$";
    return validate_node(schema, v, path, 1, why, whylen);
}
