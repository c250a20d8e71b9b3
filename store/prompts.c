/*
 * prompts: the registry's SQL (see prompts.h). Versions are numbered by
 * max + 1 inside the writer's transaction, so two pushes never share one.
 */
#include "store/prompts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int prompts_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PROMPTS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

int prompts_split_ref(const char *arg, char *name, size_t nlen, char *ref, size_t rlen)
{
    const char *at = strchr(arg, '@');
    size_t n = at ? (size_t)(at - arg) : strlen(arg);
    if (n == 0 || n >= nlen || (at && strlen(at + 1) >= rlen))
        return -1;
    memcpy(name, arg, n);
    name[n] = '\0';
    snprintf(ref, rlen, "%s", at ? at + 1 : "");
    return prompts_valid_name(name) && (!*ref || prompts_valid_name(ref)) ? 0 : -1;
}

static int bad_body(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "not a prompt file: %s", what);
    return -1;
}

static int check_messages(const cJSON *msgs, char *err, size_t errlen)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", NULL};
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad_body(err, errlen, "\"messages\" must be a non-empty array");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = cJSON_IsObject(m) ? jsonx_str(m, "role") : NULL;
        int known = 0;
        for (int r = 0; role && roles[r]; r++)
            known |= strcmp(role, roles[r]) == 0;
        if (!known || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "content"))) {
            snprintf(err, errlen,
                     "not a prompt file: messages[%d] wants a role (system, developer, user, "
                     "assistant) and a string content",
                     i);
            return -1;
        }
        i++;
    }
    return 0;
}

int prompts_check_body(const char *json, size_t len, char **canonical, char *err, size_t errlen)
{
    *canonical = NULL;
    if (len > PROMPTS_BODY_MAX)
        return bad_body(err, errlen, "larger than 1 MiB");
    char why[200];
    cJSON *j = jsonx_parse(json, len, why, sizeof(why));
    int rc = -1;
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen, "not a prompt file: %s", j ? "not a JSON object" : why);
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        const char *k = it->string;
        int ok = (!strcmp(k, "model") || !strcmp(k, "description")) ? cJSON_IsString(it)
                 : !strcmp(k, "params")                             ? cJSON_IsObject(it)
                 : !strcmp(k, "scorers")                            ? cJSON_IsArray(it)
                                                                    : !strcmp(k, "messages");
        if (!ok) {
            snprintf(err, errlen, "not a prompt file: unknown or mistyped key '%.60s'", k);
            goto done;
        }
    }
    if (check_messages(cJSON_GetObjectItemCaseSensitive(j, "messages"), err, errlen) != 0)
        goto done;
    *canonical = jsonx_print(j);
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

/* The newest version of 'name' and its body (*body NULL, *latest 0 when none). */
static int latest_of(sqlite3 *db, const char *name, int64_t *latest, char **body, char *err,
                     size_t errlen)
{
    sqlite3_stmt *st = NULL;
    *latest = 0;
    *body = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT version, body FROM prompts WHERE name = ?"
                           " ORDER BY version DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot read the prompt", err, errlen);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *latest = sqlite3_column_int64(st, 0);
        *body = xstrdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : fail(db, "cannot read the prompt", err, errlen);
}

int prompts_push(sqlite3 *db, const char *name, const char *body, int64_t *version, int *created,
                 char *err, size_t errlen)
{
    if (!prompts_valid_name(name)) {
        snprintf(err, errlen, "a prompt name is 1 to %d of A-Z a-z 0-9 . _ -", PROMPTS_NAME_MAX);
        return -1;
    }
    char *old = NULL;
    if (latest_of(db, name, version, &old, err, errlen) != 0)
        return -1;
    *created = !old || strcmp(old, body) != 0;
    free(old);
    if (!*created)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO prompts(name, version, body, created_ns) VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot store the prompt", err, errlen);
    *version += 1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, *version);
    sqlite3_bind_text(st, 3, body, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, time_now_ns());
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, "cannot store the prompt", err, errlen);
    sqlite3_finalize(st);
    return rc;
}

int prompts_label(sqlite3 *db, const char *name, const char *label, int64_t version, char *err,
                  size_t errlen)
{
    if (!prompts_valid_name(label) || strcmp(label, "latest") == 0 ||
        isdigit((unsigned char)label[0])) {
        snprintf(err, errlen, "a label is a name (A-Z a-z 0-9 . _ -, not a number, not 'latest')");
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "INSERT OR REPLACE INTO prompt_labels(name, label, version, set_ns)"
            " SELECT name, ?, version, ? FROM prompts WHERE name = ? AND version = ?",
            -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot set the label", err, errlen);
    sqlite3_bind_text(st, 1, label, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, time_now_ns());
    sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, version);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, "cannot set the label", err, errlen);
    sqlite3_finalize(st);
    return rc ? rc : sqlite3_changes(db) == 1 ? 0 : 1;
}

void prompt_version_release(struct prompt_version *v)
{
    free(v->name);
    free(v->body);
    free(v->labels);
    memset(v, 0, sizeof(*v));
}

/* Which version 'ref' names: a number as is, a label looked up, else the newest. */
static const char get_sql[] =
    "SELECT p.version, p.body, p.created_ns,"
    " (SELECT coalesce(group_concat(label, ','), '') FROM"
    "  (SELECT label FROM prompt_labels l WHERE l.name = p.name AND l.version = p.version"
    "   ORDER BY label))"
    " FROM prompts p WHERE p.name = ?1 AND p.version = CASE"
    "  WHEN ?2 = '' OR ?2 = 'latest' THEN (SELECT max(version) FROM prompts WHERE name = ?1)"
    "  WHEN ?2 GLOB '[0-9]*' AND ?2 NOT GLOB '*[^0-9]*' THEN CAST(?2 AS INTEGER)"
    "  ELSE (SELECT version FROM prompt_labels WHERE name = ?1 AND label = ?2) END";

int prompts_get(sqlite3 *db, const char *name, const char *ref, struct prompt_version *out,
                char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, get_sql, -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot read the prompt", err, errlen);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ref ? ref : "", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->name = xstrdup(name);
        out->version = sqlite3_column_int64(st, 0);
        out->body = xstrdup((const char *)sqlite3_column_text(st, 1));
        out->created_ns = sqlite3_column_int64(st, 2);
        out->labels = xstrdup((const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : fail(db, "cannot read the prompt", err, errlen);
}

int prompts_list(sqlite3 *db, prompts_list_fn fn, void *ctx, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT p.name, max(p.version), count(*), max(p.created_ns),"
            " (SELECT coalesce(group_concat(label || '=' || version, ','), '') FROM"
            "  (SELECT label, version FROM prompt_labels l WHERE l.name = p.name ORDER BY label))"
            " FROM prompts p GROUP BY p.name ORDER BY p.name",
            -1, &st, NULL) != SQLITE_OK)
        return fail(db, "cannot list prompts", err, errlen);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
               sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 4),
               sqlite3_column_int64(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(db, "cannot list prompts", err, errlen);
}
