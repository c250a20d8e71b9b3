/*
 * prompts: the prompt registry (DESIGN.md §7, issue 6 item 1). A prompt is
 * a name with immutable integer versions from 1; a version's body is the
 * prompt file as compact JSON: {"messages": [{role, content (a Mustache
 * template)}...], "model": ..., "params": {...}}. Labels ("production",
 * "staging") are movable names for versions. Pushing a body equal to the
 * latest version makes no new version.
 *
 * Thread-safety: the writing functions on the writer's connection (in the
 * writer thread, or a process that holds the store alone); reads on any
 * connection.
 */
#ifndef STORE_PROMPTS_H
#define STORE_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define PROMPTS_NAME_MAX 128 /* names and labels: [A-Za-z0-9._-], at most this many bytes */

/* 1 when 's' is a valid prompt name or label. */
int prompts_valid_name(const char *s);

/* Check a prompt file ('len' bytes of JSON): an object with "messages", a
 * non-empty array of {"role": system|developer|user|assistant, "content":
 * a string}, optional "model" (a string), "params" (an object),
 * "description" (a string) and "scorers" (an array: the version's default
 * scorer specs, evaluator/scorer.h, used by replays), nothing else. On 0, *canonical is the compact
 * JSON to store (caller frees); -1 with a message naming what is wrong.
 * (The templates' Mustache syntax is the caller's to check.) */
#define PROMPTS_BODY_MAX (1u << 20)
int prompts_check_body(const char *json, size_t len, char **canonical, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writer: store 'body' (compact JSON, checked by the caller) as the next
 * version of 'name'. *version gets the new version, or the latest one when
 * it already holds this body (*created 0). Returns 0, or -1 with a message. */
int prompts_push(sqlite3 *db, const char *name, const char *body, int64_t *version, int *created,
                 char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writer: point 'label' of 'name' at 'version'. Returns 0, 1 when that
 * version does not exist, -1 with a message. */
int prompts_label(sqlite3 *db, const char *name, const char *label, int64_t version, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

struct prompt_version {
    char *name; /* owned */
    int64_t version;
    char *body;   /* owned compact JSON */
    char *labels; /* owned: the labels on this version, comma-separated ("" when none) */
    int64_t created_ns;
};
void prompt_version_release(struct prompt_version *v);

/* The version 'ref' of 'name': a number, a label, or NULL / "" / "latest"
 * for the newest. Returns 0 (*out filled), 1 when there is no such
 * version, -1 with a message. */
int prompts_get(sqlite3 *db, const char *name, const char *ref, struct prompt_version *out,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* Split "NAME@REF" (or "NAME") into 'name' and 'ref' buffers ('ref' ""
 * when none). Returns 0, or -1 when the name is not valid or too long. */
int prompts_split_ref(const char *arg, char *name, size_t nlen, char *ref, size_t rlen);

/* Each prompt, by name: its newest version, how many, and every label as
 * "label=version" comma-separated. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*prompts_list_fn)(void *ctx, const char *name, int64_t latest, int64_t versions,
                               const char *labels, int64_t updated_ns);
int prompts_list(sqlite3 *db, prompts_list_fn fn, void *ctx, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
