/*
 * price_store: price sets kept in the database. The default table is
 * embedded in the binary; every `llmtap prices import` adds a set (in
 * llmtap's own price format) to the price_sets table; the table in force is
 * the default overlaid by every set, oldest first, so later imports win.
 * Functions take the connection to use (the writer's for writes, any for
 * loads). Thread-safety: that of the connection.
 */
#ifndef STORE_PRICE_STORE_H
#define STORE_PRICE_STORE_H

#include <stddef.h>

#include <sqlite3.h>

#include "store/prices.h"

/* Build the table in force. Returns 0 and *out (caller frees with
 * price_table_free), or -1 with a message. */
int price_store_load(sqlite3 *db, struct price_table **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Validate 'json' (llmtap price format) and record it as a new set labelled
 * 'source'. Returns 0, or -1 with a message (nothing written). */
int price_store_add(sqlite3 *db, const char *source, const char *json, size_t len, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

#endif
