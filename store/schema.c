/*
 * schema: versioned DDL. Version 1 is the foundation's row store:
 *  - span_rows: one row per span (hot rows; the columnar segments of the
 *    store issue move them out later), unique on (project, trace_id, span_id)
 *    so resent spans are ignored. Costs are integer nano-USD.
 *    input and output are packed (store/textpack.h).
 *  - spans: the public SQL face (DESIGN.md §3 columns, plus extras); a view
 *    for now, a virtual table later. Add columns, never rename.
 *  - log_messages: GenAI message events from OTLP logs, joined to spans.
 *  - ingest_dedup: envelope ids already processed (Langfuse).
 *  - scores, price_sets.
 * Later versions, each with its comment below: v2 text stored once, v3
 * columnar segments and `spans` as a virtual table, v4 text dictionaries,
 * v5 rollups, ... v13 budget rules, v14 ingest keys, v15 prompts.
 */
#include "store/schema.h"

static const char v1[] =
    "CREATE TABLE span_rows ("
    " id INTEGER PRIMARY KEY,"
    " project TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,"
    " parent_span_id TEXT, name TEXT, kind TEXT NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " ttft_ms REAL, queue_ms REAL, tool_ms REAL,"
    " provider TEXT, model TEXT, response_model TEXT,"
    " input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
    " cache_write_tokens INTEGER, cache_write_1h_tokens INTEGER, reasoning_tokens INTEGER,"
    " cost_nusd INTEGER, price_version TEXT,"
    " status TEXT NOT NULL, error_code TEXT, error_message TEXT,"
    " user_id TEXT, session_id TEXT, tenant TEXT, version_set TEXT,"
    " prompt_name TEXT, prompt_version INTEGER, prompt_vars TEXT,"
    " input BLOB, output BLOB, params TEXT, tags TEXT, attributes TEXT,"
    " service_name TEXT, service_version TEXT, service_tier TEXT, finish_reason TEXT,"
    " replay_of TEXT,"
    " io_from_logs INTEGER NOT NULL DEFAULT 0,"
    " ingested_ns INTEGER NOT NULL,"
    " UNIQUE (project, trace_id, span_id));"
    "CREATE INDEX span_rows_start ON span_rows(start_ns);"
    "CREATE VIEW spans AS SELECT"
    " trace_id, span_id, parent_span_id, project, name, kind, start_ns, end_ns,"
    " (end_ns - start_ns) / 1e6 AS latency_ms, ttft_ms,"
    " provider, model, response_model, input_tokens, output_tokens, cache_read_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_nusd / 1e9 AS cost_usd, status,"
    " error_code, error_message, user_id, session_id, tenant, version_set,"
    " prompt_name, prompt_version, llmtap_text(input) AS input, llmtap_text(output) AS output,"
    " params, attributes, replay_of,"
    " queue_ms, tool_ms, cache_write_1h_tokens, cost_nusd, price_version, prompt_vars,"
    " tags, service_name, service_version, service_tier, finish_reason, ingested_ns"
    " FROM span_rows;"
    "CREATE TABLE log_messages ("
    " project TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,"
    " is_output INTEGER NOT NULL, time_ns INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " hash INTEGER NOT NULL, message TEXT NOT NULL,"
    " PRIMARY KEY (project, trace_id, span_id, is_output, time_ns, hash)) WITHOUT ROWID;"
    "CREATE TABLE ingest_dedup (key TEXT PRIMARY KEY, seen_ns INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE scores ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, score_id TEXT NOT NULL,"
    " trace_id TEXT, span_id TEXT, session_id TEXT, name TEXT NOT NULL,"
    " value REAL, string_value TEXT, data_type TEXT, comment TEXT, source TEXT,"
    " time_ns INTEGER NOT NULL, UNIQUE (project, score_id));"
    "CREATE TABLE price_sets ("
    " id INTEGER PRIMARY KEY, source TEXT NOT NULL, imported_ns INTEGER NOT NULL,"
    " models INTEGER NOT NULL, json TEXT NOT NULL);";

/* Version 2: text stored once (store/texts.h). New rows refer to their
 * texts through input_refs / output_refs; the packed input / output columns
 * stay for rows written before, and for messages joined from logs. */
static const char v2[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT INTO meta(key, value) VALUES('text_hash_key', randomblob(16));"
    "CREATE TABLE texts ("
    " id INTEGER PRIMARY KEY, hash BLOB NOT NULL, dict INTEGER NOT NULL DEFAULT 0,"
    " body BLOB NOT NULL);"
    "ALTER TABLE span_rows ADD COLUMN input_refs BLOB;"
    "ALTER TABLE span_rows ADD COLUMN output_refs BLOB;"
    "DROP VIEW spans;"
    "CREATE VIEW spans AS SELECT"
    " trace_id, span_id, parent_span_id, project, name, kind, start_ns, end_ns,"
    " (end_ns - start_ns) / 1e6 AS latency_ms, ttft_ms,"
    " provider, model, response_model, input_tokens, output_tokens, cache_read_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_nusd / 1e9 AS cost_usd, status,"
    " error_code, error_message, user_id, session_id, tenant, version_set,"
    " prompt_name, prompt_version,"
    " CASE WHEN input_refs IS NOT NULL THEN llmtap_refs(input_refs)"
    "  ELSE llmtap_text(input) END AS input,"
    " CASE WHEN output_refs IS NOT NULL THEN llmtap_refs(output_refs)"
    "  ELSE llmtap_text(output) END AS output,"
    " params, attributes, replay_of,"
    " queue_ms, tool_ms, cache_write_1h_tokens, cost_nusd, price_version, prompt_vars,"
    " tags, service_name, service_version, service_tier, finish_reason, ingested_ns"
    " FROM span_rows;";

/* Version 3: columnar segments (store/segment.h) and `spans` as a virtual
 * table over hot rows and segments (store/spantab.h). span_rows is rebuilt
 * with its key in (trace_id, span_id, project) order, so a lookup by trace
 * id alone uses it. */
static const char v3[] =
    "CREATE TABLE span_rows_v3 ("
    " id INTEGER PRIMARY KEY,"
    " project TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,"
    " parent_span_id TEXT, name TEXT, kind TEXT NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " ttft_ms REAL, queue_ms REAL, tool_ms REAL,"
    " provider TEXT, model TEXT, response_model TEXT,"
    " input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
    " cache_write_tokens INTEGER, cache_write_1h_tokens INTEGER, reasoning_tokens INTEGER,"
    " cost_nusd INTEGER, price_version TEXT,"
    " status TEXT NOT NULL, error_code TEXT, error_message TEXT,"
    " user_id TEXT, session_id TEXT, tenant TEXT, version_set TEXT,"
    " prompt_name TEXT, prompt_version INTEGER, prompt_vars TEXT,"
    " input BLOB, output BLOB, params TEXT, tags TEXT, attributes TEXT,"
    " service_name TEXT, service_version TEXT, service_tier TEXT, finish_reason TEXT,"
    " replay_of TEXT,"
    " io_from_logs INTEGER NOT NULL DEFAULT 0,"
    " ingested_ns INTEGER NOT NULL,"
    " input_refs BLOB, output_refs BLOB,"
    " UNIQUE (trace_id, span_id, project));"
    "INSERT INTO span_rows_v3 SELECT * FROM span_rows;"
    "DROP VIEW spans;"
    "DROP TABLE span_rows;"
    "ALTER TABLE span_rows_v3 RENAME TO span_rows;"
    "CREATE INDEX span_rows_start ON span_rows(start_ns);"
    "CREATE TABLE segments ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, nrows INTEGER NOT NULL,"
    " min_start INTEGER NOT NULL, max_start INTEGER NOT NULL,"
    " key_bloom BLOB NOT NULL, trace_bloom BLOB NOT NULL, bytes INTEGER NOT NULL,"
    " tombstones INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL);"
    "CREATE TABLE segment_cols ("
    " segment_id INTEGER NOT NULL, col INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (segment_id, col));"
    "CREATE TABLE segment_tombstones ("
    " segment_id INTEGER NOT NULL, row INTEGER NOT NULL,"
    " PRIMARY KEY (segment_id, row)) WITHOUT ROWID;";

/* Version 4: zstd dictionaries trained per project for texts (store/texts.h);
 * texts.dict names the one a text was packed with (0: none). */
static const char v4[] =
    "CREATE TABLE text_dicts ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, created_ns INTEGER NOT NULL,"
    " samples INTEGER NOT NULL, dict BLOB NOT NULL);";

/* Version 5: rollups (store/rollup.h). The *_c tables count the compacted
 * spans (the compactor adds a batch's rows in the transaction that moves
 * them; moving a span back to the hot rows takes it out); the public views
 * add the hot rows, counted as they are read, so every reader sees rollups
 * that match exactly the spans it sees, and a resend, never stored twice,
 * is never counted twice. An existing database counts its segments here. */
#define RU_SUMS                                                                                    \
    " calls INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"      \
    " cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,"                    \
    " reasoning_tokens INTEGER NOT NULL, cost_nusd INTEGER NOT NULL, unpriced INTEGER NOT NULL,"   \
    " errors INTEGER NOT NULL,"
#define RU_COUNT                                                                                   \
    " count(*), total(max(input_tokens, 0)), total(max(output_tokens, 0)),"                        \
    " total(max(cache_read_tokens, 0)), total(max(cache_write_tokens, 0)),"                        \
    " total(max(reasoning_tokens, 0)), total(cost_nusd),"                                          \
    " total(kind IN ('llm','embedding') AND cost_nusd IS NULL), total(status = 'error')"
#define RU_SUM_UP                                                                                  \
    " CAST(sum(calls) AS INTEGER) AS calls, CAST(sum(input_tokens) AS INTEGER) AS input_tokens,"   \
    " CAST(sum(output_tokens) AS INTEGER) AS output_tokens,"                                       \
    " CAST(sum(cache_read_tokens) AS INTEGER) AS cache_read_tokens,"                               \
    " CAST(sum(cache_write_tokens) AS INTEGER) AS cache_write_tokens,"                             \
    " CAST(sum(reasoning_tokens) AS INTEGER) AS reasoning_tokens,"                                 \
    " CAST(sum(cost_nusd) AS INTEGER) AS cost_nusd, CAST(sum(unpriced) AS INTEGER) AS unpriced,"   \
    " CAST(sum(errors) AS INTEGER) AS errors"
#define RU_HOURLY_KEY                                                                              \
    " project, start_ns / 3600000000000, coalesce(model, response_model, ''),"                     \
    " coalesce(provider, ''), coalesce(version_set, ''), status"
static const char v5[] =
    "CREATE TABLE rollup_hourly_c ("
    " project TEXT NOT NULL, hour INTEGER NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,"
    " version_set TEXT NOT NULL, status TEXT NOT NULL," RU_SUMS
    " latency_hist BLOB, ttft_hist BLOB,"
    " PRIMARY KEY (project, hour, model, provider, version_set, status)) WITHOUT ROWID;"
    "CREATE TABLE rollup_daily_user_c ("
    " project TEXT NOT NULL, day INTEGER NOT NULL, user_id TEXT NOT NULL," RU_SUMS
    " PRIMARY KEY (project, day, user_id)) WITHOUT ROWID;"
    "CREATE TABLE rollup_daily_tenant_c ("
    " project TEXT NOT NULL, day INTEGER NOT NULL, tenant TEXT NOT NULL," RU_SUMS
    " PRIMARY KEY (project, day, tenant)) WITHOUT ROWID;"
    "INSERT INTO rollup_hourly_c SELECT" RU_HOURLY_KEY "," RU_COUNT
    ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms)"
    " FROM spans WHERE rowid < 0 GROUP BY 1, 2, 3, 4, 5, 6;"
    "INSERT INTO rollup_daily_user_c SELECT project, start_ns / 86400000000000, user_id," RU_COUNT
    " FROM spans WHERE rowid < 0 AND user_id IS NOT NULL GROUP BY 1, 2, 3;"
    "INSERT INTO rollup_daily_tenant_c SELECT project, start_ns / 86400000000000, tenant," RU_COUNT
    " FROM spans WHERE rowid < 0 AND tenant IS NOT NULL GROUP BY 1, 2, 3;"
    "CREATE VIEW rollup_hourly AS SELECT project, hour, model, provider, version_set, "
    "status," RU_SUM_UP ", llmtap_hist_sum(latency_hist) AS latency_hist,"
    " llmtap_hist_sum(ttft_hist) AS ttft_hist FROM ("
    " SELECT * FROM rollup_hourly_c UNION ALL"
    " SELECT" RU_HOURLY_KEY "," RU_COUNT
    ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms)"
    " FROM span_rows GROUP BY 1, 2, 3, 4, 5, 6)"
    " GROUP BY project, hour, model, provider, version_set, status;"
    "CREATE VIEW rollup_daily_user AS SELECT project, day, user_id," RU_SUM_UP " FROM ("
    " SELECT * FROM rollup_daily_user_c UNION ALL"
    " SELECT project, start_ns / 86400000000000, user_id," RU_COUNT
    " FROM span_rows WHERE user_id IS NOT NULL GROUP BY 1, 2, 3)"
    " GROUP BY project, day, user_id;"
    "CREATE VIEW rollup_daily_tenant AS SELECT project, day, tenant," RU_SUM_UP " FROM ("
    " SELECT * FROM rollup_daily_tenant_c UNION ALL"
    " SELECT project, start_ns / 86400000000000, tenant," RU_COUNT
    " FROM span_rows WHERE tenant IS NOT NULL GROUP BY 1, 2, 3)"
    " GROUP BY project, day, tenant;";

/* Version 6: full-text search over the distinct texts (store/fts.h; indexed
 * in the background from meta 'fts_upto' on) and per-project retention
 * (store/retention.h). */
static const char v6[] =
    "CREATE VIRTUAL TABLE text_fts USING fts5(body, content='', detail=none, columnsize=0,"
    " tokenize='llmtap');"
    "CREATE TABLE retention ("
    " project TEXT PRIMARY KEY, days INTEGER NOT NULL, set_ns INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 7: older texts packed together (store/textblock.h). */
static const char v7[] =
    "CREATE TABLE text_blocks ("
    " id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    " body BLOB NOT NULL);";

/* Version 8: a Bloom filter of the text ids each segment refers to, so a
 * search skips the segments that cannot hold its terms (NULL: older). */
static const char v8[] = "ALTER TABLE segments ADD COLUMN text_bloom BLOB;";

/* Version 9: a daily rollup keyed like the hourly one, so month-long
 * dashboards read thirty times fewer rows; filled from the hourly one. */
#define RU_DAILY_KEY                                                                               \
    " project, start_ns / 86400000000000, coalesce(model, response_model, ''),"                    \
    " coalesce(provider, ''), coalesce(version_set, ''), status"
static const char v9[] =
    "CREATE TABLE rollup_daily_c ("
    " project TEXT NOT NULL, day INTEGER NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,"
    " version_set TEXT NOT NULL, status TEXT NOT NULL," RU_SUMS
    " latency_hist BLOB, ttft_hist BLOB,"
    " PRIMARY KEY (project, day, model, provider, version_set, status)) WITHOUT ROWID;"
    "INSERT INTO rollup_daily_c SELECT project, hour / 24, model, provider, version_set, status,"
    " sum(calls), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),"
    " sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_nusd), sum(unpriced), sum(errors),"
    " llmtap_hist_sum(latency_hist), llmtap_hist_sum(ttft_hist)"
    " FROM rollup_hourly_c GROUP BY 1, 2, 3, 4, 5, 6;"
    "CREATE VIEW rollup_daily AS SELECT project, day, model, provider, version_set, "
    "status," RU_SUM_UP ", llmtap_hist_sum(latency_hist) AS latency_hist,"
    " llmtap_hist_sum(ttft_hist) AS ttft_hist FROM ("
    " SELECT * FROM rollup_daily_c UNION ALL"
    " SELECT" RU_DAILY_KEY "," RU_COUNT
    ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms)"
    " FROM span_rows GROUP BY 1, 2, 3, 4, 5, 6)"
    " GROUP BY project, day, model, provider, version_set, status;";

/* Version 10: the rollup views read their *_c table as it is, merging in
 * the hot rows' counts only for the keys the hot rows have (the views of
 * v5 re-aggregated every row of the table to add a few hot ones). */
#define RU_H_COLS                                                                                  \
    "calls,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,"      \
    "cost_nusd,unpriced,errors"
#define RU_PLUS(col) "CAST(h." col " + coalesce(c." col ", 0) AS INTEGER)"
/* The hot part's counts (h) plus the compacted row's (c, absent: 0). */
#define RU_MERGED                                                                                          \
    RU_PLUS("calls")                                                                                       \
    "," RU_PLUS("input_tokens") "," RU_PLUS("output_tokens") "," RU_PLUS("cache_read_tokens") "," RU_PLUS( \
        "cache_write_tokens") "," RU_PLUS("reasoning_tokens") "," RU_PLUS("cost_nusd") "," RU_PLUS("unpriced") "," RU_PLUS("errors")
/* h and c agree on the key of the views by time bucket 't' */
#define RU_SAME_KEY(t)                                                                             \
    "c.project = h.project AND c." t " = h." t " AND c.model = h.model AND c.provider = "          \
    "h.provider AND c.version_set = h.version_set AND c.status = h.status"
/* View 'name' over its table name_c, by time bucket 't' (selected by 'key') */
#define RU_VIEW(name, t, key)                                                                      \
    "DROP VIEW " name ";"                                                                          \
    "CREATE VIEW " name " AS WITH "                                                                \
    "h(project," t ",model,provider,version_set,status," RU_H_COLS ",latency_hist,ttft_hist) "     \
    "AS MATERIALIZED (SELECT" key "," RU_COUNT                                                     \
    ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms)"                               \
    " FROM span_rows GROUP BY 1, 2, 3, 4, 5, 6)"                                                   \
    " SELECT * FROM " name "_c c WHERE NOT EXISTS (SELECT 1 FROM h WHERE " RU_SAME_KEY(            \
        t) ")"                                                                                     \
           " UNION ALL SELECT h.project,h." t                                                      \
           ",h.model,h.provider,h.version_set,h.status," RU_MERGED                                 \
           ",llmtap_hist_merge(h.latency_hist, c.latency_hist),llmtap_hist_merge(h.ttft_hist, "    \
           "c.ttft_hist)"                                                                          \
           " FROM h LEFT JOIN " name "_c c ON " RU_SAME_KEY(t) ";"
/* The daily view 'name' by the one dimension 'dim' (without histograms) */
#define RU_DIM_VIEW(name, dim)                                                                     \
    "DROP VIEW " name ";"                                                                          \
    "CREATE VIEW " name " AS WITH "                                                                \
    "h(project,day," dim "," RU_H_COLS ") AS MATERIALIZED (SELECT"                                 \
    " project, start_ns / 86400000000000, " dim "," RU_COUNT " FROM span_rows WHERE " dim          \
    " IS NOT NULL GROUP BY 1, 2, 3)"                                                               \
    " SELECT * FROM " name "_c c WHERE NOT EXISTS (SELECT 1 FROM h WHERE c.project = "             \
    "h.project AND c.day = h.day AND c." dim " = h." dim ")"                                       \
    " UNION ALL SELECT h.project,h.day,h." dim "," RU_MERGED " FROM h LEFT JOIN " name             \
    "_c c ON c.project = h.project AND c.day = h.day AND c." dim " = h." dim ";"
static const char v10[] =
    RU_VIEW("rollup_hourly", "hour", RU_HOURLY_KEY) RU_VIEW("rollup_daily", "day", RU_DAILY_KEY)
        RU_DIM_VIEW("rollup_daily_user", "user_id") RU_DIM_VIEW("rollup_daily_tenant", "tenant");

/* Version 11: text blocks name the dictionary they were packed with
 * (text_block_dicts; 0: none) and their raw size, ahead of the body so
 * reading them does not walk the body's overflow pages. */
static const char v11[] =
    "CREATE TABLE text_block_dicts ("
    " id INTEGER PRIMARY KEY, created_ns INTEGER NOT NULL, samples INTEGER NOT NULL,"
    " dict BLOB NOT NULL);"
    "CREATE TABLE text_blocks_v11 ("
    " id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    " dict INTEGER NOT NULL DEFAULT 0, raw_len INTEGER NOT NULL DEFAULT 0, body BLOB NOT NULL);"
    "INSERT INTO text_blocks_v11(id, last_id, count, body)"
    " SELECT id, last_id, count, body FROM text_blocks;"
    "DROP TABLE text_blocks;"
    "ALTER TABLE text_blocks_v11 RENAME TO text_blocks;";

/* Version 12: segments by their newest start, so a newest-first read
 * (ORDER BY start_ns DESC) walks the index instead of sorting every
 * segment's row, Bloom filters and all (7.2 -> 0.9 ms for the newest 61
 * spans of a million). */
static const char v12[] = "CREATE INDEX segments_by_max_start ON segments(max_start);";

/* Version 13: budget rules (store/budgets.h; collector/budget.h enforces
 * them). (scope, subject, kind, period) is unique: setting it again
 * replaces the rule; ids are never reused (the ledger's reservations name
 * rules by id). Spend limits are nano-USD; a cap's NULL is "not
 * capped". The global breaker is on by default, at 5x the baseline. */
static const char v13[] =
    "CREATE TABLE budgets ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " scope TEXT NOT NULL CHECK (scope IN ('global', 'project', 'tenant', 'user')),"
    " subject TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('spend', 'cap', 'breaker')),"
    " period TEXT NOT NULL CHECK (period IN ('', 'minute', 'hour', 'day', 'month')),"
    " limit_nusd INTEGER, max_input_tokens INTEGER, max_tool_rounds INTEGER, factor REAL,"
    " created_ns INTEGER NOT NULL,"
    " UNIQUE (scope, subject, kind, period));"
    "INSERT INTO budgets(scope, subject, kind, period, factor, created_ns)"
    " VALUES ('global', '', 'breaker', 'hour', 5.0,"
    " CAST(strftime('%s', 'now') AS INTEGER) * 1000000000);";

/* Version 14: project ingest keys (store/keys.h): only a key's SHA-256 and
 * its first 10 characters are kept; a revoked key stays, marked. */
static const char v14[] =
    "CREATE TABLE ingest_keys ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT,"
    " hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_ns INTEGER NOT NULL,"
    " revoked_ns INTEGER);";

/* Version 15: the prompt registry (store/prompts.h): immutable versions
 * of each name, and labels that point at versions. */
static const char v15[] =
    "CREATE TABLE prompts ("
    " name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,"
    " created_ns INTEGER NOT NULL, PRIMARY KEY (name, version)) WITHOUT ROWID;"
    "CREATE TABLE prompt_labels ("
    " name TEXT NOT NULL, label TEXT NOT NULL, version INTEGER NOT NULL,"
    " set_ns INTEGER NOT NULL, PRIMARY KEY (name, label)) WITHOUT ROWID;";

/* Version 16: the evaluator's runs, cases, call cache and online rules
 * (store/evals.h), and an index to find a span's scores. */
static const char v16[] =
    "CREATE TABLE eval_runs ("
    " run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, started_ns INTEGER NOT NULL,"
    " finished_ns INTEGER NOT NULL, verdict TEXT NOT NULL, interrupted INTEGER NOT NULL,"
    " baseline TEXT, candidate TEXT, baseline_score REAL, candidate_score REAL,"
    " diff REAL, diff_lo REAL, diff_hi REAL, ncases INTEGER NOT NULL, repeats INTEGER NOT NULL,"
    " nvariants INTEGER NOT NULL, wins INTEGER, ties INTEGER, losses INTEGER, cost_usd REAL,"
    " summary TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX eval_runs_by_time ON eval_runs(finished_ns);"
    "CREATE TABLE eval_run_variants ("
    " run_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, prompt_name TEXT,"
    " prompt_version INTEGER, model TEXT, upstream TEXT, score REAL,"
    " PRIMARY KEY (run_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX eval_run_variants_by_prompt ON eval_run_variants(prompt_name, prompt_version);"
    "CREATE TABLE eval_cases ("
    " run_id TEXT NOT NULL, idx INTEGER NOT NULL, case_id TEXT NOT NULL, delta REAL,"
    " body TEXT NOT NULL, PRIMARY KEY (run_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE eval_cache ("
    " key BLOB PRIMARY KEY, status INTEGER NOT NULL, body BLOB NOT NULL,"
    " created_ns INTEGER NOT NULL, latency_ms REAL) WITHOUT ROWID;"
    "CREATE TABLE eval_online ("
    " name TEXT PRIMARY KEY, project TEXT NOT NULL, prompt_name TEXT, prompt_version INTEGER,"
    " sample REAL NOT NULL, scorers TEXT NOT NULL, upstream TEXT, model TEXT,"
    " created_ns INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX scores_by_span ON scores(project, trace_id, span_id);";

/* Version 17: replays (store/replays.h): a stored call re-run with another
 * prompt version; the new span carries replay_of, this row the comparison. */
static const char v17[] =
    "CREATE TABLE replays ("
    " id TEXT PRIMARY KEY, created_ns INTEGER NOT NULL, batch_id TEXT,"
    " project TEXT NOT NULL, orig_trace_id TEXT NOT NULL, orig_span_id TEXT NOT NULL,"
    " new_trace_id TEXT, new_span_id TEXT, prompt_name TEXT, prompt_version INTEGER,"
    " model TEXT, upstream TEXT, mode TEXT NOT NULL, status TEXT NOT NULL,"
    " summary TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX replays_by_orig ON replays(project, orig_trace_id, orig_span_id);"
    "CREATE INDEX replays_by_batch ON replays(batch_id);";

/* Version 18: alert rules, their state, history and webhook deliveries
 * (store/alerts.h). The seed's default: global hourly spend above 5x its
 * same-hour-of-week baseline. */
static const char v18[] =
    "CREATE TABLE alert_rules ("
    " name TEXT PRIMARY KEY, metric TEXT NOT NULL, scope TEXT NOT NULL, subject TEXT NOT NULL,"
    " window_s INTEGER NOT NULL, mode TEXT NOT NULL, threshold REAL NOT NULL, webhook TEXT,"
    " created_ns INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'OK',"
    " state_since_ns INTEGER, last_eval_ns INTEGER, last_value REAL, last_baseline REAL,"
    " firing_key TEXT) WITHOUT ROWID;"
    "CREATE TABLE alert_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, time_ns INTEGER NOT NULL,"
    " from_state TEXT NOT NULL, to_state TEXT NOT NULL, value REAL, baseline REAL,"
    " threshold REAL, dedup_key TEXT, payload TEXT);"
    "CREATE INDEX alert_events_by_rule ON alert_events(rule, id);"
    "CREATE TABLE alert_deliveries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER NOT NULL, rule TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, url TEXT NOT NULL, next_ns INTEGER NOT NULL, time_ns INTEGER,"
    " status INTEGER, error TEXT, outcome TEXT NOT NULL DEFAULT 'pending');"
    "CREATE INDEX alert_deliveries_by_event ON alert_deliveries(event_id, attempt);"
    "CREATE INDEX alert_deliveries_by_rule ON alert_deliveries(rule, id);"
    "CREATE INDEX alert_deliveries_pending ON alert_deliveries(next_ns) WHERE time_ns IS NULL;"
    "INSERT INTO alert_rules(name, metric, scope, subject, window_s, mode, threshold, created_ns)"
    " VALUES ('global-spend-spike', 'spend', 'global', '', 3600, 'anomaly', 5.0,"
    " CAST(strftime('%s', 'now') AS INTEGER) * 1000000000);";

/* Version 19: the hourly and daily rollups name their key (project, model,
 * provider, version_set, status: ~160 distinct in a month of traffic, ~90
 * bytes of text each) by an id in rollup_keys instead of repeating it in
 * every row; rows are ordered by time bucket, so new hours append. The old
 * names stay as views (rollup_hourly_c, rollup_daily_c: the compacted
 * counts), and the public views join the keys themselves. */
#define RU_K_SUMS                                                                                  \
    " c.calls, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,"        \
    " c.reasoning_tokens, c.cost_nusd, c.unpriced, c.errors, c.latency_hist, c.ttft_hist"
#define RU_K_NAMES " k.project, k.model, k.provider, k.version_set, k.status"
/* The keyed table 'tab' of the old table 'old' by time bucket 't' */
#define RU_KEYED(tab, old, t)                                                                      \
    "CREATE TABLE " tab " (key_id INTEGER NOT NULL, " t " INTEGER NOT NULL," RU_SUMS               \
    " latency_hist BLOB, ttft_hist BLOB, PRIMARY KEY (" t ", key_id)) WITHOUT ROWID;"              \
    "INSERT INTO " tab " SELECT k.id, c." t "," RU_K_SUMS " FROM " old " c JOIN rollup_keys k"     \
    " USING (project, model, provider, version_set, status) ORDER BY 2, 1;"                        \
    "DROP TABLE " old ";"                                                                          \
    "CREATE VIEW " old " AS SELECT k.project, c." t ", k.model, k.provider, k.version_set,"        \
    " k.status," RU_K_SUMS " FROM " tab " c JOIN rollup_keys k ON k.id = c.key_id;"
/* h and the key k + keyed row c agree on the key of the views by bucket 't' */
#define RU_K_SAME(t)                                                                               \
    "k.project = h.project AND k.model = h.model AND k.provider = h.provider AND"                  \
    " k.version_set = h.version_set AND k.status = h.status"
/* View 'name' over the keyed table 'tab' by time bucket 't' (selected by 'key') */
#define RU_KVIEW(name, tab, t, key)                                                                \
    "CREATE VIEW " name " AS WITH "                                                                \
    "h(project," t ",model,provider,version_set,status," RU_H_COLS ",latency_hist,ttft_hist) "     \
    "AS MATERIALIZED (SELECT" key "," RU_COUNT                                                     \
    ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms)"                               \
    " FROM span_rows GROUP BY 1, 2, 3, 4, 5, 6)"                                                   \
    " SELECT k.project, c." t ", k.model, k.provider, k.version_set, k.status," RU_K_SUMS          \
    " FROM " tab " c JOIN rollup_keys k ON k.id = c.key_id"                                        \
    " WHERE NOT EXISTS (SELECT 1 FROM h WHERE h." t " = c." t " AND " RU_K_SAME(                   \
        t) ")"                                                                                     \
           " UNION ALL SELECT h.project,h." t                                                      \
           ",h.model,h.provider,h.version_set,h.status," RU_MERGED                                 \
           ",llmtap_hist_merge(h.latency_hist, c.latency_hist),llmtap_hist_merge(h.ttft_hist,"     \
           " c.ttft_hist) FROM h LEFT JOIN rollup_keys k ON " RU_K_SAME(t) " LEFT JOIN " tab " c"  \
                                                                           " ON c." t " = h." t    \
                                                                           " AND c.key_id = k.id;"
static const char v19[] =
    "CREATE TABLE rollup_keys ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, model TEXT NOT NULL,"
    " provider TEXT NOT NULL, version_set TEXT NOT NULL, status TEXT NOT NULL,"
    " UNIQUE (project, model, provider, version_set, status));"
    "INSERT INTO rollup_keys(project, model, provider, version_set, status)"
    " SELECT project, model, provider, version_set, status FROM rollup_hourly_c UNION"
    " SELECT project, model, provider, version_set, status FROM rollup_daily_c;"
    "DROP VIEW rollup_hourly;"
    "DROP VIEW rollup_daily;" RU_KEYED("rollup_hourly_k", "rollup_hourly_c", "hour")
        RU_KEYED("rollup_daily_k", "rollup_daily_c", "day")
            RU_KVIEW("rollup_hourly", "rollup_hourly_k", "hour", RU_HOURLY_KEY)
                RU_KVIEW("rollup_daily", "rollup_daily_k", "day", RU_DAILY_KEY);

/* Version 20: the daily rollup by user the same way, its (project, user)
 * an id in rollup_users. */
#define RU_K_COUNTS                                                                                \
    " c.calls, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,"        \
    " c.reasoning_tokens, c.cost_nusd, c.unpriced, c.errors"
static const char v20[] =
    "CREATE TABLE rollup_users ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, user_id TEXT NOT NULL,"
    " UNIQUE (project, user_id));"
    "INSERT INTO rollup_users(project, user_id)"
    " SELECT DISTINCT project, user_id FROM rollup_daily_user_c;"
    "CREATE TABLE rollup_daily_user_k (key_id INTEGER NOT NULL, day INTEGER NOT NULL," RU_SUMS
    " PRIMARY KEY (day, key_id)) WITHOUT ROWID;"
    "INSERT INTO rollup_daily_user_k SELECT u.id, c.day," RU_K_COUNTS
    " FROM rollup_daily_user_c c JOIN rollup_users u USING (project, user_id) ORDER BY 2, 1;"
    "DROP VIEW rollup_daily_user;"
    "DROP TABLE rollup_daily_user_c;"
    "CREATE VIEW rollup_daily_user_c AS SELECT u.project, c.day, u.user_id," RU_K_COUNTS
    " FROM rollup_daily_user_k c JOIN rollup_users u ON u.id = c.key_id;"
    "CREATE VIEW rollup_daily_user AS WITH h(project,day,user_id," RU_H_COLS ") AS MATERIALIZED ("
    "SELECT project, start_ns / 86400000000000, user_id," RU_COUNT " FROM span_rows"
    " WHERE user_id IS NOT NULL GROUP BY 1, 2, 3)"
    " SELECT u.project, c.day, u.user_id," RU_K_COUNTS
    " FROM rollup_daily_user_k c JOIN rollup_users u ON u.id = c.key_id"
    " WHERE NOT EXISTS (SELECT 1 FROM h WHERE h.day = c.day AND h.project = u.project"
    " AND h.user_id = u.user_id)"
    " UNION ALL SELECT h.project, h.day, h.user_id," RU_MERGED
    " FROM h LEFT JOIN rollup_users u ON u.project = h.project AND u.user_id = h.user_id"
    " LEFT JOIN rollup_daily_user_k c ON c.day = h.day AND c.key_id = u.id;";

/* Version 21: a text block says whether it is packed cold (at
 * TEXTBLOCK_COLD_LEVEL, store/textblock.h), ahead of the body as in v11;
 * the warm ones are indexed, as the idle compactor takes them in order. */
static const char v21[] =
    "CREATE TABLE text_blocks_v21 ("
    " id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    " dict INTEGER NOT NULL DEFAULT 0, raw_len INTEGER NOT NULL DEFAULT 0,"
    " cold INTEGER NOT NULL DEFAULT 0, body BLOB NOT NULL);"
    "INSERT INTO text_blocks_v21(id, last_id, count, dict, raw_len, body)"
    " SELECT id, last_id, count, dict, raw_len, body FROM text_blocks;"
    "DROP TABLE text_blocks;"
    "ALTER TABLE text_blocks_v21 RENAME TO text_blocks;"
    "CREATE INDEX text_blocks_warm ON text_blocks(id) WHERE cold = 0;";

/* Version 22: a segment's Bloom filters after its other columns, the trace
 * filter first and the key filter last. SQLite walks the overflow pages of
 * every column before the one it reads, so a trace lookup used to page
 * through each segment's key filter (~21 KB) to reach its trace filter,
 * and a compaction step through both to read the tombstone count. */
static const char v22[] =
    "CREATE TABLE segments_v22 ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, nrows INTEGER NOT NULL,"
    " min_start INTEGER NOT NULL, max_start INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " tombstones INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL,"
    " trace_bloom BLOB NOT NULL, text_bloom BLOB, key_bloom BLOB NOT NULL);"
    "INSERT INTO segments_v22(id, project, nrows, min_start, max_start, bytes, tombstones,"
    " created_ns, trace_bloom, text_bloom, key_bloom)"
    " SELECT id, project, nrows, min_start, max_start, bytes, tombstones, created_ns,"
    " trace_bloom, text_bloom, key_bloom FROM segments;"
    "DROP TABLE segments;"
    "ALTER TABLE segments_v22 RENAME TO segments;"
    "CREATE INDEX segments_by_max_start ON segments(max_start);";

/* Version 23: a segment's column frames in one blob (store/segbody.h),
 * not a row each: a leaf page holding the first parts of a few large rows
 * of random sizes was a third empty. */
static const char v23[] =
    "CREATE TABLE segment_body (segment_id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
    "INSERT INTO segment_body(segment_id, body)"
    " SELECT segment_id, llmtap_segment_pack(col, data) FROM segment_cols GROUP BY segment_id;"
    "DROP TABLE segment_cols;";

/* Version 24: no key Bloom filter (12 bits a row; the writer looks a
 * resent span up by its trace filter), and a segment says whether it is
 * packed cold (at zstd 19, when the server was idle: store/segment.h). */
static const char v24[] =
    "CREATE TABLE segments_v24 ("
    " id INTEGER PRIMARY KEY, project TEXT NOT NULL, nrows INTEGER NOT NULL,"
    " min_start INTEGER NOT NULL, max_start INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " tombstones INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL,"
    " cold INTEGER NOT NULL DEFAULT 0, trace_bloom BLOB NOT NULL, text_bloom BLOB);"
    "INSERT INTO segments_v24(id, project, nrows, min_start, max_start, bytes, tombstones,"
    " created_ns, trace_bloom, text_bloom)"
    " SELECT id, project, nrows, min_start, max_start, bytes - length(key_bloom), tombstones,"
    " created_ns, trace_bloom, text_bloom FROM segments;"
    "DROP TABLE segments;"
    "ALTER TABLE segments_v24 RENAME TO segments;"
    "CREATE INDEX segments_by_max_start ON segments(max_start);";

/* Version 25: histograms in their 2026-12-04 layout (store/rollup.h), a
 * byte for a bucket of one call: the merge with nothing writes it anew. */
static const char v25[] =
    "UPDATE rollup_hourly_k SET latency_hist = llmtap_hist_merge(latency_hist, NULL),"
    " ttft_hist = llmtap_hist_merge(ttft_hist, NULL);"
    "UPDATE rollup_daily_k SET latency_hist = llmtap_hist_merge(latency_hist, NULL),"
    " ttft_hist = llmtap_hist_merge(ttft_hist, NULL);";

const char *const schema_migrations[] = {v1,  v2,  v3,  v4,  v5,  v6,  v7,  v8,  v9,
                                         v10, v11, v12, v13, v14, v15, v16, v17, v18,
                                         v19, v20, v21, v22, v23, v24, v25};
const size_t schema_migration_count = sizeof(schema_migrations) / sizeof(schema_migrations[0]);
