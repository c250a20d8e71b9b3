/*
 * genai_int: what the two halves of the genai module share (private):
 * genai.c maps spans, genai_msg.c owns the canonical message format. Small
 * cJSON helpers that abort on OOM (the daemon's memory policy) and lenient
 * readers of untrusted JSON.
 */
#ifndef COLLECTOR_GENAI_INT_H
#define COLLECTOR_GENAI_INT_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* cJSON construction: OOM aborts, as everywhere in the daemon. */
static inline cJSON *jcheck(cJSON *j)
{
    if (!j) {
        fprintf(stderr, "llmtap: out of memory building JSON\n");
        abort();
    }
    return j;
}

static inline cJSON *jobj(void)
{
    return jcheck(cJSON_CreateObject());
}

static inline cJSON *jarr(void)
{
    return jcheck(cJSON_CreateArray());
}

static inline cJSON *jstr(const char *s)
{
    return jcheck(cJSON_CreateString(s));
}

static inline cJSON *jdup(const cJSON *j)
{
    return jcheck(cJSON_Duplicate(j, 1));
}

static inline void jadd(cJSON *obj, const char *key, cJSON *item)
{
    if (!cJSON_AddItemToObject(obj, key, jcheck(item)))
        jcheck(NULL);
}

static inline void jpush(cJSON *arr, cJSON *item)
{
    if (!cJSON_AddItemToArray(arr, jcheck(item)))
        jcheck(NULL);
}

/* Member 'key' of 'obj', NULL when 'obj' is not an object. */
static inline const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static inline const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = member(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline int has_items(const cJSON *arr)
{
    return arr && arr->child;
}

/* Move every element of array 'from' to the end of array 'to'; frees 'from'. */
static inline void jappend_all(cJSON *to, cJSON *from)
{
    while (from && from->child)
        jpush(to, cJSON_DetachItemViaPointer(from, from->child));
    cJSON_Delete(from);
}

/* A choice wrapper {"index", "finish_reason", "message": {...}}. */
static inline int genai_is_wrapper(const cJSON *m)
{
    return cJSON_IsObject(member(m, "message")) && !member(m, "role") && !member(m, "content") &&
           !member(m, "parts");
}

/* Last element of an array (cJSON keeps it in child->prev). */
static inline cJSON *last_item(const cJSON *arr)
{
    return arr && arr->child ? arr->child->prev : NULL;
}

/* 'v' as a JSON value: a string holding JSON text (an object, an array or a
 * string literal) is parsed into '*owned', which the caller frees with
 * cJSON_Delete; anything else, plain text included, is returned as is
 * (borrowed from 'v'). Never fails. */
const cJSON *genai_as_json(const cJSON *v, cJSON **owned);

#endif
