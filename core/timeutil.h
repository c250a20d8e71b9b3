/*
 * timeutil: wall and monotonic clocks in nanoseconds, and ISO-8601 parsing
 * (Langfuse timestamps, completionStartTime). Thread-safe.
 */
#ifndef CORE_TIMEUTIL_H
#define CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ns(void);  /* CLOCK_REALTIME, unix ns */
int64_t time_mono_ns(void); /* CLOCK_MONOTONIC */

/* Parse "2026-03-02T14:05:07.120Z", "...+02:00", "... 14:05:07" (UTC assumed)
 * or a date alone into unix ns. Returns 0, or -1 when not such a time. */
int time_parse_iso(const char *s, int64_t *ns);

/* Format unix ns as "2026-03-02T14:05:07.120Z" into 'out' (>= 32 bytes). */
void time_format_iso(int64_t ns, char *out, size_t outlen);

/* Parse a duration like "500ms", "30s", "5m", "24h", "7d" into ns; -1 if bad. */
int time_parse_duration(const char *s, int64_t *ns);

/* A point in time as users write it: ISO 8601 (time_parse_iso), a
 * duration meaning that long before 'now_ns' ("24h", "7d"), or unix ns as
 * digits (19 of them). Returns 0, or -1 when it is none of these. */
int time_parse_when(const char *s, int64_t now_ns, int64_t *ns);

#endif
