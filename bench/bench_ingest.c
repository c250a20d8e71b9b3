/*
 * bench_ingest: how fast does a running llmtap acknowledge native spans, and
 * how does that compare with what this machine's disk and SQLite can do?
 *
 * 1. Pre-generates the workload with spangen: N spans as {"spans":[...]}
 *    bodies of B spans (the client then does no JSON work at all); --days D
 *    spreads them over about D days (the same spans as spangen --days D).
 * 2. Baselines, measured here: fdatasync latency on the work directory's disk,
 *    and SQLite alone inserting the same spans (parsed beforehand, untimed)
 *    into a fresh file with a spans table like DESIGN.md §3, WAL,
 *    synchronous=FULL, 1,000-row transactions.
 * 3. The run: C threads, one keep-alive connection each, post the batches
 *    one after another, each waiting for its ack (2xx = fsynced); 503 is
 *    retried after Retry-After. Throughput is spans acked over the wall clock
 *    from the first send to the last ack; latency is per acked request.
 * Prints a report with ratios against the targets (>= 30,000 spans/s, ack
 * p99 <= 50 ms) and the baselines, then a RESULT line for bench/run.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "fixtures/spangen.h"
#include "tests/support/httpc.h"

#define TARGET_SPANS_PER_S 30000.0
#define TARGET_P99_MS 50.0
#define ISSUE_SQLITE_SPANS_PER_S 54000.0
#define ISSUE_FDATASYNC_MS 0.06
#define BASE_TXN_ROWS 1000
#define MAX_CONNS 256

struct opts {
    const char *url, *workdir;
    int conns, batch;
    long spans, baseline_spans;
    uint64_t seed;
    double max_seconds, days;
    bool baselines;
};

struct batch {
    char *body;
    size_t len;
};

struct run {
    const struct opts *o;
    struct batch *batches;
    int nbatches;
    atomic_int next;
    atomic_llong accepted, duplicates, rejected, acked_batches, failed_batches;
    atomic_llong busy_503, conn_errors, bytes;
    int64_t *lat_ns; /* per batch, -1 until acked */
    int64_t t0_ns, deadline_ns;
    atomic_llong last_ack_ns;
    atomic_int printed_failure;
};

struct baseline {
    double sync_p50_ms, sync_p99_ms, sync_mean_ms;
    double sqlite_spans_per_s, sqlite_mb_per_s;
    long sqlite_rows;
};

static int64_t now_ns(void)
{
    return time_mono_ns();
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Percentile 'p' (0-100) of 'n' sorted values. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- workload ---------------------------------------------------------------- */

/* All bodies live end to end in one allocation (*arena, freed by the
 * caller): ten thousand separate ones of ~300 KB are as many mappings, and
 * where the kernel samples page accesses (DAMON, as here) walking those
 * took most of a core away from the server (docs/BENCHMARKS.md). */
static struct batch *make_batches(const struct opts *o, int *nbatches, size_t *total, char **arena)
{
    int n = (int)((o->spans + o->batch - 1) / o->batch);
    struct batch *b = xcalloc((size_t)n, sizeof(*b));
    size_t *at = xcalloc((size_t)n, sizeof(*at));
    struct spangen *g = spangen_new(o->seed, 1772409600000000000LL);
    if (o->days > 0) /* the same spans as `spangen --count N --days D` */
        spangen_set_pace(g, spangen_pace_for_days(o->days, (uint64_t)o->spans));
    struct buf body;
    buf_init(&body, 0);
    long made = 0;
    *total = 0;
    for (int i = 0; i < n; i++) {
        at[i] = body.len;
        int rc = buf_puts(&body, "{\"spans\":[");
        for (int k = 0; k < o->batch && made < o->spans; k++, made++) {
            if (k > 0)
                rc |= buf_putc(&body, ',');
            rc |= spangen_next_json(g, &body);
        }
        rc |= buf_puts(&body, "]}");
        if (rc != 0) {
            fprintf(stderr, "bench: cannot build batch %d\n", i);
            exit(1);
        }
        b[i].len = body.len - at[i];
        *total += b[i].len;
    }
    *arena = buf_take(&body, NULL);
    for (int i = 0; i < n; i++)
        b[i].body = *arena + at[i];
    free(at);
    spangen_free(g);
    *nbatches = n;
    return b;
}

/* ---- baseline: fdatasync ------------------------------------------------------- */

static void measure_fdatasync(const char *dir, struct baseline *bl)
{
    char *path = xasprintf("%s/fdatasync.bench", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    enum { N = 400 };
    int64_t *lat = xcalloc(N, sizeof(*lat));
    char page[4096];
    memset(page, 'x', sizeof(page));
    int n = 0;
    int64_t stop = now_ns() + 3000000000LL, sum = 0;
    for (; fd >= 0 && n < N && now_ns() < stop; n++) {
        /* append a page and make it durable, as a WAL commit does */
        if (pwrite(fd, page, sizeof(page), (off_t)n * (off_t)sizeof(page)) != sizeof(page))
            break;
        int64_t t = now_ns();
        if (fdatasync(fd) != 0)
            break;
        lat[n] = now_ns() - t;
        sum += lat[n];
    }
    if (n > 0) {
        qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
        bl->sync_p50_ms = (double)pct(lat, (size_t)n, 50) / 1e6;
        bl->sync_p99_ms = (double)pct(lat, (size_t)n, 99) / 1e6;
        bl->sync_mean_ms = (double)sum / n / 1e6;
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
    free(path);
    free(lat);
}

/* ---- baseline: SQLite alone ----------------------------------------------------- */

static const char base_schema[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
    "CREATE TABLE spans(project TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,"
    " parent_span_id TEXT, name TEXT, kind TEXT, start_ns INTEGER, end_ns INTEGER,"
    " latency_ms REAL, ttft_ms REAL, provider TEXT, model TEXT, response_model TEXT,"
    " input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
    " cache_write_tokens INTEGER, reasoning_tokens INTEGER, cost_usd REAL, status TEXT,"
    " error_code TEXT, error_message TEXT, user_id TEXT, session_id TEXT, tenant TEXT,"
    " version_set TEXT, prompt_name TEXT, prompt_version INTEGER, input TEXT, output TEXT,"
    " params TEXT, attributes TEXT, PRIMARY KEY(project, trace_id, span_id));"
    "CREATE INDEX spans_start ON spans(start_ns);";

static const char base_insert[] =
    "INSERT OR IGNORE INTO spans(project, trace_id, span_id, parent_span_id, name, kind,"
    " start_ns, end_ns, latency_ms, ttft_ms, provider, model, response_model, input_tokens,"
    " output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, status,"
    " error_code, error_message, user_id, session_id, tenant, version_set, prompt_name,"
    " prompt_version, input, output, params, attributes)"
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/* One parsed span's column values, ready to bind (strings borrowed from the
 * tree or owned in 'json'). */
struct row {
    const char *text[16];
    int64_t ints[10];
    bool has_int[10];
    double ttft;
    char *json[4]; /* input, output, params, attributes */
};

static const char *const row_text_keys[] = {
    "project", "trace_id",       "span_id", "parent_span_id", "name",    "kind",   "provider",
    "model",   "response_model", "status",  "user",           "session", "tenant", "version_set"};

static void row_fill(struct row *r, const cJSON *s)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(s, "usage");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(s, "error");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(s, "prompt");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(s, "latency");
    static const char *const usage_keys[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                             "cache_write_tokens", "reasoning_tokens"};
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < sizeof(row_text_keys) / sizeof(row_text_keys[0]); i++)
        r->text[i] = jsonx_str(s, row_text_keys[i]);
    r->text[14] = jsonx_str(err, "code");
    r->text[15] = jsonx_str(err, "message");
    r->has_int[0] = jsonx_member_int64(s, "start_ns", &r->ints[0]) == 0;
    r->has_int[1] = jsonx_member_int64(s, "end_ns", &r->ints[1]) == 0;
    for (int i = 0; i < 5; i++)
        r->has_int[2 + i] = jsonx_member_int64(usage, usage_keys[i], &r->ints[2 + i]) == 0;
    r->has_int[7] = jsonx_member_int64(prompt, "version", &r->ints[7]) == 0;
    r->ttft = -1;
    jsonx_double(cJSON_GetObjectItemCaseSensitive(lat, "ttft_ms"), &r->ttft);
    r->json[0] = jsonx_print(cJSON_GetObjectItemCaseSensitive(s, "input"));
    r->json[1] = jsonx_print(cJSON_GetObjectItemCaseSensitive(s, "output"));
    r->json[2] = jsonx_print(cJSON_GetObjectItemCaseSensitive(s, "params"));
    r->json[3] = jsonx_print(cJSON_GetObjectItemCaseSensitive(s, "tags"));
}

static void row_release(struct row *r)
{
    for (int i = 0; i < 4; i++)
        free(r->json[i]);
}

static void bind_text(sqlite3_stmt *st, int col, const char *v)
{
    if (v)
        sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

static void bind_int(sqlite3_stmt *st, int col, const struct row *r, int i)
{
    if (r->has_int[i])
        sqlite3_bind_int64(st, col, r->ints[i]);
    else
        sqlite3_bind_null(st, col);
}

/* Bind 'r' in the column order of base_insert and step. */
static int row_insert(sqlite3_stmt *st, const struct row *r)
{
    for (int i = 0; i < 6; i++) /* project .. kind */
        bind_text(st, 1 + i, r->text[i]);
    bind_int(st, 7, r, 0);
    bind_int(st, 8, r, 1);
    sqlite3_bind_double(st, 9, (double)(r->ints[1] - r->ints[0]) / 1e6);
    if (r->ttft >= 0)
        sqlite3_bind_double(st, 10, r->ttft);
    else
        sqlite3_bind_null(st, 10);
    for (int i = 0; i < 3; i++) /* provider, model, response_model */
        bind_text(st, 11 + i, r->text[6 + i]);
    for (int i = 0; i < 5; i++) /* tokens */
        bind_int(st, 14 + i, r, 2 + i);
    bind_text(st, 19, r->text[9]);
    bind_text(st, 20, r->text[14]);
    bind_text(st, 21, r->text[15]);
    for (int i = 0; i < 4; i++) /* user, session, tenant, version_set */
        bind_text(st, 22 + i, r->text[10 + i]);
    bind_text(st, 26, NULL); /* prompt_name: not kept apart in this baseline */
    bind_int(st, 27, r, 7);
    for (int i = 0; i < 4; i++)
        bind_text(st, 28 + i, r->json[i]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

struct sqlite_bench {
    sqlite3 *db;
    sqlite3_stmt *ins;
    long rows, in_txn;
    int64_t busy_ns; /* time spent inside SQLite */
    size_t bytes;
};

static int sqlite_exec_timed(struct sqlite_bench *sb, const char *sql)
{
    int64_t t = now_ns();
    int rc = sqlite3_exec(sb->db, sql, NULL, NULL, NULL);
    sb->busy_ns += now_ns() - t;
    return rc == SQLITE_OK ? 0 : -1;
}

/* Insert every span of one batch body; parsing is not timed. */
static int sqlite_insert_batch(struct sqlite_bench *sb, const struct batch *b, long limit)
{
    char err[128];
    cJSON *j = jsonx_parse(b->body, b->len, err, sizeof(err));
    const cJSON *s;
    int rc = j ? 0 : -1;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "spans"))
    {
        if (rc != 0 || sb->rows >= limit)
            break;
        struct row r;
        row_fill(&r, s);
        if (sb->in_txn == 0)
            rc |= sqlite_exec_timed(sb, "BEGIN");
        int64_t t = now_ns();
        rc |= row_insert(sb->ins, &r);
        sb->busy_ns += now_ns() - t;
        row_release(&r);
        sb->rows++;
        if (++sb->in_txn == BASE_TXN_ROWS) {
            rc |= sqlite_exec_timed(sb, "COMMIT");
            sb->in_txn = 0;
        }
    }
    sb->bytes += b->len;
    cJSON_Delete(j);
    return rc;
}

static void measure_sqlite(const struct opts *o, const struct batch *batches, int nbatches,
                           struct baseline *bl)
{
    char *path = xasprintf("%s/sqlite-baseline.db", o->workdir);
    struct sqlite_bench sb = {0};
    unlink(path);
    if (sqlite3_open(path, &sb.db) != SQLITE_OK ||
        sqlite3_exec(sb.db, base_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sb.db, base_insert, -1, &sb.ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: sqlite baseline: %s\n", sqlite3_errmsg(sb.db));
        goto done;
    }
    for (int i = 0; i < nbatches && sb.rows < o->baseline_spans; i++) {
        if (sqlite_insert_batch(&sb, &batches[i], o->baseline_spans) != 0) {
            fprintf(stderr, "bench: sqlite baseline insert: %s\n", sqlite3_errmsg(sb.db));
            goto done;
        }
    }
    if (sb.in_txn && sqlite_exec_timed(&sb, "COMMIT") != 0)
        goto done;
    bl->sqlite_rows = sb.rows;
    bl->sqlite_spans_per_s = (double)sb.rows / ((double)sb.busy_ns / 1e9);
    bl->sqlite_mb_per_s = (double)sb.bytes / 1e6 / ((double)sb.busy_ns / 1e9);
done:
    sqlite3_finalize(sb.ins);
    sqlite3_close(sb.db);
    char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
    free(path);
    sync(); /* leave the disk quiet for the server run */
}

/* ---- the run ------------------------------------------------------------------------ */

static long count_after(const char *body, const char *key)
{
    const char *p = strstr(body, key);
    return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

static void note_failure(struct run *r, int idx, const char *what, const char *body)
{
    if (atomic_fetch_add(&r->printed_failure, 1) < 5)
        fprintf(stderr, "bench: batch %d: %s %.300s\n", idx, what, body ? body : "");
}

static void record_ack(struct run *r, int idx, const struct httpc_response *resp, int64_t t)
{
    int64_t done = now_ns();
    r->lat_ns[idx] = done - t;
    atomic_fetch_add(&r->accepted, count_after(resp->body, "\"accepted\":"));
    atomic_fetch_add(&r->duplicates, count_after(resp->body, "\"duplicates\":"));
    atomic_fetch_add(&r->rejected, count_after(resp->body, "\"rejected\":"));
    atomic_fetch_add(&r->acked_batches, 1);
    atomic_fetch_add(&r->bytes, (long long)r->batches[idx].len);
    long long prev = atomic_load(&r->last_ack_ns);
    while (prev < done && !atomic_compare_exchange_weak(&r->last_ack_ns, &prev, done))
        ;
}

/* Post batch 'idx' until it is acknowledged or cannot be. */
static void post_batch(struct run *r, struct httpc *c, int idx)
{
    struct httpc_request req = {.method = "POST",
                                .path = "/api/v1/spans",
                                .content_type = "application/json",
                                .body = r->batches[idx].body,
                                .body_len = r->batches[idx].len};
    for (int attempt = 0; attempt < 50; attempt++) {
        struct httpc_response resp;
        int64_t t = now_ns();
        int rc = httpc_request(c, &req, &resp);
        int status = rc == HTTPC_OK ? resp.status : 0;
        bool acked = status >= 200 && status < 300;
        bool retry = rc != HTTPC_OK || status == 503;
        long wait_ms = 100;
        if (acked) {
            record_ack(r, idx, &resp, t);
        } else if (status == 503) {
            const char *ra = httpc_header(&resp, "Retry-After");
            wait_ms = ra ? 1000 * strtol(ra, NULL, 10) : 1000;
            atomic_fetch_add(&r->busy_503, 1);
        } else if (rc != HTTPC_OK) {
            atomic_fetch_add(&r->conn_errors, 1);
            note_failure(r, idx, httpc_strerror(rc), NULL);
        } else {
            note_failure(r, idx, "rejected:", resp.body);
        }
        httpc_response_release(&resp);
        if (!retry) {
            if (!acked)
                atomic_fetch_add(&r->failed_batches, 1);
            return;
        }
        sleep_ms(wait_ms > 10 ? wait_ms : 10);
    }
    atomic_fetch_add(&r->failed_batches, 1);
}

static void *worker(void *arg)
{
    struct run *r = arg;
    struct httpc *c = httpc_open_url(r->o->url, 60000);
    if (!c) {
        fprintf(stderr, "bench: cannot connect to %s\n", r->o->url);
        return NULL;
    }
    for (;;) {
        int idx = atomic_fetch_add(&r->next, 1);
        if (idx >= r->nbatches || now_ns() > r->deadline_ns)
            break;
        post_batch(r, c, idx);
    }
    httpc_close(c);
    return NULL;
}

static int run_load(struct run *r)
{
    pthread_t th[MAX_CONNS];
    int started = 0;
    r->t0_ns = now_ns();
    r->deadline_ns = r->t0_ns + (int64_t)(r->o->max_seconds * 1e9);
    atomic_store(&r->last_ack_ns, r->t0_ns);
    for (int i = 0; i < r->o->conns; i++)
        if (pthread_create(&th[i], NULL, worker, r) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return started == r->o->conns ? 0 : -1;
}

/* ---- report ---------------------------------------------------------------------------- */

static const char *verdict(bool ok)
{
    return ok ? "PASS" : "MISS";
}

static void report_baselines(const struct baseline *bl, double rate, double p50)
{
    printf("-- baselines measured on this machine --\n");
    printf("sqlite alone  %.0f spans/s, %.1f MB/s (%ld spans, %d-row transactions, WAL, "
           "synchronous=FULL; issue: ~%.0f)   server/sqlite: %.2fx\n",
           bl->sqlite_spans_per_s, bl->sqlite_mb_per_s, bl->sqlite_rows, BASE_TXN_ROWS,
           ISSUE_SQLITE_SPANS_PER_S,
           bl->sqlite_spans_per_s > 0 ? rate / bl->sqlite_spans_per_s : 0);
    printf("fdatasync     p50 %.3f ms  p99 %.3f ms  mean %.3f ms (4 KiB appends; issue: "
           "~%.2f ms)   ack p50 / fdatasync p50: %.0fx\n",
           bl->sync_p50_ms, bl->sync_p99_ms, bl->sync_mean_ms, ISSUE_FDATASYNC_MS,
           bl->sync_p50_ms > 0 ? p50 / bl->sync_p50_ms : 0);
}

static void report(const struct run *r, const struct baseline *bl, size_t total_bytes)
{
    const struct opts *o = r->o;
    size_t n = 0;
    int64_t *lat = xcalloc((size_t)r->nbatches + 1, sizeof(*lat));
    for (int i = 0; i < r->nbatches; i++)
        if (r->lat_ns[i] >= 0)
            lat[n++] = r->lat_ns[i];
    qsort(lat, n, sizeof(*lat), cmp_i64);
    double wall = (double)(atomic_load(&r->last_ack_ns) - r->t0_ns) / 1e9;
    long long spans = atomic_load(&r->accepted) + atomic_load(&r->duplicates);
    double rate = wall > 0 ? (double)spans / wall : 0;
    double p50 = (double)pct(lat, n, 50) / 1e6, p90 = (double)pct(lat, n, 90) / 1e6;
    double p99 = (double)pct(lat, n, 99) / 1e6, pmax = n ? (double)lat[n - 1] / 1e6 : 0;
    printf("\n== llmtap ingest benchmark ==\n");
    printf("workload      %ld spans in %d batches of %d, %.1f MB of JSON (avg span %.2f KB), "
           "seed %" PRIu64 "\n",
           o->spans, r->nbatches, o->batch, (double)total_bytes / 1e6,
           (double)total_bytes / (double)o->spans / 1024.0, o->seed);
    printf("client        %d keep-alive connections, %ld CPUs shared with the server\n", o->conns,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("throughput    %.0f spans/s over %.2f s, %.1f MB/s   target >= %.0f: %.2fx  %s\n", rate,
           wall, (double)atomic_load(&r->bytes) / 1e6 / (wall > 0 ? wall : 1), TARGET_SPANS_PER_S,
           rate / TARGET_SPANS_PER_S, verdict(rate >= TARGET_SPANS_PER_S));
    printf("ack latency   p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms   "
           "target p99 <= %.0f ms: %.2fx of budget  %s\n",
           p50, p90, p99, pmax, TARGET_P99_MS, p99 / TARGET_P99_MS, verdict(p99 <= TARGET_P99_MS));
    printf("acked         %lld spans in %lld requests (accepted %lld, duplicates %lld, "
           "rejected %lld)\n",
           spans, (long long)atomic_load(&r->acked_batches), (long long)atomic_load(&r->accepted),
           (long long)atomic_load(&r->duplicates), (long long)atomic_load(&r->rejected));
    printf("retries       503 + Retry-After: %lld, connection errors: %lld, failed batches: %lld\n",
           (long long)atomic_load(&r->busy_503), (long long)atomic_load(&r->conn_errors),
           (long long)atomic_load(&r->failed_batches));
    if (o->baselines)
        report_baselines(bl, rate, p50);
    printf("RESULT spans_per_s=%.0f ack_p50_ms=%.2f ack_p99_ms=%.2f acked_spans=%lld "
           "accepted_spans=%lld failed_batches=%lld sent_batches=%d\n",
           rate, p50, p99, spans, (long long)atomic_load(&r->accepted),
           (long long)atomic_load(&r->failed_batches),
           atomic_load(&r->next) < r->nbatches ? atomic_load(&r->next) : r->nbatches);
    free(lat);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_ingest --url http://127.0.0.1:PORT [--conns 6] "
                    "[--spans 200000] [--batch 100] [--seed 1] [--workdir DIR]\n"
                    "                    [--baseline-spans 100000] [--no-baselines] "
                    "[--max-seconds 120] [--days D]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.workdir = ".",
                       .conns = 6,
                       .batch = 100,
                       .spans = 200000,
                       .baseline_spans = 100000,
                       .seed = 1,
                       .max_seconds = 120,
                       .baselines = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-baselines")) {
            o->baselines = false;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--url"))
            o->url = v;
        else if (!strcmp(a, "--workdir"))
            o->workdir = v;
        else if (!strcmp(a, "--conns"))
            o->conns = atoi(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoi(v);
        else if (!strcmp(a, "--spans"))
            o->spans = atol(v);
        else if (!strcmp(a, "--baseline-spans"))
            o->baseline_spans = atol(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--max-seconds"))
            o->max_seconds = atof(v);
        else if (!strcmp(a, "--days"))
            o->days = atof(v);
        else
            usage();
    }
    if (!o->url || o->conns < 1 || o->conns > MAX_CONNS || o->batch < 1 || o->spans < 1 ||
        o->max_seconds <= 0 || o->days < 0)
        usage();
}

int main(int argc, char **argv)
{
    struct opts o;
    struct baseline bl = {0};
    parse_opts(argc, argv, &o);
    struct run r = {.o = &o};
    size_t total = 0;
    int64_t t = now_ns();
    char *arena = NULL;
    r.batches = make_batches(&o, &r.nbatches, &total, &arena);
    fprintf(stderr, "bench: generated %ld spans (%.1f MB) in %.1f s\n", o.spans,
            (double)total / 1e6, (double)(now_ns() - t) / 1e9);
    if (o.baselines) {
        measure_fdatasync(o.workdir, &bl);
        measure_sqlite(&o, r.batches, r.nbatches, &bl);
        fprintf(stderr, "bench: baselines done\n");
    }
    r.lat_ns = xmalloc((size_t)r.nbatches * sizeof(*r.lat_ns));
    for (int i = 0; i < r.nbatches; i++)
        r.lat_ns[i] = -1;
    int rc = run_load(&r);
    report(&r, &bl, total);
    free(arena);
    free(r.batches);
    free(r.lat_ns);
    return rc != 0 || atomic_load(&r.failed_batches) > 0 ? 1 : 0;
}
