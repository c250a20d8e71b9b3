/*
 * spantab: `spans`, the one SQL table over hot rows and columnar segments
 * (DESIGN.md §3 columns, plus extras; add columns, never rename). An
 * eponymous virtual table: every connection store_open makes has it, a
 * plain sqlite3 shell does not.
 *
 * xBestIndex pushes down project =, trace_id =, span_id =, start_ns
 * ranges and = on model, provider, status, user_id, session_id, tenant and
 * version_set: hot rows are read with those in their WHERE clause; segments
 * are skipped by their zone maps (project, start-time range, trace Bloom
 * filter) and their rows filtered while decoding (before SQLite sees them). Only the columns the
 * query uses (colUsed) are decoded. SQLite re-checks every constraint, so
 * pushdown changes speed, never results. Rows come hot first, then
 * segments in id order; without ORDER BY the order is unspecified.
 */
#ifndef STORE_SPANTAB_H
#define STORE_SPANTAB_H

#include <sqlite3.h>

#include "store/texts.h"

/* Register `spans` on 'db'; 'texts' (borrowed, must outlive 'db''s use of
 * the table) decodes input and output. Returns SQLITE_OK or an error code. */
int spantab_register(sqlite3 *db, struct texts_reader *texts);

#endif
