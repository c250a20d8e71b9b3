/*
 * prices: the model price table and the exact cost of a span (PROTOCOLS.md
 * §7, docs/PRICES.md). A table is a stack of layers: the embedded default
 * (fixtures/prices.json), then imports and custom files, each in our JSON
 * format. Prices are held as integer pico-USD per token; a cost is summed in
 * int64 pico-USD and rounded once to nano-USD. An unknown model, or a span
 * without usage, is unpriced: never a silent 0.
 * Lifecycle: price_table_new, one or more price_table_add_json, then share
 * the table read-only; reading functions are thread-safe, adding is not.
 */
#ifndef STORE_PRICES_H
#define STORE_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "core/span.h"

/* The default table, compiled in from fixtures/prices.json by the build
 * (tools/embed.sh); NUL-terminated, 'len' excludes the NUL. */
extern const char embedded_prices_json[];
extern const size_t embedded_prices_json_len;

/* Limits on what a layer may hold (untrusted input is checked against them). */
#define PRICE_MAX_JSON (64u << 20)       /* bytes of one layer */
#define PRICE_MAX_ENTRIES 100000         /* entries in a table */
#define PRICE_NAME_MAX 256               /* model names, ids, aliases (incl. NUL) */
#define PRICE_MAX_TOKENS 1000000000000LL /* a usage count above this is absurd */

struct price_table;

/* An empty table (no layers, count 0). Returns LT_OK; *out is freed with
 * price_table_free. */
int price_table_new(struct price_table **out) __attribute__((warn_unused_result));

/* Parse 'len' bytes of our price format and add them as a new layer labelled
 * 'source' ("default", "import:<file>", "custom"; copied). An entry with the
 * same id and effective date as an earlier one replaces it (keeping its
 * match, aliases and provider when the new one gives none); when several
 * entries match a span, the later layer wins. All or nothing: on error the
 * table is unchanged, LT_INVALID_INPUT is returned and 'err' (may be NULL)
 * says what and where ("models[3] (gpt-4o): usd_per_mtok: unknown key
 * 'cached'"). Returns LT_OK on success. Not thread-safe. */
int price_table_add_json(struct price_table *t, const char *json, size_t len, const char *source,
                         char *err, size_t errlen) __attribute__((warn_unused_result));

/* A new table holding the embedded default layer (source "default").
 * Returns LT_OK, or LT_INVALID_INPUT with 'err' if the embedded file is bad
 * (a build defect; *out is then NULL). */
int price_table_default(struct price_table **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Free the table and everything it owns; NULL is fine. */
void price_table_free(struct price_table *t);

/* "p-" and 8 hex digits: a stable hash of every layer's bytes in order, so it
 * changes whenever a layer is added and is equal for equal stacks. Stored with
 * each computed cost. Borrowed until the table is freed or changed. */
const char *price_table_version(const struct price_table *t);

/* Number of entries (each id + effective date counts once). */
size_t price_table_count(const struct price_table *t);

/* Convert LiteLLM's model_prices_and_context_window.json to our format.
 * On LT_OK '*ours' is a new JSON string (caller frees) holding one exact-name
 * entry per token-priced model (chat, completion, responses, embedding),
 * keyed by LiteLLM's name with the name minus its "provider/" prefix as an
 * alias; *converted counts them and *skipped counts the models left out (no
 * token prices, or another mode). "sample_spec" and the regex
 * "fallback_generalizations" are not models and are not counted. Returns
 * LT_INVALID_INPUT with 'err' when the text is not such a file. */
int price_litellm_convert(const char *json, size_t len, char **ours, size_t *converted,
                          size_t *skipped, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Cost of span 's' in nano-USD, from its response_model (else model), time
 * (start_ns; 0 means now), usage and service_tier. Returns 1 and sets *nusd
 * when priced; returns 0 and leaves *nusd untouched when unpriced (unknown
 * model, no price in effect at that time, no usage, a count above
 * PRICE_MAX_TOKENS, tokens of a kind the entry has no price for). 'matched'
 * (may be NULL) receives the id of the entry used, borrowed from the table,
 * or NULL when unpriced. Thread-safe. */
int price_cost(const struct price_table *t, const struct span *s, int64_t *nusd,
               const char **matched);

/* Ingest helper: when 's' has no client-given cost, compute it and set
 * has_cost, cost_nusd and price_version (the table version); an unpriced span
 * keeps has_cost false. Returns 1 when 's' now carries a cost. Thread-safe
 * for the table. */
int price_apply(const struct price_table *t, struct span *s);

/* The entries as a JSON array for `llmtap prices` (caller frees). With a
 * non-empty 'model_filter', only entries whose id or alias contains it
 * (ignoring case) or whose pattern matches it. Each element has id, source,
 * provider, effective, match, aliases, mode, usd_per_mtok, tiers and
 * service_tiers (absent keys omitted); prices print as exact decimals. */
char *price_table_list_json(const struct price_table *t, const char *model_filter);

#endif
