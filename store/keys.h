/*
 * keys: project ingest keys (DESIGN.md §10). A key is "lt_" and 40 random
 * hex digits, shown once when made; only its SHA-256 is stored (with its
 * first 10 characters, to tell keys apart in a list). A request that sends
 * one (LLMTap-Key) is attributed to the key's project; an unknown or revoked
 * key is refused (401). The server holds the live keys in a keyring, built
 * from the store and rebuilt when keys change.
 *
 * Thread-safety: keys_create / keys_revoke on the writer's connection (in
 * the writer thread); keys_list on any connection; a keyring is read-only
 * once built, so lookups are thread-safe.
 */
#ifndef STORE_KEYS_H
#define STORE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define KEYS_KEY_LEN 43 /* "lt_" + 40 hex */
#define KEYS_PROJECT_MAX 200

/* Writer: make a key for 'project' ('name' optional, a note). The key goes
 * into 'key' (KEYS_KEY_LEN + 1 bytes) and its id into *id. Returns 0, or -1
 * with a message. */
int keys_create(sqlite3 *db, const char *project, const char *name, char *key, int64_t *id,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writer: revoke key 'id' (kept, marked revoked). Returns 0, 1 when no live
 * key has that id, or -1 with a message. */
int keys_revoke(sqlite3 *db, int64_t id, char *err, size_t errlen)
    __attribute__((warn_unused_result));

struct keys_row {
    int64_t id;
    char *project, *name, *prefix;  /* owned */
    int64_t created_ns, revoked_ns; /* revoked_ns 0: live */
};

/* Every key, newest first (caller frees with keys_rows_free). 0 or -1. */
int keys_list(sqlite3 *db, struct keys_row **out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void keys_rows_free(struct keys_row *rows, size_t n);

/* The live keys, for lookups. Caller frees with keyring_free. 0 or -1. */
struct keyring;
int keyring_load(sqlite3 *db, struct keyring **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void keyring_free(struct keyring *k); /* accepts NULL */

/* The project of 'key' (borrowed from the keyring), or NULL when the key is
 * unknown or revoked. */
const char *keyring_project(const struct keyring *k, const char *key);

/* Number of live keys. */
size_t keyring_count(const struct keyring *k);

#endif
