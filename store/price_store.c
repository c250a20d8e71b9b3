/*
 * price_store: the default table plus the imported sets (see price_store.h).
 */
#include "store/price_store.h"

#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"

int price_store_load(sqlite3 *db, struct price_table **out, char *err, size_t errlen)
{
    struct price_table *t = NULL;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (price_table_default(&t, err, errlen) != 0)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT source, json FROM price_sets ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot read price sets: %s", sqlite3_errmsg(db));
        goto fail;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *src = (const char *)sqlite3_column_text(st, 0);
        const char *json = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (price_table_add_json(t, json ? json : "", len, src ? src : "import", err, errlen) != 0)
            goto fail;
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read price sets: %s", sqlite3_errmsg(db));
        goto fail;
    }
    sqlite3_finalize(st);
    *out = t;
    return 0;
fail:
    sqlite3_finalize(st);
    price_table_free(t);
    return -1;
}

int price_store_add(sqlite3 *db, const char *source, const char *json, size_t len, char *err,
                    size_t errlen)
{
    struct price_table *check = NULL;
    if (price_table_new(&check) != 0 ||
        price_table_add_json(check, json, len, source, err, errlen) != 0) {
        price_table_free(check);
        return -1;
    }
    size_t models = price_table_count(check);
    price_table_free(check);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO price_sets(source, imported_ns, models, json)"
                                " VALUES(?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, time_now_ns());
        sqlite3_bind_int64(st, 3, (sqlite3_int64)models);
        sqlite3_bind_text(st, 4, json, (int)len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot store the price set: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}
