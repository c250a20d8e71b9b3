/*
 * chart: SVG stacked bars and line charts (see chart.h).
 *
 * Output goes through a sticky-error writer ('struct out'): after the first
 * BUF_TOOBIG every further append is skipped, and the render then rolls the
 * buf back to its length on entry, so a caller never holds half a chart.
 *
 * Geometry, in viewBox units: the legend rows sit at the top, the plot area
 * is [left, right] x [top, bottom], the y labels are left of it and the x
 * labels below. Values map linearly from the scale [lo, hi] (hi > lo, a
 * whole number of nice steps) onto [bottom, top]. Category i owns the slot
 * [left + i*slot, left + (i+1)*slot]; its bar and its line points are
 * centred in it. Coordinates are printed with one decimal at most, and a
 * bar's segments share their rounded edges, so stacks stay exact.
 */
#include "ui/chart.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define CHAR_PX 7.0   /* advance of one character at the 11 px label font */
#define LABEL_GAP 8.0 /* least room between two x labels */
#define PAD 8.0       /* outer margin */
#define LEGEND_ROW 16.0
#define SWATCH 10.0
#define XLABEL_MAX 20  /* characters shown of a category label */
#define LEGEND_MAX 28  /* characters shown of a series name in the legend */
#define TITLE_MAX 200  /* characters shown of any text in a tooltip or title */
#define VALUE_MAX 1e15 /* values are clamped here: sums stay finite, labels short */
#define DASH "\xe2\x80\x93"
#define MIDDOT " \xc2\xb7 "
#define ELLIPSIS "\xe2\x80\xa6"
#define REPLACEMENT "\xef\xbf\xbd"

enum kind { KIND_BARS, KIND_LINES };

struct out {
    struct buf *b;
    int err; /* the first failure; 0 while every append succeeded */
};

struct plot {
    const struct chart *c;
    size_t nser; /* <= CHART_MAX_SERIES after folding */
    const char *names[CHART_MAX_SERIES];
    const double *vals[CHART_MAX_SERIES]; /* NULL: no values */
    double *other;                        /* owned: the folded series' sums, or NULL */
    int has_data;
    double lo, hi, step; /* the y scale */
    int nticks;          /* labelled values, lo and hi included */
    double w, h;         /* the viewBox */
    double left, right, top, bottom;
};

/* ---- the writer ---- */

static void o_append(struct out *o, const char *s, size_t n)
{
    if (!o->err)
        o->err = buf_append(o->b, s, n);
}

static void o_puts(struct out *o, const char *s)
{
    o_append(o, s, strlen(s));
}

static void o_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void o_printf(struct out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    o->err = buf_vprintf(o->b, fmt, ap);
    va_end(ap);
}

/* 'v' to one decimal; adding 0.0 turns -0 into 0. */
static double round1(double v)
{
    return round(v * 10.0) / 10.0 + 0.0;
}

/* A coordinate: one decimal, none when it is a whole number. */
static void o_num(struct out *o, double v)
{
    double r = round1(v);
    if (r == floor(r))
        o_printf(o, "%.0f", r);
    else
        o_printf(o, "%.1f", r);
}

static void o_attr(struct out *o, const char *name, double v)
{
    o_printf(o, " %s=\"", name);
    o_num(o, v);
    o_puts(o, "\"");
}

/* ---- text: XML escaping over validated UTF-8 ---- */

/* Length of the well-formed UTF-8 sequence at 's' (1 to 4), or 0. Stops at
 * the terminator, which is never a continuation byte. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned lo = 0x80, hi = 0xbf;
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0; /* overlong */
    else if (s[0] == 0xed)
        hi = 0x9f; /* surrogates */
    else if (s[0] == 0xf0)
        lo = 0x90; /* overlong */
    else if (s[0] == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* How many characters 's' shows (an invalid byte shows as one U+FFFD). */
static size_t text_chars(const char *s)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = utf8_len(p);
        p += len ? len : 1;
        n++;
    }
    return n;
}

/* What replaces the character at 'p' ('len' from utf8_len), or NULL when
 * it is copied as is. Controls are not allowed in XML: they become spaces. */
static const char *escape_of(const unsigned char *p, size_t len)
{
    if (len == 0)
        return REPLACEMENT;
    switch (*p) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    }
    if (*p < 0x20 || *p == 0x7f)
        return " ";
    return NULL;
}

/* Append 's' (NULL reads as "") escaped for XML text and attribute values,
 * at most 'max' characters of it; a cut one ends in an ellipsis. */
static void o_text(struct out *o, const char *s, size_t max)
{
    if (!s)
        s = "";
    size_t shown = text_chars(s);
    int cut = shown > max;
    if (cut)
        shown = max - 1;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (size_t i = 0; i < shown; i++) {
        size_t len = utf8_len(p);
        const char *esc = escape_of(p, len);
        if (!esc) {
            p += len;
            continue;
        }
        o_append(o, (const char *)run, (size_t)(p - run));
        o_puts(o, esc);
        p += len ? len : 1;
        run = p;
    }
    o_append(o, (const char *)run, (size_t)(p - run));
    if (cut)
        o_puts(o, ELLIPSIS);
}

/* ---- chart_format ---- */

/* Drop the trailing zeros of a decimal fraction, and a bare point. */
static void trim_zeros(char *s)
{
    if (!strchr(s, '.'))
        return;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '0')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '.')
        s[n - 1] = '\0';
}

/* 0 < 'a' < 1 with two significant digits ("0.0012", "0.5"). */
static void fmt_small(char *dst, size_t n, double a)
{
    int decimals = 1 - (int)floor(log10(a));
    if (decimals > 10)
        decimals = 10;
    snprintf(dst, n, "%.*f", decimals, a);
    trim_zeros(dst);
}

/* 'a' < 1000 with one decimal at most ("12.3", "850"), or two
 * significant digits below 1. */
static void fmt_plain(char *dst, size_t n, double a)
{
    if (a == 0)
        snprintf(dst, n, "0");
    else if (a < 1)
        fmt_small(dst, n, a);
    else {
        snprintf(dst, n, "%.1f", round1(a));
        trim_zeros(dst);
    }
}

/* 1000 <= 'a' < 10000, rounded, with a thousands separator ("1,234"). */
static void fmt_grouped(char *dst, size_t n, double a)
{
    long long r = llround(a);
    snprintf(dst, n, "%lld,%03lld", r / 1000, r % 1000);
}

/* 'a' >= 10000 as "12.3k", "123k", "4.5M", "1.2B", "3T". */
static void fmt_scaled(char *dst, size_t n, double a)
{
    static const char suffix[] = "kMBT";
    double unit = 1e3;
    size_t i = 0;
    for (;;) {
        double s = a / unit;
        double r = s < 100 ? round1(s) : round(s);
        if (r < 1000 || i == sizeof(suffix) - 2) {
            snprintf(dst, n, r < 100 ? "%.1f" : "%.0f", r);
            trim_zeros(dst);
            size_t len = strlen(dst);
            snprintf(dst + len, n - len, "%c", suffix[i]);
            return;
        }
        unit *= 1e3;
        i++;
    }
}

static void fmt_count(char *dst, size_t n, double a)
{
    if (round1(a) < 1000)
        fmt_plain(dst, n, a);
    else if (round(a) < 10000)
        fmt_grouped(dst, n, a);
    else
        fmt_scaled(dst, n, a);
}

static void fmt_usd(char *dst, size_t n, double a)
{
    char num[32];
    if (a < 0.1)
        fmt_plain(num, sizeof(num), a);
    else if (round(a * 100) / 100 < 100) {
        snprintf(num, sizeof(num), "%.2f", a);
        size_t len = strlen(num);
        if (len > 3 && strcmp(num + len - 3, ".00") == 0)
            num[len - 3] = '\0';
    } else if (round(a) < 1000)
        snprintf(num, sizeof(num), "%.0f", a);
    else
        fmt_count(num, sizeof(num), round(a));
    snprintf(dst, n, "$%s", num);
}

/* Milliseconds up to 999, then seconds below 120, minutes below 120, hours. */
static void fmt_ms(char *dst, size_t n, double a)
{
    static const struct {
        const char *name;
        double limit, per_next;
    } units[] = {{"ms", 1000, 1000}, {"s", 120, 60}, {"min", 120, 60}, {"h", INFINITY, 1}};
    char num[32];
    size_t u = 0;
    while (round1(a) >= units[u].limit) {
        a /= units[u].per_next;
        u++;
    }
    fmt_count(num, sizeof(num), a);
    snprintf(dst, n, "%s %s", num, units[u].name);
}

static void fmt_ratio(char *dst, size_t n, double a)
{
    char num[32];
    fmt_count(num, sizeof(num), a * 100);
    snprintf(dst, n, "%s %%", num);
}

const char *chart_format(char *dst, size_t n, double v, enum chart_unit unit)
{
    char num[48];
    if (n == 0)
        return dst;
    if (!isfinite(v)) {
        snprintf(dst, n, "%s", DASH);
        return dst;
    }
    double a = fmin(fabs(v), VALUE_MAX);
    if (a < 1e-10)
        a = 0;
    switch (unit) {
    case CHART_USD:
        fmt_usd(num, sizeof(num), a);
        break;
    case CHART_MS:
        fmt_ms(num, sizeof(num), a);
        break;
    case CHART_RATIO:
        fmt_ratio(num, sizeof(num), a);
        break;
    case CHART_COUNT:
    default:
        fmt_count(num, sizeof(num), a);
        break;
    }
    snprintf(dst, n, "%s%s", v < 0 && a > 0 ? "-" : "", num);
    return dst;
}

/* ---- the data: folding, ranges, the scale ---- */

/* NaN for no value; finite values are clamped so that sums stay finite,
 * and specks are 0 so that a scale never needs more than 10 decimals. */
static double clamp_value(double v)
{
    if (!isfinite(v))
        return NAN;
    if (fabs(v) < 1e-12)
        return 0;
    return fmax(-VALUE_MAX, fmin(VALUE_MAX, v));
}

static double value(const struct plot *p, size_t s, size_t i)
{
    return p->vals[s] ? clamp_value(p->vals[s][i]) : NAN;
}

static const char *category(const struct plot *p, size_t i)
{
    const char *const *cats = p->c->categories;
    return cats && cats[i] ? cats[i] : "";
}

/* Take the first series as they are; past CHART_MAX_SERIES, the last slot
 * becomes "other", the sum of the rest (NaN where none has a value). */
static void plot_fold(struct plot *p, const struct chart *c)
{
    size_t n = c->series ? c->nseries : 0;
    size_t keep = n > CHART_MAX_SERIES ? CHART_MAX_SERIES - 1 : n;
    for (size_t s = 0; s < keep; s++) {
        p->names[s] = c->series[s].name ? c->series[s].name : "";
        p->vals[s] = c->series[s].values;
    }
    p->nser = keep;
    if (n <= CHART_MAX_SERIES)
        return;
    p->other = xmalloc(c->ncat * sizeof(double));
    for (size_t i = 0; i < c->ncat; i++) {
        double sum = NAN;
        for (size_t s = keep; s < n; s++) {
            double v = c->series[s].values ? clamp_value(c->series[s].values[i]) : NAN;
            if (!isnan(v))
                sum = isnan(sum) ? v : clamp_value(sum + v);
        }
        p->other[i] = sum;
    }
    p->names[keep] = "other";
    p->vals[keep] = p->other;
    p->nser = CHART_MAX_SERIES;
}

/* Bars stack the positive values from 0; the tallest stack is the range. */
static int range_bars(const struct plot *p, double *lo, double *hi)
{
    *lo = 0;
    *hi = 0;
    for (size_t i = 0; i < p->c->ncat; i++) {
        double sum = 0;
        for (size_t s = 0; s < p->nser; s++) {
            double v = value(p, s, i);
            if (v > 0)
                sum += v;
        }
        *hi = fmax(*hi, sum);
    }
    return *hi > 0;
}

/* Lines span their values and 0, unless the values are far from 0: then
 * the axis starts near the least of them. */
static int range_lines(const struct plot *p, double *lo, double *hi)
{
    double mn = INFINITY, mx = -INFINITY;
    for (size_t s = 0; s < p->nser; s++)
        for (size_t i = 0; i < p->c->ncat; i++) {
            double v = value(p, s, i);
            if (!isnan(v)) {
                mn = fmin(mn, v);
                mx = fmax(mx, v);
            }
        }
    if (mn > mx)
        return 0;
    *lo = mn > 0 && mn > 0.5 * mx ? mn : fmin(mn, 0);
    *hi = fmax(mx, 0);
    if (*hi == *lo && *lo == 0)
        *hi = 1;
    else if (*hi == *lo) {
        *lo = 0.9 * mn;
        *hi = 1.1 * mx;
    }
    return 1;
}

/* The smallest step of 1, 2, 2.5 or 5 x 10^k that covers [lo, hi] in at
 * most 5 steps, with at least 3 (the top is raised); counts step by whole
 * numbers. That gives 4 to 6 labelled values. */
static void scale_fit(struct plot *p, double lo, double hi)
{
    static const double mult[] = {1, 2, 2.5, 5};
    int k = (int)floor(log10(hi - lo)) - 1;
    if (p->c->unit == CHART_COUNT && k < 0)
        k = 0;
    for (;; k++)
        for (size_t m = 0; m < sizeof(mult) / sizeof(mult[0]); m++) {
            double step = mult[m] * pow(10, k);
            double l = floor(lo / step + 1e-9) * step;
            double t = ceil(hi / step - 1e-9) * step;
            int n = (int)round((t - l) / step);
            if (n > 5)
                continue;
            if (n < 3)
                n = 3;
            p->lo = l;
            p->step = step;
            p->hi = l + n * step;
            p->nticks = n + 1;
            return;
        }
}

static double ypix(const struct plot *p, double v)
{
    return p->bottom - (v - p->lo) / (p->hi - p->lo) * (p->bottom - p->top);
}

static double slot_width(const struct plot *p)
{
    return (p->right - p->left) / (double)p->c->ncat;
}

static double slot_centre(const struct plot *p, size_t i)
{
    return p->left + ((double)i + 0.5) * slot_width(p);
}

/* ---- layout ---- */

static int legend(struct out *o, const struct plot *p);

/* The viewBox (0 or nonsense sizes get sane ones) and the plot area. */
static void plot_layout(struct plot *p)
{
    const struct chart *c = p->c;
    p->w = c->width > 0 ? fmin(fmax(c->width, 160), 4000) : 600;
    p->h = c->height > 0 ? fmin(fmax(c->height, 100), 2000) : 240;
    int rows = legend(NULL, p);
    p->top = rows ? PAD + rows * LEGEND_ROW + 8 : 12;
    p->bottom = p->h - 24;
    double widest = 0;
    char s[64];
    for (int i = 0; p->has_data && i < p->nticks; i++) {
        chart_format(s, sizeof(s), p->lo + i * p->step, c->unit);
        widest = fmax(widest, (double)text_chars(s) * CHAR_PX);
    }
    p->left = fmin(fmax(widest + 10, 24), p->w / 3);
    p->right = p->w - 12;
}

static void plot_init(struct plot *p, const struct chart *c, enum kind kind)
{
    double lo, hi;
    memset(p, 0, sizeof(*p));
    p->c = c;
    plot_fold(p, c);
    if (kind == KIND_BARS)
        p->has_data = range_bars(p, &lo, &hi);
    else
        p->has_data = range_lines(p, &lo, &hi);
    if (p->has_data)
        scale_fit(p, lo, hi);
    plot_layout(p);
}

static void plot_release(struct plot *p)
{
    free(p->other);
    p->other = NULL;
}

/* ---- drawing ---- */

static void draw_open(struct out *o, const struct plot *p)
{
    const char *title = p->c->title ? p->c->title : "chart";
    o_puts(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
    o_num(o, p->w);
    o_puts(o, " ");
    o_num(o, p->h);
    o_puts(o, "\" class=\"chart\" role=\"img\" aria-label=\"");
    o_text(o, title, TITLE_MAX);
    o_puts(o, "\"><title>");
    o_text(o, title, TITLE_MAX);
    o_puts(o, "</title>");
}

static void legend_item(struct out *o, size_t s, const char *name, double x, double y)
{
    o_printf(o, "<rect class=\"swatch series-%zu\"", s);
    o_attr(o, "x", x);
    o_attr(o, "y", y);
    o_attr(o, "width", SWATCH);
    o_attr(o, "height", SWATCH);
    o_puts(o, "/><text class=\"legend\"");
    o_attr(o, "x", x + SWATCH + 4);
    o_attr(o, "y", y + SWATCH - 1);
    o_puts(o, ">");
    o_text(o, name, LEGEND_MAX);
    o_puts(o, "</text>");
}

/* Lay the legend out in rows from the top left and draw it when 'o' is not
 * NULL; returns the rows used. The legend takes at most a third of the
 * height: items past that are left out (their names stay in tooltips). */
static int legend(struct out *o, const struct plot *p)
{
    if (!p->has_data || p->nser == 0)
        return 0;
    int max_rows = (int)fmax(1, floor(p->h / 3 / LEGEND_ROW)), row = 0;
    double x = PAD;
    if (o)
        o_puts(o, "<g class=\"legend\">");
    for (size_t s = 0; s < p->nser; s++) {
        size_t chars = text_chars(p->names[s]);
        double w = SWATCH + 4 + (double)(chars < LEGEND_MAX ? chars : LEGEND_MAX) * CHAR_PX;
        if (x > PAD && x + w > p->w - PAD) {
            x = PAD;
            row++;
        }
        if (row == max_rows)
            break;
        if (o)
            legend_item(o, s, p->names[s], x, PAD + row * LEGEND_ROW);
        x += w + 14;
    }
    if (o)
        o_puts(o, "</g>");
    return row < max_rows ? row + 1 : max_rows;
}

static void draw_hline(struct out *o, const char *cls, double x1, double x2, double y)
{
    o_printf(o, "<line class=\"%s\"", cls);
    o_attr(o, "x1", x1);
    o_attr(o, "y1", y);
    o_attr(o, "x2", x2);
    o_attr(o, "y2", y);
    o_puts(o, "/>");
}

/* Grid lines above the base line, and the y labels in the chart's unit. */
static void draw_grid(struct out *o, const struct plot *p)
{
    char s[64];
    for (int i = 1; i < p->nticks; i++)
        draw_hline(o, "grid", p->left, p->right, ypix(p, p->lo + i * p->step));
    o_puts(o, "<g class=\"y-labels\">");
    for (int i = 0; i < p->nticks; i++) {
        double v = p->lo + i * p->step;
        o_puts(o, "<text class=\"label\"");
        o_attr(o, "x", p->left - 6);
        o_attr(o, "y", ypix(p, v) + 4);
        o_puts(o, " text-anchor=\"end\">");
        o_text(o, chart_format(s, sizeof(s), v, p->c->unit), TITLE_MAX);
        o_puts(o, "</text>");
    }
    o_puts(o, "</g>");
}

static void draw_axes(struct out *o, const struct plot *p)
{
    draw_hline(o, "axis", p->left, p->right, p->bottom);
    o_puts(o, "<line class=\"axis\"");
    o_attr(o, "x1", p->left);
    o_attr(o, "y1", p->top);
    o_attr(o, "x2", p->left);
    o_attr(o, "y2", p->bottom);
    o_puts(o, "/>");
}

static double label_width(const char *s)
{
    size_t chars = text_chars(s);
    return (double)(chars < XLABEL_MAX ? chars : XLABEL_MAX) * CHAR_PX;
}

/* Every k-th category label, k chosen so that the widest label fits; a
 * label pushed inside the viewBox that would then touch the one before is
 * skipped, so no two ever overlap. */
static void draw_xlabels(struct out *o, const struct plot *p)
{
    size_t n = p->c->ncat;
    if (n == 0)
        return;
    double slot = slot_width(p), widest = 0, prev = -INFINITY;
    for (size_t i = 0; i < n; i++)
        widest = fmax(widest, label_width(category(p, i)));
    double every = ceil((widest + LABEL_GAP) / slot);
    size_t k = every < 1 ? 1 : every > (double)n ? n : (size_t)every;
    o_puts(o, "<g class=\"x-labels\">");
    for (size_t i = 0; i < n; i += k) {
        const char *cat = category(p, i);
        double w = label_width(cat);
        double x = fmin(fmax(slot_centre(p, i), w / 2 + 2), p->w - w / 2 - 2);
        if (x - w / 2 < prev + LABEL_GAP)
            continue;
        prev = x + w / 2;
        o_puts(o, "<text class=\"label\"");
        o_attr(o, "x", x);
        o_attr(o, "y", p->bottom + 16);
        o_puts(o, " text-anchor=\"middle\">");
        o_text(o, cat, XLABEL_MAX);
        o_puts(o, "</text>");
    }
    o_puts(o, "</g>");
}

/* "series · category · value", the browser's tooltip for a bar or a point. */
static void draw_tooltip(struct out *o, const struct plot *p, size_t s, size_t i, double v)
{
    char num[64];
    o_puts(o, "<title>");
    o_text(o, p->names[s], TITLE_MAX);
    o_puts(o, MIDDOT);
    o_text(o, category(p, i), TITLE_MAX);
    o_puts(o, MIDDOT);
    o_text(o, chart_format(num, sizeof(num), v, p->c->unit), TITLE_MAX);
    o_puts(o, "</title>");
}

/* One bar: its segments bottom-up, each from the rounded top of the one
 * below; segments that would be less than a rounding step high are left
 * out (zero values among them). */
static void draw_bar(struct out *o, const struct plot *p, size_t i)
{
    double slot = slot_width(p), width = slot * 0.7, sum = 0;
    double x = p->left + (double)i * slot + (slot - width) / 2;
    double below = round1(p->bottom);
    for (size_t s = 0; s < p->nser; s++) {
        double v = value(p, s, i);
        if (!(v > 0))
            continue;
        sum += v;
        double y = round1(ypix(p, sum));
        if (below - y < 0.05)
            continue;
        o_printf(o, "<rect class=\"series-%zu\"", s);
        o_attr(o, "x", x);
        o_attr(o, "y", y);
        o_attr(o, "width", width);
        o_attr(o, "height", below - y);
        o_puts(o, ">");
        draw_tooltip(o, p, s, i, v);
        o_puts(o, "</rect>");
        below = y;
    }
}

/* One polyline per run of two or more values: a NaN ends a run. */
static void draw_polylines(struct out *o, const struct plot *p, size_t s)
{
    size_t n = p->c->ncat, i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && !isnan(value(p, s, end)))
            end++;
        if (end - i >= 2) {
            o_printf(o, "<polyline class=\"series-%zu\" points=\"", s);
            for (size_t j = i; j < end; j++) {
                if (j > i)
                    o_puts(o, " ");
                o_num(o, slot_centre(p, j));
                o_puts(o, ",");
                o_num(o, ypix(p, value(p, s, j)));
            }
            o_puts(o, "\"/>");
        }
        i = end + 1;
    }
}

static void draw_markers(struct out *o, const struct plot *p, size_t s)
{
    for (size_t i = 0; i < p->c->ncat; i++) {
        double v = value(p, s, i);
        if (isnan(v))
            continue;
        o_printf(o, "<circle class=\"series-%zu\"", s);
        o_attr(o, "cx", slot_centre(p, i));
        o_attr(o, "cy", ypix(p, v));
        o_puts(o, " r=\"3\">");
        draw_tooltip(o, p, s, i, v);
        o_puts(o, "</circle>");
    }
}

static void draw_nodata(struct out *o, const struct plot *p)
{
    o_puts(o, "<text class=\"nodata\"");
    o_attr(o, "x", (p->left + p->right) / 2);
    o_attr(o, "y", (p->top + p->bottom) / 2);
    o_puts(o, " text-anchor=\"middle\">no data</text>");
}

static void draw_data(struct out *o, const struct plot *p, enum kind kind)
{
    if (kind == KIND_BARS) {
        for (size_t i = 0; i < p->c->ncat; i++)
            draw_bar(o, p, i);
        return;
    }
    for (size_t s = 0; s < p->nser; s++)
        draw_polylines(o, p, s);
    for (size_t s = 0; s < p->nser; s++)
        draw_markers(o, p, s);
}

/* Paint order: grid under the data, axes over it. On failure 'b' gets its
 * old length back. */
static int render(struct buf *b, const struct chart *c, enum kind kind)
{
    assert(b && c);
    struct out o = {b, 0};
    struct plot p;
    size_t start = b->len;
    plot_init(&p, c, kind);
    draw_open(&o, &p);
    if (p.has_data) {
        (void)legend(&o, &p);
        draw_grid(&o, &p);
        draw_data(&o, &p, kind);
    }
    draw_axes(&o, &p);
    draw_xlabels(&o, &p);
    if (!p.has_data)
        draw_nodata(&o, &p);
    o_puts(&o, "</svg>");
    plot_release(&p);
    if (o.err) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return o.err;
}

int chart_stacked_bars(struct buf *out, const struct chart *c)
{
    return render(out, c, KIND_BARS);
}

int chart_lines(struct buf *out, const struct chart *c)
{
    return render(out, c, KIND_LINES);
}
