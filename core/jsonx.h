/*
 * jsonx: helpers over cJSON for untrusted input. cJSON recurses while
 * parsing, printing and freeing, and CivetWeb worker stacks are ~100 KiB, so
 * every parse goes through jsonx_parse, which refuses nesting deeper than
 * JSONX_MAX_DEPTH before cJSON sees the text. cJSON keeps numbers as doubles:
 * 64-bit values (ns timestamps) are read from strings, or re-scanned from the
 * number's text where the sender used a bare number. Thread-safe.
 */
#ifndef CORE_JSONX_H
#define CORE_JSONX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define JSONX_MAX_DEPTH 64

/* Parse 'len' bytes of JSON. Returns the tree (caller frees with cJSON_Delete)
 * or NULL with a message naming the byte offset in 'err'. */
cJSON *jsonx_parse(const char *text, size_t len, char *err, size_t errlen);

/* Deepest nesting of objects/arrays in 'text' (strings skipped). */
int jsonx_depth(const char *text, size_t len);

/* Borrowed string value of member 'key', or NULL if absent or not a string. */
const char *jsonx_str(const cJSON *obj, const char *key);

/* Read an int64 that may be a JSON string ("1772460307123456000") or a number.
 * Returns 0 and sets *out, 1 when absent/null, -1 when present but not an
 * integer. */
int jsonx_int64(const cJSON *item, int64_t *out);
int jsonx_member_int64(const cJSON *obj, const char *key, int64_t *out);

/* Read a double from a number or a numeric string ("NaN", "Infinity" too).
 * Same returns as jsonx_int64. */
int jsonx_double(const cJSON *item, double *out);

/* Compact JSON text of 'item' (caller frees), or NULL for NULL. */
char *jsonx_print(const cJSON *item);

/* cJSON numbers print as %1.15g / %1.17g; for integers up to 2^53 this gives
 * exact integer text. Create a number node from an int64, as a string node
 * when it does not fit a double exactly. */
cJSON *jsonx_int64_node(int64_t v);

#endif
