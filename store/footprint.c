/*
 * footprint: the logical size of the stored spans (see footprint.h).
 */
#include "store/footprint.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/varint.h"
#include "core/xmem.h"
#include "store/segment.h"
#include "store/textpack.h"
#include "store/texts.h"

/* The length of every text, by id. */
struct lens {
    uint32_t *len;
    int64_t max;
};

struct len_walk {
    struct lens *l;
    int64_t *distinct;
};

static int take_len(void *ctx, int64_t id, const char *p, size_t len)
{
    struct len_walk *w = ctx;
    if (p && id > 0 && id <= w->l->max) {
        w->l->len[id] = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        *w->distinct += (int64_t)len;
    }
    return 0;
}

/* The length of every text (in blocks and in rows), by id. */
static int read_lens(sqlite3 *db, struct lens *l, int64_t *distinct)
{
    sqlite3_stmt *st = NULL;
    l->max = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT max(coalesce((SELECT max(id) FROM texts), 0),"
                                " coalesce((SELECT max(last_id) FROM text_blocks), 0))",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        l->max = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    l->len = xcalloc((size_t)l->max + 1, sizeof(*l->len));
    struct texts_reader *rd = rc == SQLITE_OK ? texts_reader_open(db) : NULL;
    struct len_walk w = {l, distinct};
    rc = rd ? texts_each(rd, 0, take_len, &w) : -1;
    texts_reader_free(rd);
    return rc;
}

/* The bytes of the JSON a refs blob stands for ('A': "[" a "," b "]"). */
static int64_t refs_bytes(const struct lens *l, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    uint64_t count = 0, id;
    if (n < 2 || (p[0] != 'A' && p[0] != 'V'))
        return 0;
    int64_t bytes = p[0] == 'A' ? 2 : 0;
    int array = p[0] == 'A';
    p++;
    if (varint_get(&p, end, &count))
        return 0;
    for (uint64_t i = 0; i < count && varint_get(&p, end, &id) == 0; i++)
        bytes += (id <= (uint64_t)l->max ? l->len[id] : 0) + (array && i ? 1 : 0);
    return bytes;
}

/* A part of a span: its refs if it has them, else its packed text. */
static int64_t part_bytes(const struct lens *l, const void *refs, size_t rn, const void *packed,
                          size_t pn)
{
    if (refs)
        return refs_bytes(l, refs, rn);
    long long n = packed ? textpack_raw_len(packed, pn) : -1;
    return n > 0 ? n : 0;
}

static int hot_texts(sqlite3 *db, const struct lens *l, int64_t *bytes)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT input_refs, input, output_refs, output FROM span_rows",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < 4; c += 2)
            *bytes +=
                part_bytes(l, sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c),
                           sqlite3_column_blob(st, c + 1), (size_t)sqlite3_column_bytes(st, c + 1));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static const void *col_bytes(const struct segment_data *d, int c, size_t row, size_t *n)
{
    const struct colenc_column *col = segment_data_col(d, c);
    *n = 0;
    return colenc_is_null(col, row) ? NULL : colenc_bytes(col, row, n);
}

static int segment_texts(sqlite3 *db, const struct lens *l, int64_t *bytes, char *err,
                         size_t errlen)
{
    static const int parts[2][2] = {{SC_INPUT_REFS, SC_INPUT}, {SC_OUTPUT_REFS, SC_OUTPUT}};
    const uint64_t mask = (1ull << SC_INPUT_REFS) | (1ull << SC_INPUT) | (1ull << SC_OUTPUT_REFS) |
                          (1ull << SC_OUTPUT);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id FROM segments", -1, &st, NULL) == SQLITE_OK ? 0 : -1;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        struct segment_data *d = NULL;
        if (segment_load(db, sqlite3_column_int64(st, 0), mask, &d, err, errlen)) {
            rc = -1;
            break;
        }
        for (size_t r = 0; r < segment_data_rows(d); r++)
            for (int k = 0; k < 2 && !segment_data_deleted(d, r); k++) {
                size_t rn, pn;
                const void *refs = col_bytes(d, parts[k][0], r, &rn);
                const void *packed = col_bytes(d, parts[k][1], r, &pn);
                *bytes += part_bytes(l, refs, rn, packed, pn);
            }
        segment_data_free(d);
    }
    sqlite3_finalize(st);
    return rc;
}

#define STRLEN(c) " + coalesce(length(" c "), 0)"
#define NUM(c) " + 8 * (" c " IS NOT NULL)"
static const char fields_sql[] = "SELECT total(16" STRLEN("trace_id") STRLEN("span_id")
    STRLEN("parent_span_id") STRLEN("project") STRLEN("name") STRLEN("kind") STRLEN("provider")
        STRLEN("model") STRLEN("response_model") STRLEN("status") STRLEN("error_code")
            STRLEN("error_message") STRLEN("user_id") STRLEN("session_id") STRLEN("tenant")
                STRLEN("version_set") STRLEN("prompt_name") STRLEN("prompt_vars") STRLEN("params")
                    STRLEN("tags") STRLEN("attributes") STRLEN("service_name")
                        STRLEN("finish_reason") NUM("ttft_ms") NUM("input_tokens")
                            NUM("output_tokens") NUM("cache_read_tokens") NUM("reasoning_tokens")
                                NUM("cost_nusd") ") FROM spans";

int footprint_measure(sqlite3 *db, struct footprint *out, char *err, size_t errlen)
{
    struct lens l = {0};
    *out = (struct footprint){0};
    *err = '\0';
    int rc = read_lens(db, &l, &out->distinct_text_bytes);
    if (rc == 0)
        rc = hot_texts(db, &l, &out->text_bytes);
    if (rc == 0)
        rc = segment_texts(db, &l, &out->text_bytes, err, errlen);
    free(l.len);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && (sqlite3_prepare_v2(db, fields_sql, -1, &st, NULL) != SQLITE_OK ||
                    sqlite3_step(st) != SQLITE_ROW))
        rc = -1;
    if (rc == 0)
        out->field_bytes = (int64_t)sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    if (rc && !*err)
        snprintf(err, errlen, "cannot measure the spans: %s", sqlite3_errmsg(db));
    return rc;
}
