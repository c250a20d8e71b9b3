/*
 * chart: server-side SVG charts for the UI (DESIGN.md §8): stacked bars
 * (spend by day and model) and lines (a metric over time). The SVG is
 * inline in the page and needs no script or inline style: colours come from
 * classes ("series-0" … "series-7", "axis", "grid", "label") that the
 * stylesheet sets for the light and the dark scheme. Every bar and point
 * carries a <title> (the browser's tooltip) with its series, category and
 * value. All text (labels, series names) is XML-escaped: it may come from
 * traffic.
 *
 * Pure functions over the caller's arrays; thread-safe.
 */
#ifndef UI_CHART_H
#define UI_CHART_H

#include <stddef.h>

#include "core/buf.h"

#define CHART_MAX_SERIES 8 /* more are folded into the last one, named "other" */

/* How values read on the axis and in tooltips. */
enum chart_unit {
    CHART_COUNT, /* 1,234 · 12.3k · 4.5M */
    CHART_USD,   /* $0.0012 · $1.23 · $12.3k */
    CHART_MS,    /* 850 ms · 1.2 s */
    CHART_RATIO, /* 0.0–1.0 shown as 12.5 % */
};

struct chart_series {
    const char *name;     /* legend and tooltip text (escaped) */
    const double *values; /* one per category; NaN = no value (a gap in a line) */
};

struct chart {
    const char *title;             /* aria-label and <title> of the whole chart */
    const char *const *categories; /* x-axis labels, 'ncat' of them (escaped) */
    size_t ncat;
    const struct chart_series *series;
    size_t nseries;
    enum chart_unit unit;
    int width, height; /* the viewBox; the SVG scales to its container's width */
};

/* Append a stacked bar chart: one bar per category, the series stacked in
 * order, y axis from 0 to a round maximum with 4–6 labelled grid lines,
 * x labels thinned so they never overlap, a legend. Empty data (no
 * categories, or every value 0) draws the axes and "no data". Returns 0, or
 * BUF_TOOBIG from the buf. Negative and NaN values draw no segment. On
 * BUF_TOOBIG 'out' keeps what it held before the call: never half a chart. */
int chart_stacked_bars(struct buf *out, const struct chart *c) __attribute__((warn_unused_result));

/* Append a line chart: one polyline per series with a marker per point,
 * same axes and legend rules (the y axis starts at 0 unless every value is
 * far from it). Returns 0, or BUF_TOOBIG. Series past CHART_MAX_SERIES are
 * summed into "other" as for bars; no value at all draws "no data"; on
 * BUF_TOOBIG 'out' is left as it was. */
int chart_lines(struct buf *out, const struct chart *c) __attribute__((warn_unused_result));

/* Format 'v' in 'unit' as the axis and tooltips do, into 'dst' (always
 * NUL-terminated when 'n' > 0; 32 bytes always suffice); returns 'dst'.
 * Negative values get a "-" in front, NaN and infinities read "–". */
const char *chart_format(char *dst, size_t n, double v, enum chart_unit unit);

#endif
