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

const char *const schema_migrations[] = {v1, v2, v3, v4};
const size_t schema_migration_count = sizeof(schema_migrations) / sizeof(schema_migrations[0]);
