/*
 * vset: version_set strings (DESIGN.md §4). A version_set names everything
 * that shapes a call's output, as "key=value;key=value" with keys sorted.
 * Client-given sets are canonicalised; when a span has none, one is derived
 * from service.version, the model, the prompt name@version and a short hash
 * of the request params. Thread-safe.
 */
#ifndef CORE_VSET_H
#define CORE_VSET_H

#include "core/span.h"

#define VSET_MAX_LEN 1024

/* Canonical form of a client-given set: parts split on ';', trimmed, empty
 * parts dropped, sorted by key, duplicate keys last-wins. A part without '='
 * is kept as a bare token. Returns a new string (caller frees), or NULL when
 * nothing is left or the result would pass VSET_MAX_LEN. */
char *vset_canonical(const char *given);

/* Derived set for a span with none: "app=<service_version>;model=<model>;
 * params=<8 hex>;prompt=<name>@<version>", each part only when known.
 * Returns a new string (caller frees) or NULL when nothing is known. */
char *vset_derive(const struct span *s);

/* Short hash (8 hex chars + NUL into 'out') of a JSON object's canonical
 * form (keys sorted at every level), so {"a":1,"b":2} and {"b":2,"a":1}
 * hash the same. Returns 0, or -1 when 'json' does not parse. */
int vset_params_hash(const char *json, char out[9]);

#endif
