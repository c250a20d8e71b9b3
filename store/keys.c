/*
 * keys: see keys.h. The keyring is a sorted array of (hash, project) for a
 * binary search; keys are few (tens), rebuilt whole on any change.
 */
#include "store/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/sha256.h"
#include "core/timeutil.h"
#include "core/xmem.h"

struct keyring_entry {
    char hash[2 * SHA256_LEN + 1];
    char *project;
};

struct keyring {
    struct keyring_entry *e;
    size_t n;
};

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int keys_create(sqlite3 *db, const char *project, const char *name, char *key, int64_t *id,
                char *err, size_t errlen)
{
    if (!project || !*project || strlen(project) > KEYS_PROJECT_MAX) {
        snprintf(err, errlen, "a key needs a project name of 1 to %d bytes", KEYS_PROJECT_MAX);
        return -1;
    }
    char hex[41], hash[2 * SHA256_LEN + 1];
    ids_random(20, hex);
    snprintf(key, KEYS_KEY_LEN + 1, "lt_%s", hex);
    sha256_hex(key, strlen(key), hash);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO ingest_keys(project, name, hash, prefix, created_ns)"
                           " VALUES (?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot store the key", err, errlen);
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    if (name && *name)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, key, 10, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, time_now_ns());
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, "cannot store the key", err, errlen);
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(db);
    return rc;
}

int keys_revoke(sqlite3 *db, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db, "UPDATE ingest_keys SET revoked_ns = ? WHERE id = ? AND revoked_ns IS NULL", -1,
            &st, NULL) != SQLITE_OK)
        return fail(db, "cannot revoke the key", err, errlen);
    sqlite3_bind_int64(st, 1, time_now_ns());
    sqlite3_bind_int64(st, 2, id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, "cannot revoke the key", err, errlen);
    sqlite3_finalize(st);
    return rc ? rc : sqlite3_changes(db) == 1 ? 0 : 1;
}

static char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

int keys_list(sqlite3 *db, struct keys_row **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, project, name, prefix, created_ns, revoked_ns"
                           " FROM ingest_keys ORDER BY id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot list keys", err, errlen);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct keys_row *r = &(*out)[(*n)++];
        r->id = sqlite3_column_int64(st, 0);
        r->project = col_str(st, 1);
        r->name = col_str(st, 2);
        r->prefix = col_str(st, 3);
        r->created_ns = sqlite3_column_int64(st, 4);
        r->revoked_ns = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        keys_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
        return fail(db, "cannot list keys", err, errlen);
    }
    return 0;
}

void keys_rows_free(struct keys_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].project);
        free(rows[i].name);
        free(rows[i].prefix);
    }
    free(rows);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct keyring_entry *)a)->hash, ((const struct keyring_entry *)b)->hash);
}

int keyring_load(sqlite3 *db, struct keyring **out, char *err, size_t errlen)
{
    struct keyring *k = xcalloc(1, sizeof(*k));
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT hash, project FROM ingest_keys WHERE revoked_ns IS NULL", -1,
                           &st, NULL) != SQLITE_OK) {
        keyring_free(k);
        return fail(db, "cannot load keys", err, errlen);
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        if (!h || strlen(h) != 2 * SHA256_LEN)
            continue;
        if (k->n == cap) {
            cap = cap ? cap * 2 : 8;
            k->e = xrealloc(k->e, cap * sizeof(*k->e));
        }
        memcpy(k->e[k->n].hash, h, sizeof(k->e[k->n].hash));
        k->e[k->n++].project = col_str(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        keyring_free(k);
        return fail(db, "cannot load keys", err, errlen);
    }
    if (k->n)
        qsort(k->e, k->n, sizeof(*k->e), entry_cmp);
    *out = k;
    return 0;
}

void keyring_free(struct keyring *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->e[i].project);
    free(k->e);
    free(k);
}

const char *keyring_project(const struct keyring *k, const char *key)
{
    if (!k || !key || strncmp(key, "lt_", 3) != 0 || strlen(key) != KEYS_KEY_LEN || !k->n)
        return NULL;
    struct keyring_entry want;
    sha256_hex(key, strlen(key), want.hash);
    const struct keyring_entry *e = bsearch(&want, k->e, k->n, sizeof(*k->e), entry_cmp);
    return e ? e->project : NULL;
}

size_t keyring_count(const struct keyring *k)
{
    return k ? k->n : 0;
}
