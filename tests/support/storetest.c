/*
 * storetest: the store suites' shared helpers (see storetest.h).
 */
#include "tests/support/storetest.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "collector/native.h"
#include "collector/pipeline.h"
#include "core/err.h"
#include "fixtures/spangen.h"
#include "core/xmem.h"
#include "store/check.h"
#include "store/store.h"
#include "tests/support/testutil.h"

long long tu_ro_int(const char *db, const char *sql)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_msg(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(store_db(ro)));
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    store_close(ro);
    return v;
}

/* Decode one NDJSON body and commit it; count the results. */
static void commit_body(struct writer *w, const struct buf *body, int *created, int *dups)
{
    struct ingest_batch b;
    struct native_report *rep = NULL;
    char err[256];
    ingest_batch_init(&b);
    ck_assert_int_eq(native_decode(body->data, body->len, 1, &b, &rep, err, sizeof(err)), LT_OK);
    struct pipeline *p = pipeline_new(w, NULL);
    ck_assert_int_eq(pipeline_commit(p, &b, body->len, "default", 1, err, sizeof(err)), LT_OK);
    for (size_t i = 0; i < b.nspans; i++) {
        if (created)
            *created += b.spans[i].result == REC_CREATED;
        if (dups)
            *dups += b.spans[i].result == REC_DUPLICATE;
    }
    pipeline_free(p);
    native_report_free(rep);
    ingest_batch_release(&b);
}

void tu_ingest_spangen(struct writer *w, int n, uint64_t seed, int per_request, int *created,
                       int *dups)
{
    tu_ingest_spangen_at(w, n, seed, per_request, 1772409600000000000LL, created, dups);
}

void tu_ingest_spangen_at(struct writer *w, int n, uint64_t seed, int per_request, int64_t start_ns,
                          int *created, int *dups)
{
    struct spangen *g = spangen_new(seed, start_ns);
    struct buf body;
    buf_init(&body, 0);
    for (int made = 0; made < n;) {
        buf_reset(&body);
        for (int k = 0; k < per_request && made < n; k++, made++) {
            ck_assert_int_eq(spangen_next_json(g, &body), 0);
            ck_assert_int_eq(buf_putc(&body, '\n'), 0);
        }
        commit_body(w, &body, created, dups);
    }
    buf_release(&body);
    spangen_free(g);
}

void tu_ingest_json(struct writer *w, const char *ndjson)
{
    struct buf body;
    buf_init(&body, 0);
    ck_assert_int_eq(buf_puts(&body, ndjson), 0);
    commit_body(w, &body, NULL, NULL);
    buf_release(&body);
}

void tu_store_open(struct tu_store *s, const char *name, const struct writer_config *cfg)
{
    char err[256];
    struct writer_config def;
    if (!cfg) {
        writer_config_default(&def);
        def.compact_keep_hot = -1; /* steps run by the test */
        cfg = &def;
    }
    s->dir = tu_tmpdir();
    s->db = xasprintf("%s/%s", s->dir, name);
    ck_assert_int_eq(store_open(&s->st, s->db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&s->w, s->st, cfg, err, sizeof(err)), LT_OK);
}

void tu_store_close(struct tu_store *s)
{
    writer_stop(s->w);
    store_close(s->st);
    tu_rmtree(s->dir);
    free(s->db);
    free(s->dir);
    memset(s, 0, sizeof(*s));
}

void tu_expect_whole_store(const char *db)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct check_report rep;
    check_report_init(&rep);
    ck_assert_int_eq(check_store(store_db(ro), &rep, err, sizeof(err)), 0);
    ck_assert_msg(rep.ok, "%s", buf_str(&rep.problems));
    ck_assert_int_eq(rep.texts_missing, 0);
    ck_assert_int_eq(rep.texts_unreferenced, 0);
    ck_assert_int_eq(rep.rollup_rows_bad, 0);
    check_report_release(&rep);
    store_close(ro);
}
