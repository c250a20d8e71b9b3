/*
 * evals: the evaluator's tables (schema v16; see evals.h). A saved run is
 * three kinds of rows that always change together: eval_runs (one, the
 * headline figures and the report without its cases), eval_run_variants
 * (one per variant, its prompt split into name and version so the trend
 * can find it) and eval_cases (one per case, the whole case object).
 * Saving a run_id again replaces all three inside one savepoint, so a
 * reader never sees half a run; the caller's transaction (the writer's)
 * makes it durable.
 *
 * Operations are checked whole before anything is written: a bad document
 * writes nothing and answers 1 with the JSON path of what is wrong.
 */
#include "store/evals.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/prompts.h"
#include "store/replays.h"
#include "store/sqlx.h"

#define RUN_ID_LEN 16
#define TEXT_MAX 1024       /* suite, variant, model, upstream, project, case id: bytes */
#define MAX_VARIANTS 8      /* evaluator/eval.h EVAL_MAX_VARIANTS */
#define MAX_CASES 100000    /* EVAL_MAX_CASES */
#define MAX_REPEATS 100     /* EVAL_MAX_REPEATS */
#define MAX_SCORERS 64      /* EVAL_MAX_SCORERS */
#define MAX_CACHE_PUT 10000 /* entries in one cache_put */
#define KEY_HEX 64          /* a cache key: SHA-256 as hex */

/* ---- small helpers ------------------------------------------------------- */

/* What a failed savepoint reports before SQLite's reason. */
#define NOT_STORED "cannot store the evaluation"

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A refused operation: the message, and 1 (the caller answers 400). */
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

/* The answer buf is full: -1 (the caller's ceiling is a server fault). */
static int no_room(char *err, size_t errlen)
{
    snprintf(err, errlen, "the answer does not fit its buffer");
    return -1;
}

static int is_lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

static int hex_val(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* 64 hex digits (either case) into 32 bytes; -1 when 's' is not that. */
static int key_from_hex(const char *s, uint8_t key[32])
{
    if (!s || strlen(s) != KEY_HEX)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Member 'key' of 'obj': a string of 1 to TEXT_MAX bytes into *out; when
 * 'optional', absent or null gives NULL. 0, or 1 with a message. */
static int get_text(const cJSON *obj, const char *key, int optional, const char **out,
                    const char *where, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (optional && (!it || cJSON_IsNull(it)))
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > TEXT_MAX)
        return bad(err, errlen, "%s.%s: want a string of 1 to %d bytes%s", where, key, TEXT_MAX,
                   optional ? " (or null)" : "");
    *out = it->valuestring;
    return 0;
}

/* Member 'key': a number, or null / absent (NAN). 0, or 1 with a message. */
static int get_num(const cJSON *obj, const char *key, double *out, const char *where, char *err,
                   size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NAN;
    if (!it || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return bad(err, errlen, "%s.%s: want a number or null", where, key);
    *out = it->valuedouble;
    return 0;
}

/* Member 'key': an integer in [lo, hi]. 0, or 1 with a message. */
static int get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   const char *where, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || jsonx_int64(it, out) != 0 || *out < lo || *out > hi)
        return bad(err, errlen, "%s.%s: want an integer from %lld to %lld", where, key,
                   (long long)lo, (long long)hi);
    return 0;
}

/* Member 'key': an ISO 8601 time string into *ns. */
static int get_time(const cJSON *obj, const char *key, int64_t *ns, const char *where, char *err,
                    size_t errlen)
{
    const char *s = jsonx_str(obj, key);
    if (!s || time_parse_iso(s, ns) != 0)
        return bad(err, errlen, "%s.%s: want an RFC 3339 time (\"2026-03-02T14:05:07.120Z\")",
                   where, key);
    return 0;
}

/* 1 when every member of 'obj' is one of 'keys' (NULL-terminated); else
 * *unknown names the first stranger. */
static int only_keys(const cJSON *obj, const char *const *keys, const char **unknown)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int known = 0;
        for (size_t k = 0; keys[k] && !known; k++)
            known = strcmp(it->string, keys[k]) == 0;
        if (!known) {
            *unknown = it->string;
            return 0;
        }
    }
    return 1;
}

/* ---- save_run: checking the report --------------------------------------- */

/* What the rows need from a checked report (every pointer borrowed from it). */
struct run_doc {
    const char *run_id, *suite, *verdict;
    int64_t started_ns, finished_ns, repeats;
    int interrupted, nvariants, ncases, nscorers;
    const cJSON *variants, *cases;
    double score[MAX_VARIANTS];
    double diff, diff_lo, diff_hi;
    int has_cmp;
    int64_t wins, ties, losses;
    double cost_usd;
};

static int check_head(const cJSON *rep, struct run_doc *d, char *err, size_t errlen)
{
    const char *w = "report";
    d->run_id = jsonx_str(rep, "run_id");
    if (!is_lower_hex(d->run_id, RUN_ID_LEN))
        return bad(err, errlen, "report.run_id: want 16 lowercase hex digits");
    if (get_text(rep, "suite", 0, &d->suite, w, err, errlen) ||
        get_time(rep, "started", &d->started_ns, w, err, errlen) ||
        get_time(rep, "finished", &d->finished_ns, w, err, errlen) ||
        get_int(rep, "repeats", 1, MAX_REPEATS, &d->repeats, w, err, errlen))
        return 1;
    if (d->finished_ns < d->started_ns)
        return bad(err, errlen, "report.finished: before report.started");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rep, "interrupted");
    if (!cJSON_IsBool(it))
        return bad(err, errlen, "report.interrupted: want true or false");
    d->interrupted = cJSON_IsTrue(it);
    d->verdict = jsonx_str(rep, "verdict");
    if (!d->verdict || (strcmp(d->verdict, "pass") != 0 && strcmp(d->verdict, "regression") != 0))
        return bad(err, errlen, "report.verdict: want \"pass\" or \"regression\"");
    it = cJSON_GetObjectItemCaseSensitive(rep, "reason");
    if (it && !cJSON_IsString(it) && !cJSON_IsNull(it))
        return bad(err, errlen, "report.reason: want a string");
    it = cJSON_GetObjectItemCaseSensitive(rep, "gate");
    if (it && !cJSON_IsObject(it) && !cJSON_IsNull(it))
        return bad(err, errlen, "report.gate: want an object");
    it = cJSON_GetObjectItemCaseSensitive(rep, "scorers");
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > MAX_SCORERS)
        return bad(err, errlen, "report.scorers: want an array of at most %d scorers", MAX_SCORERS);
    d->nscorers = cJSON_GetArraySize(it);
    const cJSON *s;
    int i = 0;
    cJSON_ArrayForEach(s, it)
    {
        const char *name;
        char where[48];
        snprintf(where, sizeof(where), "report.scorers[%d]", i++);
        if (!cJSON_IsObject(s))
            return bad(err, errlen, "%s: want an object", where);
        if (get_text(s, "name", 0, &name, where, err, errlen))
            return 1;
    }
    return 0;
}

static int check_variant(const cJSON *v, int i, struct run_doc *d, char *err, size_t errlen)
{
    char where[48];
    const char *name, *text;
    double cost;
    snprintf(where, sizeof(where), "report.variants[%d]", i);
    if (!cJSON_IsObject(v))
        return bad(err, errlen, "%s: want an object", where);
    if (get_text(v, "name", 0, &name, where, err, errlen) ||
        get_text(v, "prompt", 1, &text, where, err, errlen) ||
        get_text(v, "model", 1, &text, where, err, errlen) ||
        get_text(v, "upstream", 1, &text, where, err, errlen) ||
        get_num(v, "cost_usd", &cost, where, err, errlen))
        return 1;
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(v, "score");
    char swhere[64];
    snprintf(swhere, sizeof(swhere), "%s.score", where);
    if (!cJSON_IsObject(score))
        return bad(err, errlen, "%s: want an object {\"mean\",\"lo\",\"hi\",...}", swhere);
    double lo, hi;
    if (get_num(score, "mean", &d->score[i], swhere, err, errlen) ||
        get_num(score, "lo", &lo, swhere, err, errlen) ||
        get_num(score, "hi", &hi, swhere, err, errlen))
        return 1;
    if (!isnan(cost))
        d->cost_usd += cost;
    return 0;
}

static int check_variants(const cJSON *rep, struct run_doc *d, char *err, size_t errlen)
{
    d->variants = cJSON_GetObjectItemCaseSensitive(rep, "variants");
    int n = cJSON_IsArray(d->variants) ? cJSON_GetArraySize(d->variants) : 0;
    if (n < 1 || n > MAX_VARIANTS)
        return bad(err, errlen, "report.variants: want an array of 1 to %d variants", MAX_VARIANTS);
    d->nvariants = n;
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, d->variants)
    {
        if (check_variant(v, i++, d, err, errlen))
            return 1;
    }
    return 0;
}

static int check_comparison(const cJSON *rep, struct run_doc *d, char *err, size_t errlen)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(rep, "comparison");
    d->diff = d->diff_lo = d->diff_hi = NAN;
    if (!c || cJSON_IsNull(c))
        return 0;
    if (!cJSON_IsObject(c))
        return bad(err, errlen, "report.comparison: want an object or null");
    if (d->nvariants < 2)
        return bad(err, errlen, "report.comparison: a run of one variant compares nothing");
    const cJSON *diff = cJSON_GetObjectItemCaseSensitive(c, "diff");
    if (!cJSON_IsObject(diff))
        return bad(err, errlen, "report.comparison.diff: want an object {\"mean\",\"lo\",\"hi\"}");
    const char *w = "report.comparison";
    if (get_num(diff, "mean", &d->diff, "report.comparison.diff", err, errlen) ||
        get_num(diff, "lo", &d->diff_lo, "report.comparison.diff", err, errlen) ||
        get_num(diff, "hi", &d->diff_hi, "report.comparison.diff", err, errlen) ||
        get_int(c, "wins", 0, MAX_CASES, &d->wins, w, err, errlen) ||
        get_int(c, "ties", 0, MAX_CASES, &d->ties, w, err, errlen) ||
        get_int(c, "losses", 0, MAX_CASES, &d->losses, w, err, errlen))
        return 1;
    d->has_cmp = 1;
    return 0;
}

/* One output of a case: an object with "ok" and one score per scorer. */
static int check_output(const cJSON *o, const char *where, const struct run_doc *d, char *err,
                        size_t errlen)
{
    if (!cJSON_IsObject(o) || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "ok")))
        return bad(err, errlen, "%s: want an object with \"ok\": true or false", where);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
    if (t && !cJSON_IsString(t) && !cJSON_IsNull(t))
        return bad(err, errlen, "%s.text: want a string or null", where);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scores");
    if (!cJSON_IsArray(sc) || cJSON_GetArraySize(sc) != d->nscorers)
        return bad(err, errlen, "%s.scores: want one score per scorer (%d)", where, d->nscorers);
    const cJSON *s;
    cJSON_ArrayForEach(s, sc)
    {
        if (!cJSON_IsObject(s))
            return bad(err, errlen, "%s.scores: want objects {\"value\",\"pass\",...}", where);
    }
    return 0;
}

static int check_case(const cJSON *c, int i, const struct run_doc *d, char *err, size_t errlen)
{
    char where[64];
    const char *id;
    snprintf(where, sizeof(where), "report.cases[%d]", i);
    if (!cJSON_IsObject(c))
        return bad(err, errlen, "%s: want an object", where);
    if (get_text(c, "id", 0, &id, where, err, errlen))
        return 1;
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c, "vars")))
        return bad(err, errlen, "%s.vars: want an object", where);
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(c, "scores");
    if (!cJSON_IsArray(scores) || cJSON_GetArraySize(scores) != d->nvariants)
        return bad(err, errlen, "%s.scores: want one number (or null) per variant (%d)", where,
                   d->nvariants);
    const cJSON *s;
    cJSON_ArrayForEach(s, scores)
    {
        if (!cJSON_IsNull(s) && !(cJSON_IsNumber(s) && isfinite(s->valuedouble)))
            return bad(err, errlen, "%s.scores: want numbers or null", where);
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(c, "outputs");
    if (!cJSON_IsArray(outs) || cJSON_GetArraySize(outs) != d->nvariants)
        return bad(err, errlen, "%s.outputs: want one array per variant (%d)", where, d->nvariants);
    int v = 0;
    const cJSON *per;
    cJSON_ArrayForEach(per, outs)
    {
        char ow[96];
        if (!cJSON_IsArray(per) || cJSON_GetArraySize(per) != d->repeats)
            return bad(err, errlen, "%s.outputs[%d]: want one output per repeat (%lld)", where, v,
                       (long long)d->repeats);
        int r = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, per)
        {
            snprintf(ow, sizeof(ow), "%s.outputs[%d][%d]", where, v, r++);
            if (check_output(o, ow, d, err, errlen))
                return 1;
        }
        v++;
    }
    return 0;
}

static int check_cases(const cJSON *rep, struct run_doc *d, char *err, size_t errlen)
{
    d->cases = cJSON_GetObjectItemCaseSensitive(rep, "cases");
    if (!cJSON_IsArray(d->cases) || cJSON_GetArraySize(d->cases) > MAX_CASES)
        return bad(err, errlen, "report.cases: want an array of at most %d cases", MAX_CASES);
    d->ncases = cJSON_GetArraySize(d->cases);
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, d->cases)
    {
        if (check_case(c, i++, d, err, errlen))
            return 1;
    }
    return 0;
}

static int check_report(const cJSON *rep, struct run_doc *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    if (!cJSON_IsObject(rep))
        return bad(err, errlen, "save_run: want \"report\": the JSON report of a run");
    return check_head(rep, d, err, errlen) || check_variants(rep, d, err, errlen) ||
                   check_comparison(rep, d, err, errlen) || check_cases(rep, d, err, errlen)
               ? 1
               : 0;
}

/* ---- save_run: the rows -------------------------------------------------- */

/* The report without its cases, compact (caller frees). The members are
 * referenced, not copied: a report may hold 100,000 cases. */
static char *summary_of(const cJSON *rep)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, rep)
    {
        if (strcmp(it->string, "cases") != 0)
            cJSON_AddItemReferenceToObject(o, it->string, (cJSON *)it);
    }
    char *s = jsonx_print(o);
    cJSON_Delete(o);
    return s;
}

static int delete_run(sqlite3 *db, const char *run_id, int *replaced)
{
    static const char *const sql[] = {"DELETE FROM eval_cases WHERE run_id = ?",
                                      "DELETE FROM eval_run_variants WHERE run_id = ?",
                                      "DELETE FROM eval_runs WHERE run_id = ?"};
    *replaced = 0;
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        sqlite3_stmt *st = NULL;
        if (sqlx_prep(db, sql[i], &st) != 0)
            return -1;
        int rc = sqlx_bind_text(st, 1, run_id) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!rc)
            return -1;
        *replaced = sqlite3_changes(db) > 0;
    }
    return 0;
}

static const char run_insert_sql[] =
    "INSERT INTO eval_runs(run_id, suite, started_ns, finished_ns, verdict, interrupted,"
    " baseline, candidate, baseline_score, candidate_score, diff, diff_lo, diff_hi, ncases,"
    " repeats, nvariants, wins, ties, losses, cost_usd, summary)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)";

static int insert_run(sqlite3 *db, const cJSON *rep, const struct run_doc *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, run_insert_sql, &st) != 0)
        return -1;
    const cJSON *v0 = cJSON_GetArrayItem(d->variants, 0);
    const cJSON *v1 = d->nvariants > 1 ? cJSON_GetArrayItem(d->variants, 1) : NULL;
    char *summary = summary_of(rep);
    int rc = sqlx_bind_text(st, 1, d->run_id) | sqlx_bind_text(st, 2, d->suite) |
             sqlite3_bind_int64(st, 3, d->started_ns) | sqlite3_bind_int64(st, 4, d->finished_ns) |
             sqlx_bind_text(st, 5, d->verdict) | sqlite3_bind_int(st, 6, d->interrupted) |
             sqlx_bind_text(st, 7, jsonx_str(v0, "prompt")) |
             sqlx_bind_text(st, 8, v1 ? jsonx_str(v1, "prompt") : NULL) |
             sqlx_bind_real(st, 9, d->score[0]) | sqlx_bind_real(st, 10, v1 ? d->score[1] : NAN) |
             sqlx_bind_real(st, 11, d->diff) | sqlx_bind_real(st, 12, d->diff_lo) |
             sqlx_bind_real(st, 13, d->diff_hi) | sqlite3_bind_int64(st, 14, d->ncases) |
             sqlite3_bind_int64(st, 15, d->repeats) | sqlite3_bind_int64(st, 16, d->nvariants);
    for (int k = 0; k < 3; k++) {
        int64_t n = k == 0 ? d->wins : k == 1 ? d->ties : d->losses;
        rc |= d->has_cmp ? sqlite3_bind_int64(st, 17 + k, n) : sqlite3_bind_null(st, 17 + k);
    }
    rc |= sqlite3_bind_double(st, 20, d->cost_usd) | sqlx_bind_text(st, 21, summary);
    int ok = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    free(summary);
    return ok ? 0 : -1;
}

/* A variant's prompt "name@version" as (name, version); a file path or a
 * label leaves what it cannot say NULL / -1. */
static void split_prompt(const char *prompt, char *name, size_t nlen, int64_t *version)
{
    char ref[PROMPTS_NAME_MAX + 1];
    name[0] = '\0';
    *version = -1;
    if (!prompt || prompts_split_ref(prompt, name, nlen, ref, sizeof(ref)) != 0) {
        name[0] = '\0';
        return;
    }
    char *end;
    long long v = ref[0] ? strtoll(ref, &end, 10) : 0;
    if (ref[0] && *end == '\0' && v >= 1)
        *version = v;
}

static int insert_variants(sqlite3 *db, const struct run_doc *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "INSERT INTO eval_run_variants(run_id, idx, name, prompt_name, prompt_version,"
                  " model, upstream, score) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                  &st) != 0)
        return -1;
    int ok = 1, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, d->variants)
    {
        char pname[PROMPTS_NAME_MAX + 1];
        int64_t pver;
        split_prompt(jsonx_str(v, "prompt"), pname, sizeof(pname), &pver);
        int rc = sqlite3_reset(st) | sqlx_bind_text(st, 1, d->run_id) | sqlite3_bind_int(st, 2, i) |
                 sqlx_bind_text(st, 3, jsonx_str(v, "name")) |
                 sqlx_bind_text(st, 4, pname[0] ? pname : NULL) |
                 (pver > 0 ? sqlite3_bind_int64(st, 5, pver) : sqlite3_bind_null(st, 5)) |
                 sqlx_bind_text(st, 6, jsonx_str(v, "model")) |
                 sqlx_bind_text(st, 7, jsonx_str(v, "upstream")) |
                 sqlx_bind_real(st, 8, d->score[i]);
        if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
            ok = 0;
            break;
        }
        i++;
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

/* The case's delta: candidate's score - baseline's, NAN without both. */
static double case_delta(const cJSON *c, int nvariants)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "scores");
    const cJSON *a = cJSON_GetArrayItem(s, 0), *b = cJSON_GetArrayItem(s, 1);
    if (nvariants < 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
        return NAN;
    return b->valuedouble - a->valuedouble;
}

static int insert_cases(sqlite3 *db, const struct run_doc *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(
            db, "INSERT INTO eval_cases(run_id, idx, case_id, delta, body) VALUES (?1,?2,?3,?4,?5)",
            &st) != 0)
        return -1;
    int ok = 1, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, d->cases)
    {
        char *body = jsonx_print(c);
        int rc = sqlite3_reset(st) | sqlx_bind_text(st, 1, d->run_id) | sqlite3_bind_int(st, 2, i) |
                 sqlx_bind_text(st, 3, jsonx_str(c, "id")) |
                 sqlx_bind_real(st, 4, case_delta(c, d->nvariants)) | sqlx_bind_text(st, 5, body);
        ok = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
        free(body);
        if (!ok)
            break;
        i++;
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

struct save_job {
    const cJSON *rep;
    const struct run_doc *d;
    int replaced;
};

static int save_rows(sqlite3 *db, void *arg)
{
    struct save_job *j = arg;
    return delete_run(db, j->d->run_id, &j->replaced) || insert_run(db, j->rep, j->d) ||
                   insert_variants(db, j->d) || insert_cases(db, j->d)
               ? -1
               : 0;
}

static int op_save_run(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(op, "report");
    struct run_doc *d = xcalloc(1, sizeof(*d));
    int rc = check_report(rep, d, err, errlen);
    if (rc == 0) {
        struct save_job j = {rep, d, 0};
        rc = sqlx_savepoint(db, "evals_save_run", save_rows, &j, NOT_STORED, err, errlen);
        if (rc == 0 && buf_printf(answer,
                                  "{\"ok\":true,\"run_id\":\"%s\",\"cases\":%d,"
                                  "\"replaced\":%s}",
                                  d->run_id, d->ncases, j.replaced ? "true" : "false") != BUF_OK)
            rc = no_room(err, errlen);
    }
    free(d);
    return rc;
}

/* ---- cache_put ----------------------------------------------------------- */

static int check_entry(const cJSON *e, int i, char *err, size_t errlen)
{
    static const char *const keys[] = {"key", "status", "body", "latency_ms", NULL};
    char where[48];
    const char *unknown = NULL;
    uint8_t key[32];
    int64_t status;
    snprintf(where, sizeof(where), "cache_put: entries[%d]", i);
    if (!cJSON_IsObject(e))
        return bad(err, errlen, "%s: want an object {\"key\",\"status\",\"body\"}", where);
    if (!only_keys(e, keys, &unknown))
        return bad(err, errlen, "%s: unknown key '%.60s'", where, unknown);
    if (key_from_hex(jsonx_str(e, "key"), key) != 0)
        return bad(err, errlen, "%s.key: want 64 hex digits (a SHA-256)", where);
    if (get_int(e, "status", 100, 599, &status, where, err, errlen))
        return 1;
    const char *body = jsonx_str(e, "body");
    if (!body)
        return bad(err, errlen, "%s.body: want a string", where);
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(e, "latency_ms");
    if (lat && (!cJSON_IsNumber(lat) || !(lat->valuedouble >= 0)))
        return bad(err, errlen, "%s.latency_ms: want a number >= 0", where);
    if (strlen(body) > EVALS_CACHE_BODY_MAX)
        return bad(err, errlen, "%s.body: larger than %u bytes, not kept", where,
                   EVALS_CACHE_BODY_MAX);
    return 0;
}

static int cache_rows(sqlite3 *db, void *arg)
{
    const cJSON *entries = arg;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "INSERT OR REPLACE INTO eval_cache(key, status, body, created_ns, latency_ms)"
                  " VALUES (?1,?2,?3,?4,?5)",
                  &st) != 0)
        return -1;
    int64_t now = time_now_ns();
    int ok = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        uint8_t key[32];
        const char *body = jsonx_str(e, "body");
        (void)key_from_hex(jsonx_str(e, "key"), key); /* checked before */
        int rc = sqlite3_reset(st) | sqlite3_bind_blob(st, 1, key, 32, SQLITE_TRANSIENT) |
                 sqlite3_bind_int(st, 2,
                                  (int)cJSON_GetObjectItemCaseSensitive(e, "status")->valuedouble) |
                 sqlite3_bind_blob(st, 3, body, (int)strlen(body), SQLITE_STATIC) |
                 sqlite3_bind_int64(st, 4, now);
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(e, "latency_ms");
        rc |= lat ? sqlite3_bind_double(st, 5, lat->valuedouble) : sqlite3_bind_null(st, 5);
        if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
            ok = 0;
            break;
        }
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

static int op_cache_put(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(op, "entries");
    int n = cJSON_IsArray(entries) ? cJSON_GetArraySize(entries) : -1;
    if (n < 0 || n > MAX_CACHE_PUT)
        return bad(err, errlen, "cache_put: want \"entries\": an array of at most %d answers",
                   MAX_CACHE_PUT);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        if (check_entry(e, i++, err, errlen))
            return 1;
    }
    if (n > 0 &&
        sqlx_savepoint(db, "evals_cache_put", cache_rows, (void *)entries, NOT_STORED, err, errlen))
        return -1;
    if (buf_printf(answer, "{\"ok\":true,\"stored\":%d}", n) != BUF_OK)
        return no_room(err, errlen);
    return 0;
}

/* ---- online rules -------------------------------------------------------- */

struct rule_doc {
    const char *name, *project, *upstream, *model;
    char prompt_name[PROMPTS_NAME_MAX + 1];
    int64_t prompt_version;
    double sample;
    char *scorers; /* owned compact JSON */
};

static int check_rule_prompt(const cJSON *rule, struct rule_doc *d, char *err, size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(rule, "prompt");
    char ref[PROMPTS_NAME_MAX + 1];
    d->prompt_name[0] = '\0';
    d->prompt_version = -1;
    if (!p || cJSON_IsNull(p))
        return 0;
    if (!cJSON_IsString(p) || prompts_split_ref(p->valuestring, d->prompt_name,
                                                sizeof(d->prompt_name), ref, sizeof(ref)) != 0)
        return bad(err, errlen, "online_add: rule.prompt: want a prompt name or NAME@VERSION");
    if (ref[0]) {
        char *end;
        long long v = strtoll(ref, &end, 10);
        if (*end || v < 1)
            return bad(err, errlen, "online_add: rule.prompt: the version must be a number >= 1");
        d->prompt_version = v;
    }
    return 0;
}

static int check_rule(const cJSON *rule, struct rule_doc *d, char *err, size_t errlen)
{
    static const char *const keys[] = {"name",    "project",  "prompt", "sample",
                                       "scorers", "upstream", "model",  NULL};
    const char *w = "online_add: rule", *unknown = NULL;
    memset(d, 0, sizeof(*d));
    if (!cJSON_IsObject(rule))
        return bad(err, errlen, "online_add: want \"rule\": an object");
    if (!only_keys(rule, keys, &unknown))
        return bad(err, errlen, "online_add: rule: unknown key '%.60s'", unknown);
    d->name = jsonx_str(rule, "name");
    if (!prompts_valid_name(d->name))
        return bad(err, errlen, "online_add: rule.name: want 1 to %d of A-Z a-z 0-9 . _ -",
                   PROMPTS_NAME_MAX);
    if (get_text(rule, "project", 1, &d->project, w, err, errlen) ||
        get_text(rule, "upstream", 1, &d->upstream, w, err, errlen) ||
        get_text(rule, "model", 1, &d->model, w, err, errlen) ||
        check_rule_prompt(rule, d, err, errlen))
        return 1;
    d->project = d->project ? d->project : "default";
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rule, "sample");
    if (!cJSON_IsNumber(s) || !(s->valuedouble > 0 && s->valuedouble <= 1))
        return bad(err, errlen, "online_add: rule.sample: want a share 0 < sample <= 1");
    d->sample = s->valuedouble;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(rule, "scorers");
    int n = cJSON_IsArray(sc) ? cJSON_GetArraySize(sc) : 0;
    if (n < 1 || n > MAX_SCORERS)
        return bad(err, errlen, "online_add: rule.scorers: want an array of 1 to %d scorer specs",
                   MAX_SCORERS);
    const cJSON *it;
    cJSON_ArrayForEach(it, sc)
    {
        if (!cJSON_IsObject(it))
            return bad(err, errlen, "online_add: rule.scorers: each spec is an object");
    }
    d->scorers = jsonx_print(sc);
    return 0;
}

/* 1 when a rule 'name' exists, 0 when not, -1 on error. */
static int rule_exists(sqlite3 *db, const char *name, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "SELECT count(*), coalesce(sum(name = ?1), 0) FROM eval_online", &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, name) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    int found = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) > 0 : -1;
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return found;
}

static int rule_row(sqlite3 *db, void *arg)
{
    const struct rule_doc *d = arg;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(
            db,
            "INSERT OR REPLACE INTO eval_online(name, project, prompt_name, prompt_version,"
            " sample, scorers, upstream, model, created_ns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, d->name) | sqlx_bind_text(st, 2, d->project) |
             sqlx_bind_text(st, 3, d->prompt_name[0] ? d->prompt_name : NULL) |
             (d->prompt_version > 0 ? sqlite3_bind_int64(st, 4, d->prompt_version)
                                    : sqlite3_bind_null(st, 4)) |
             sqlite3_bind_double(st, 5, d->sample) | sqlx_bind_text(st, 6, d->scorers) |
             sqlx_bind_text(st, 7, d->upstream) | sqlx_bind_text(st, 8, d->model) |
             sqlite3_bind_int64(st, 9, time_now_ns());
    int ok = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

static int op_online_add(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    struct rule_doc d;
    int rc = check_rule(cJSON_GetObjectItemCaseSensitive(op, "rule"), &d, err, errlen);
    int64_t count = 0;
    int exists = rc ? 0 : rule_exists(db, d.name, &count);
    if (rc == 0 && exists < 0)
        rc = sqlx_fail(db, "cannot read the online rules", err, errlen);
    else if (rc == 0 && !exists && count >= EVALS_ONLINE_MAX_RULES)
        rc = bad(err, errlen, "online_add: at most %d online rules; remove one first",
                 EVALS_ONLINE_MAX_RULES);
    if (rc == 0)
        rc = sqlx_savepoint(db, "evals_online_add", rule_row, &d, NOT_STORED, err, errlen);
    if (rc == 0) {
        int b = buf_puts(answer, "{\"ok\":true,\"name\":") | buf_json_str(answer, d.name) |
                buf_printf(answer, ",\"replaced\":%s}", exists ? "true" : "false");
        if (b != BUF_OK)
            rc = no_room(err, errlen);
    }
    free(d.scorers);
    return rc;
}

static int op_online_rm(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    const char *name = jsonx_str(op, "name");
    if (!prompts_valid_name(name))
        return bad(err, errlen, "online_rm: want \"name\": a rule's name (A-Z a-z 0-9 . _ -)");
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "DELETE FROM eval_online WHERE name = ?1", &st) != 0)
        return sqlx_fail(db, "cannot remove the online rule", err, errlen);
    int ok = sqlx_bind_text(st, 1, name) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok)
        return sqlx_fail(db, "cannot remove the online rule", err, errlen);
    if (buf_printf(answer, "{\"ok\":true,\"removed\":%s}",
                   sqlite3_changes(db) > 0 ? "true" : "false") != BUF_OK)
        return no_room(err, errlen);
    return 0;
}

int evals_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int (*fn)(sqlite3 *, const cJSON *, struct buf *, char *, size_t);
    } ops[] = {{"save_run", op_save_run},
               {"cache_put", op_cache_put},
               {"online_add", op_online_add},
               {"online_rm", op_online_rm},
               {"replay", replays_apply}};
    const char *name = cJSON_IsObject(op) ? jsonx_str(op, "op") : NULL;
    if (!name)
        return bad(err, errlen,
                   "want an object with \"op\": save_run, cache_put, online_add, "
                   "online_rm or replay");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(name, ops[i].name) == 0)
            return ops[i].fn(db, op, answer, err, errlen);
    return bad(err, errlen,
               "unknown op '%.60s' (save_run, cache_put, online_add, online_rm, replay)", name);
}

/* ---- readers ------------------------------------------------------------- */

int evals_cache_get(sqlite3 *db, const uint8_t key[32], int *status, char **body, size_t *len,
                    double *latency_ms)
{
    sqlite3_stmt *st = NULL;
    *body = NULL;
    *len = 0;
    if (latency_ms)
        *latency_ms = NAN;
    if (sqlx_prep(db, "SELECT status, body, latency_ms FROM eval_cache WHERE key = ?1", &st) != 0)
        return -1;
    int rc = sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                           : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        *status = sqlite3_column_int(st, 0);
        if (latency_ms && sqlite3_column_type(st, 2) != SQLITE_NULL)
            *latency_ms = sqlite3_column_double(st, 2);
        *body = xmalloc((size_t)n + 1);
        if (n > 0)
            memcpy(*body, b, (size_t)n);
        (*body)[n] = '\0';
        *len = (size_t)n;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void evals_run_release(struct evals_run *r)
{
    if (!r)
        return;
    free(r->suite);
    free(r->verdict);
    free(r->baseline);
    free(r->candidate);
    free(r->summary);
    memset(r, 0, sizeof(*r));
}

#define RUN_COLS                                                                                   \
    "run_id, suite, started_ns, finished_ns, verdict, interrupted, baseline, candidate,"           \
    " baseline_score, candidate_score, diff, diff_lo, diff_hi, ncases, repeats, nvariants,"        \
    " wins, ties, losses, cost_usd, summary"

static void run_read(sqlite3_stmt *st, struct evals_run *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->run_id, sizeof(r->run_id), "%s", (const char *)sqlite3_column_text(st, 0));
    r->suite = sqlx_col_dup(st, 1);
    r->started_ns = sqlite3_column_int64(st, 2);
    r->finished_ns = sqlite3_column_int64(st, 3);
    r->verdict = sqlx_col_dup(st, 4);
    r->interrupted = sqlite3_column_int(st, 5) != 0;
    r->baseline = sqlx_col_dup(st, 6);
    r->candidate = sqlx_col_dup(st, 7);
    r->baseline_score = sqlx_col_real(st, 8);
    r->candidate_score = sqlx_col_real(st, 9);
    r->diff = sqlx_col_real(st, 10);
    r->diff_lo = sqlx_col_real(st, 11);
    r->diff_hi = sqlx_col_real(st, 12);
    r->ncases = sqlite3_column_int64(st, 13);
    r->repeats = sqlite3_column_int64(st, 14);
    r->nvariants = sqlite3_column_int64(st, 15);
    r->wins = sqlite3_column_int64(st, 16);
    r->ties = sqlite3_column_int64(st, 17);
    r->losses = sqlite3_column_int64(st, 18);
    r->cost_usd = sqlx_col_real(st, 19);
    r->summary = sqlx_col_dup(st, 20);
}

int evals_list_runs(sqlite3 *db, const char *suite, int limit, evals_run_fn fn, void *ctx)
{
    if (limit <= 0)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  suite ? "SELECT " RUN_COLS " FROM eval_runs WHERE suite = ?2"
                          " ORDER BY finished_ns DESC, run_id DESC LIMIT ?1"
                        : "SELECT " RUN_COLS " FROM eval_runs"
                          " ORDER BY finished_ns DESC, run_id DESC LIMIT ?1",
                  &st) != 0)
        return -1;
    int rc = sqlite3_bind_int(st, 1, limit) | (suite ? sqlx_bind_text(st, 2, suite) : SQLITE_OK);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct evals_run r;
        run_read(st, &r);
        int stop = fn(ctx, &r);
        evals_run_release(&r);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int evals_get_run(sqlite3 *db, const char *run_id, struct evals_run *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    if (sqlx_prep(db, "SELECT " RUN_COLS " FROM eval_runs WHERE run_id = ?1", &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, run_id) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        run_read(st, out);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int evals_cases(sqlite3 *db, const char *run_id, int losses_only, evals_case_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  losses_only ? "SELECT idx, case_id, delta, body FROM eval_cases"
                                " WHERE run_id = ?1 AND delta < 0 ORDER BY idx"
                              : "SELECT idx, case_id, delta, body FROM eval_cases"
                                " WHERE run_id = ?1 ORDER BY idx",
                  &st) != 0)
        return -1;
    if (sqlx_bind_text(st, 1, run_id) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               sqlx_col_real(st, 2), (const char *)sqlite3_column_text(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Each (prompt, version)'s newest run: ties in finish time go to the
 * larger run_id, then the first variant that had it. */
static const char trend_sql[] =
    "SELECT prompt_name, prompt_version, score, run_id, finished_ns FROM"
    " (SELECT v.prompt_name, v.prompt_version, v.score, v.run_id, r.finished_ns,"
    "  row_number() OVER (PARTITION BY v.prompt_name, v.prompt_version"
    "   ORDER BY r.finished_ns DESC, v.run_id DESC, v.idx) AS rn"
    "  FROM eval_run_variants v JOIN eval_runs r ON r.run_id = v.run_id"
    "  WHERE v.prompt_name IS NOT NULL AND v.prompt_version IS NOT NULL)"
    " WHERE rn = 1 ORDER BY prompt_name, prompt_version";

int evals_trend(sqlite3 *db, evals_trend_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, trend_sql, &st) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
               sqlx_col_real(st, 2), (const char *)sqlite3_column_text(st, 3),
               sqlite3_column_int64(st, 4)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void evals_online_rule_release(struct evals_online_rule *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->project);
    free(r->prompt_name);
    free(r->scorers);
    free(r->upstream);
    free(r->model);
    memset(r, 0, sizeof(*r));
}

int evals_online_list(sqlite3 *db, evals_online_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "SELECT name, project, prompt_name, prompt_version, sample, scorers, upstream,"
                  " model, created_ns FROM eval_online ORDER BY name",
                  &st) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct evals_online_rule r = {.name = sqlx_col_dup(st, 0),
                                      .project = sqlx_col_dup(st, 1),
                                      .prompt_name = sqlx_col_dup(st, 2),
                                      .prompt_version = sqlite3_column_type(st, 3) == SQLITE_NULL
                                                            ? -1
                                                            : sqlite3_column_int64(st, 3),
                                      .sample = sqlite3_column_double(st, 4),
                                      .scorers = sqlx_col_dup(st, 5),
                                      .upstream = sqlx_col_dup(st, 6),
                                      .model = sqlx_col_dup(st, 7),
                                      .created_ns = sqlite3_column_int64(st, 8)};
        int stop = fn(ctx, &r);
        evals_online_rule_release(&r);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int evals_span_scores(sqlite3 *db, const char *project, const char *trace_id, const char *span_id,
                      evals_score_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "SELECT name, value, comment, coalesce(source, ''), time_ns FROM scores"
                  " WHERE project = ?1 AND trace_id = ?2 AND span_id = ?3 ORDER BY time_ns, id",
                  &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, project) | sqlx_bind_text(st, 2, trace_id) |
             sqlx_bind_text(st, 3, span_id);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlx_col_real(st, 1),
               (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
               sqlite3_column_int64(st, 4)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Two ways to join a project's scores to their spans, with the same
 * answer: look each scored span up by its ids (the `spans` table pushes
 * trace_id / span_id down: the hot rows' unique index, or the one segment
 * the Bloom filters leave, decoded: ~0.7 ms a lookup), or read the
 * project's spans once (four columns decoded: ~1 us a span) and find each
 * one's scores by index. A lookup costs about LOOKUP_SPANS spans read; the
 * rollups say how many spans the project has. */
#define LOOKUP_SPANS 700

static const char vset_by_lookup_sql[] =
    "SELECT coalesce(s.version_set, ''), sc.name, avg(sc.value), count(sc.value)"
    " FROM scores sc CROSS JOIN spans s"
    " WHERE sc.project = ?1 AND sc.span_id IS NOT NULL AND sc.value IS NOT NULL"
    " AND s.project = ?1 AND s.trace_id = sc.trace_id AND s.span_id = sc.span_id"
    " GROUP BY 1, 2 ORDER BY 1, 2";

static const char vset_by_scan_sql[] =
    "SELECT coalesce(s.version_set, ''), sc.name, avg(sc.value), count(sc.value)"
    " FROM spans s CROSS JOIN scores sc"
    " WHERE s.project = ?1 AND sc.project = ?1 AND sc.trace_id = s.trace_id"
    " AND sc.span_id = s.span_id AND sc.value IS NOT NULL"
    " GROUP BY 1, 2 ORDER BY 1, 2";

/* The first column of 'sql' (one parameter: 'project') as a number; -1 on error. */
static double project_count(sqlite3 *db, const char *sql, const char *project)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, sql, &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, project) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    double n = rc == SQLITE_ROW ? sqlite3_column_double(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

int evals_version_scores(sqlite3 *db, const char *project, evals_vset_fn fn, void *ctx)
{
    double scored = project_count(db,
                                  "SELECT count(*) FROM scores WHERE project = ?1"
                                  " AND span_id IS NOT NULL AND value IS NOT NULL",
                                  project);
    if (scored <= 0)
        return scored < 0 ? -1 : 0;
    double spans =
        project_count(db, "SELECT total(calls) FROM rollup_daily WHERE project = ?1", project);
    if (spans < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, scored * LOOKUP_SPANS < spans ? vset_by_lookup_sql : vset_by_scan_sql, &st) !=
        0)
        return -1;
    int rc = sqlx_bind_text(st, 1, project);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), sqlite3_column_double(st, 2),
               sqlite3_column_int64(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}
