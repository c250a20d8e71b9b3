/*
 * chart: what a user sees in the SVG. Stacked bars (a titled segment per
 * non-zero value, exact stacking, a nice axis in the chart's unit, thinned
 * x labels that never overlap, folding into "other"), lines (NaN gaps, the
 * axis start), "no data", escaping of traffic text, the buf ceiling, the
 * value formats; and every chart parses as well-formed XML with nothing
 * active in it (a small checker below, itself tested on bad input).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"
#include "ui/chart.h"

/* ---- a tiny XML checker ---- */

#define XML_DEPTH 32
#define XML_NAME 32
#define XML_ATTRS 16

static const char *xml_fail;

static int xml_is_name_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

/* Read a name at '*p' into 'name'; 0 when there is none. */
static int xml_name(const char **p, char *name)
{
    size_t n = 0;
    while (xml_is_name_char(**p, n == 0) && n + 1 < XML_NAME)
        name[n++] = *(*p)++;
    name[n] = '\0';
    return n > 0 && !xml_is_name_char(**p, 0);
}

/* Skip the entity at '*p' (on '&'); 0 when it is not one the chart may use. */
static int xml_entity(const char **p)
{
    static const char *const known[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strncmp(*p, known[i], strlen(known[i])) == 0) {
            *p += strlen(known[i]);
            return 1;
        }
    return 0;
}

/* Character data up to the next '<': no raw '>', entities known. */
static int xml_text(const char **p)
{
    while (**p && **p != '<') {
        if (**p == '>')
            return 0;
        if (**p == '&') {
            if (!xml_entity(p))
                return 0;
        } else
            (*p)++;
    }
    return 1;
}

/* Attributes up to '>' or "/>": name="value", double quotes, no
 * duplicates, no style and no event handler. Sets '*empty' for "/>". */
static int xml_attrs(const char **p, int *empty)
{
    char names[XML_ATTRS][XML_NAME];
    size_t n = 0;
    for (;;) {
        int space = **p == ' ';
        while (**p == ' ')
            (*p)++;
        if (**p == '>' || (**p == '/' && (*p)[1] == '>')) {
            *empty = **p == '/';
            *p += *empty ? 2 : 1;
            return 1;
        }
        if (!space || n == XML_ATTRS || !xml_name(p, names[n]))
            return (xml_fail = "bad attribute name"), 0;
        if (strcmp(names[n], "style") == 0 || strncmp(names[n], "on", 2) == 0)
            return (xml_fail = "active attribute"), 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], names[n]) == 0)
                return (xml_fail = "duplicate attribute"), 0;
        n++;
        if (**p != '=' || (*p)[1] != '"')
            return (xml_fail = "unquoted attribute"), 0;
        *p += 2;
        while (**p && **p != '"' && **p != '<') {
            if (**p != '&')
                (*p)++;
            else if (!xml_entity(p))
                return (xml_fail = "bad entity in attribute"), 0;
        }
        if (**p != '"')
            return (xml_fail = "unterminated attribute"), 0;
        (*p)++;
    }
}

/* NULL when 's' is one well-formed element with nothing active in it,
 * else what is wrong. */
static const char *xml_check(const char *s)
{
    char stack[XML_DEPTH][XML_NAME], name[XML_NAME];
    int depth = 0, roots = 0, empty;
    const char *p = s;
    xml_fail = NULL;
    while (*p) {
        if (*p != '<') {
            if (depth == 0 || !xml_text(&p))
                return "bad text";
            continue;
        }
        p++;
        if (*p == '/') {
            p++;
            if (!xml_name(&p, name) || *p != '>' || depth == 0 ||
                strcmp(stack[depth - 1], name) != 0)
                return "unbalanced end tag";
            p++;
            depth--;
            continue;
        }
        if (!xml_name(&p, name))
            return "bad element name";
        if (!strcmp(name, "script") || !strcmp(name, "style") || !strcmp(name, "foreignObject"))
            return "active element";
        if (!xml_attrs(&p, &empty))
            return xml_fail;
        if (depth == 0 && roots++ > 0)
            return "second root";
        if (empty)
            continue;
        if (depth == XML_DEPTH)
            return "too deep";
        strcpy(stack[depth++], name);
    }
    return depth == 0 && roots == 1 ? NULL : "unclosed element";
}

/* ---- rendering and reading charts ---- */

enum kind { BARS, LINES };

/* The chart as a string (caller frees); fails the test unless it rendered
 * and is well-formed. */
static char *render(enum kind kind, const struct chart *c)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    int rc = kind == BARS ? chart_stacked_bars(&b, c) : chart_lines(&b, c);
    ck_assert_int_eq(rc, 0);
    char *svg = buf_take(&b, NULL);
    const char *why = xml_check(svg);
    ck_assert_msg(why == NULL, "not well-formed (%s): %s", why, svg);
    ck_assert_msg(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ", 52) == 0,
                  "%s", svg);
    ck_assert_ptr_nonnull(strstr(svg, "class=\"chart\" role=\"img\" aria-label=\""));
    ck_assert_ptr_nonnull(strstr(svg, "<title>"));
    return svg;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* The number in attribute 'name' of the tag starting at 'tag'. */
static double attr_num(const char *tag, const char *name)
{
    char key[32];
    snprintf(key, sizeof(key), " %s=\"", name);
    const char *end = strchr(tag, '>'), *at = strstr(tag, key);
    ck_assert_msg(at && at < end, "no %s in %.80s", name, tag);
    return strtod(at + strlen(key), NULL);
}

/* The texts of group 'cls' ("x-labels", "y-labels"): up to 'max' contents
 * into 'text' (each of 'size' bytes), their x into 'xs'; returns how many. */
static size_t group_texts(const char *svg, const char *cls, char (*text)[64], double *xs,
                          size_t max)
{
    char open[64];
    snprintf(open, sizeof(open), "<g class=\"%s\">", cls);
    const char *p = strstr(svg, open);
    ck_assert_msg(p != NULL, "no %s", cls);
    const char *end = strstr(p, "</g>");
    size_t n = 0;
    for (p = strstr(p, "<text"); p && p < end && n < max; p = strstr(p + 1, "<text")) {
        const char *from = strchr(p, '>') + 1, *to = strstr(from, "</text>");
        snprintf(text[n], 64, "%.*s", (int)(to - from), from);
        xs[n++] = attr_num(p, "x");
    }
    return n;
}

/* Characters shown by escaped text: a UTF-8 sequence or an entity is one. */
static size_t shown_chars(const char *s)
{
    size_t n = 0;
    for (; *s; n++) {
        if (*s == '&')
            s = strchr(s, ';') + 1;
        else
            for (s++; (*s & 0xc0) == 0x80; s++)
                ;
    }
    return n;
}

static int is_nice_step(double step)
{
    double k = pow(10, floor(log10(step))), m = step / k;
    return fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 2.5) < 1e-6 || fabs(m - 5) < 1e-6;
}

/* ---- fixtures ---- */

static const char *const days[] = {"2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04",
                                   "2024-05-05"};
static const double spend_a[] = {1.5, 2, 0, 3.25, 1};
static const double spend_b[] = {0.5, 0, 1, 0.75, 2};
static const double spend_c[] = {0.02, 0.1, 0.3, 0, 1.2};
static const struct chart_series spend[] = {
    {"gpt-4o", spend_a}, {"claude-sonnet", spend_b}, {"gemini-flash", spend_c}};

static struct chart spend_chart(void)
{
    struct chart c = {"Spend by day", days, 5, spend, 3, CHART_USD, 600, 240};
    return c;
}

/* ---- chart_format ---- */

START_TEST(test_format_reads_as_the_table_says)
{
    static const struct {
        double v;
        enum chart_unit unit;
        const char *want;
    } cases[] = {
        {0, CHART_COUNT, "0"},
        {12, CHART_COUNT, "12"},
        {12.34, CHART_COUNT, "12.3"},
        {0.5, CHART_COUNT, "0.5"},
        {1234, CHART_COUNT, "1,234"},
        {999.96, CHART_COUNT, "1,000"},
        {9999.6, CHART_COUNT, "10k"},
        {12300, CHART_COUNT, "12.3k"},
        {123456, CHART_COUNT, "123k"},
        {999999, CHART_COUNT, "1M"},
        {4.5e6, CHART_COUNT, "4.5M"},
        {1.2e9, CHART_COUNT, "1.2B"},
        {-1234, CHART_COUNT, "-1,234"},
        {0, CHART_USD, "$0"},
        {0.0012, CHART_USD, "$0.0012"},
        {0.001234, CHART_USD, "$0.0012"},
        {0.05, CHART_USD, "$0.05"},
        {1.234, CHART_USD, "$1.23"},
        {2, CHART_USD, "$2"},
        {2.5, CHART_USD, "$2.50"},
        {99.999, CHART_USD, "$100"},
        {123, CHART_USD, "$123"},
        {999.6, CHART_USD, "$1,000"},
        {1234, CHART_USD, "$1,234"},
        {12345, CHART_USD, "$12.3k"},
        {1.2e6, CHART_USD, "$1.2M"},
        {-1.23, CHART_USD, "-$1.23"},
        {-1e-13, CHART_USD, "$0"},
        {0, CHART_MS, "0 ms"},
        {850, CHART_MS, "850 ms"},
        {999.96, CHART_MS, "1 s"},
        {1000, CHART_MS, "1 s"},
        {1200, CHART_MS, "1.2 s"},
        {119000, CHART_MS, "119 s"},
        {120000, CHART_MS, "2 min"},
        {150000, CHART_MS, "2.5 min"},
        {7200000, CHART_MS, "2 h"},
        {0.125, CHART_RATIO, "12.5 %"},
        {0, CHART_RATIO, "0 %"},
        {1, CHART_RATIO, "100 %"},
        {0.0004, CHART_RATIO, "0.04 %"},
        {-0.5, CHART_RATIO, "-50 %"},
        {NAN, CHART_COUNT, "\xe2\x80\x93"},
        {NAN, CHART_USD, "\xe2\x80\x93"},
        {INFINITY, CHART_MS, "\xe2\x80\x93"},
    };
    char s[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_str_eq(chart_format(s, sizeof(s), cases[i].v, cases[i].unit), cases[i].want);
}
END_TEST

START_TEST(test_format_stays_inside_small_and_huge_cases)
{
    char s[32], tiny[4] = "xyz";
    ck_assert_str_eq(chart_format(tiny, sizeof(tiny), 1234, CHART_COUNT), "1,2");
    ck_assert_str_eq(chart_format(tiny, 0, 1234, CHART_COUNT), "1,2"); /* untouched */
    ck_assert_uint_lt(strlen(chart_format(s, sizeof(s), -1e300, CHART_USD)), sizeof(s) - 1);
    ck_assert_uint_lt(strlen(chart_format(s, sizeof(s), 1e300, CHART_MS)), sizeof(s) - 1);
    ck_assert_uint_lt(strlen(chart_format(s, sizeof(s), -1e300, CHART_RATIO)), sizeof(s) - 1);
    ck_assert_str_eq(chart_format(s, sizeof(s), 3e-7, CHART_USD), "$0.0000003");
}
END_TEST

/* ---- stacked bars ---- */

START_TEST(test_bars_have_one_titled_segment_per_nonzero_value)
{
    struct chart c = spend_chart();
    char *svg = render(BARS, &c);
    ck_assert_uint_eq(count(svg, "<rect class=\"series-"), 15 - 3);
    ck_assert_uint_eq(count(svg, "<title>"), 1 + 12);
    ck_assert_uint_eq(count(svg, "<rect class=\"swatch series-"), 3);
    ck_assert_ptr_nonnull(strstr(svg, "<title>gpt-4o \xc2\xb7 2024-05-01 \xc2\xb7 $1.50</title>"));
    ck_assert_ptr_nonnull(
        strstr(svg, "<title>claude-sonnet \xc2\xb7 2024-05-05 \xc2\xb7 $2</title>"));
    ck_assert_ptr_nonnull(
        strstr(svg, "<title>gemini-flash \xc2\xb7 2024-05-01 \xc2\xb7 $0.02</title>"));
    ck_assert_ptr_null(strstr(svg, "gpt-4o \xc2\xb7 2024-05-03")); /* the 0 is left out */
    ck_assert_ptr_null(strstr(svg, "style"));
    free(svg);
}
END_TEST

START_TEST(test_bars_segments_stack_on_each_other)
{
    struct chart c = spend_chart();
    char *svg = render(BARS, &c);
    double base = attr_num(strstr(svg, "<line class=\"axis\""), "y1");
    double bar_x = -1, below = 0;
    size_t bars = 0, last_series = 0;
    for (const char *p = strstr(svg, "<rect class=\"series-"); p;
         p = strstr(p + 1, "<rect class=\"series-")) {
        size_t series = strtoul(p + strlen("<rect class=\"series-"), NULL, 10);
        double x = attr_num(p, "x"), y = attr_num(p, "y"), h = attr_num(p, "height");
        ck_assert_double_gt(h, 0);
        if (x != bar_x) { /* a new bar starts on the base line */
            ck_assert_double_gt(x, bar_x);
            ck_assert_double_eq_tol(y + h, base, 0.11);
            bar_x = x;
            bars++;
        } else { /* the next series sits on the one below */
            ck_assert_uint_gt(series, last_series);
            ck_assert_double_eq_tol(y + h, below, 0.11);
        }
        below = y;
        last_series = series;
    }
    ck_assert_uint_eq(bars, 5);
    free(svg);
}
END_TEST

START_TEST(test_bars_axis_is_a_nice_maximum_in_the_unit)
{
    struct chart c = spend_chart();
    char *svg = render(BARS, &c), text[16][64];
    double xs[16];
    size_t n = group_texts(svg, "y-labels", text, xs, 16);
    ck_assert_uint_ge(n, 4);
    ck_assert_uint_le(n, 6);
    ck_assert_uint_eq(count(svg, "<line class=\"grid\""), n - 1);
    ck_assert_str_eq(text[0], "$0");
    double step = strtod(text[1] + 1, NULL);
    ck_assert(is_nice_step(step));
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(text[i][0] == '$', "label %s", text[i]);
        ck_assert_double_eq_tol(strtod(text[i] + 1, NULL), (double)i * step, 1e-9);
    }
    double top = strtod(text[n - 1] + 1, NULL);
    ck_assert_double_ge(top, 4.2); /* the tallest stack, 2024-05-05 */
    ck_assert_double_lt(top - step, 4.2);
    free(svg);
}
END_TEST

/* Any maximum gets 4 to 6 labels at a 1/2/2.5/5 x 10^k step, the top as
 * low as that allows. */
START_TEST(test_axis_steps_are_nice_for_any_maximum)
{
    static const char *const one[] = {"day"};
    for (double max = 1; max < 9000; max = max * 1.07 + 1) {
        double v[] = {max};
        struct chart_series s = {"n", v};
        struct chart c = {"count", one, 1, &s, 1, CHART_COUNT, 600, 240};
        char *svg = render(BARS, &c), text[16][64];
        double xs[16], vals[16];
        size_t n = group_texts(svg, "y-labels", text, xs, 16);
        ck_assert_msg(n >= 4 && n <= 6, "max %g: %zu labels", max, n);
        for (size_t i = 0; i < n; i++) {
            char *comma = strchr(text[i], ','), *end;
            if (comma)
                memmove(comma, comma + 1, strlen(comma));
            vals[i] = strtod(text[i], &end) * (*end == 'k' ? 1000 : 1);
        }
        double step = vals[1] - vals[0];
        ck_assert_double_eq(vals[0], 0);
        ck_assert_msg(is_nice_step(step) && step >= 1, "max %g: step %g", max, step);
        for (size_t i = 1; i < n; i++)
            ck_assert_double_eq_tol(vals[i] - vals[i - 1], step, 1e-9);
        ck_assert_double_ge(vals[n - 1], max);
        ck_assert_msg(n == 4 || vals[n - 1] - step < max, "max %g: top %g", max, vals[n - 1]);
        free(svg);
    }
}
END_TEST

/* 30 days: on a narrow chart only every k-th label shows, none touching
 * another and all inside the viewBox; on a wide one all of them. */
START_TEST(test_x_labels_thin_out_and_never_overlap)
{
    char names[30][24];
    const char *cats[30];
    double v[30];
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof(names[i]), "2024-05-%02d", i + 1);
        cats[i] = names[i];
        v[i] = i % 7 + 1;
    }
    struct chart_series s = {"requests", v};
    struct chart c = {"Requests", cats, 30, &s, 1, CHART_COUNT, 300, 200};
    for (int kind = BARS; kind <= LINES; kind++) {
        char *svg = render(kind, &c), text[40][64];
        double xs[40];
        size_t n = group_texts(svg, "x-labels", text, xs, 40);
        ck_assert_uint_ge(n, 2);
        ck_assert_uint_lt(n, 30);
        ck_assert_str_eq(text[0], "2024-05-01");
        for (size_t i = 0; i < n; i++) {
            double w = (double)shown_chars(text[i]) * 7;
            ck_assert_double_ge(xs[i] - w / 2, 0);
            ck_assert_double_le(xs[i] + w / 2, 300);
            if (i > 0) {
                double prev_w = (double)shown_chars(text[i - 1]) * 7;
                ck_assert_msg(xs[i - 1] + prev_w / 2 <= xs[i] - w / 2, "labels %zu and %zu overlap",
                              i - 1, i);
            }
        }
        free(svg);
    }
    c.width = 3000;
    char *svg = render(BARS, &c), text[40][64];
    double xs[40];
    ck_assert_uint_eq(group_texts(svg, "x-labels", text, xs, 40), 30);
    free(svg);
}
END_TEST

static void ten_series(struct chart_series *s, char (*names)[24], double (*v)[2])
{
    for (int j = 0; j < 10; j++) {
        snprintf(names[j], 24, "model-%d", j);
        v[j][0] = j + 1;
        v[j][1] = 1;
        s[j].name = names[j];
        s[j].values = v[j];
    }
}

START_TEST(test_ten_series_fold_into_eight_with_other)
{
    static const char *const cats[] = {"mon", "tue"};
    struct chart_series s[10];
    char names[10][24];
    double v[10][2];
    ten_series(s, names, v);
    struct chart c = {"Tokens", cats, 2, s, 10, CHART_COUNT, 800, 240};
    for (int kind = BARS; kind <= LINES; kind++) {
        char *svg = render(kind, &c);
        ck_assert_uint_eq(count(svg, "<rect class=\"swatch series-"), 8);
        ck_assert_ptr_nonnull(strstr(svg, ">model-6</text>"));
        ck_assert_ptr_nonnull(strstr(svg, ">other</text>"));
        ck_assert_ptr_null(strstr(svg, "model-7"));
        ck_assert_ptr_null(strstr(svg, "series-8"));
        ck_assert_ptr_nonnull(strstr(svg, "<title>other \xc2\xb7 mon \xc2\xb7 27</title>"));
        ck_assert_ptr_nonnull(strstr(svg, "<title>other \xc2\xb7 tue \xc2\xb7 3</title>"));
        if (kind == BARS)
            ck_assert_uint_eq(count(svg, "<rect class=\"series-"), 16);
        else
            ck_assert_uint_eq(count(svg, "<circle class=\"series-"), 16);
        free(svg);
    }
}
END_TEST

START_TEST(test_empty_data_draws_axes_and_no_data)
{
    static const double zeros[] = {0, 0, 0, 0, 0};
    static const double gaps[] = {NAN, NAN, NAN, NAN, NAN};
    struct chart_series zs = {"zero", zeros}, gs = {"gaps", gaps};
    struct chart none = {"Nothing", NULL, 0, NULL, 0, CHART_USD, 600, 240};
    struct chart zero = {"Zero", days, 5, &zs, 1, CHART_USD, 600, 240};
    struct chart gap = {"Gaps", days, 5, &gs, 1, CHART_MS, 600, 240};
    const struct {
        enum kind kind;
        const struct chart *c;
    } cases[] = {{BARS, &none}, {LINES, &none}, {BARS, &zero}, {LINES, &gap}, {BARS, &gap}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *svg = render(cases[i].kind, cases[i].c);
        ck_assert_uint_eq(count(svg, ">no data</text>"), 1);
        ck_assert_uint_eq(count(svg, "<line class=\"axis\""), 2);
        ck_assert_ptr_null(strstr(svg, "class=\"series-"));
        ck_assert_ptr_null(strstr(svg, "<polyline"));
        free(svg);
    }
    /* a flat line at 0 is data */
    char *svg = render(LINES, &zero);
    ck_assert_ptr_null(strstr(svg, "no data"));
    ck_assert_uint_eq(count(svg, "<polyline"), 1);
    free(svg);
}
END_TEST

/* ---- lines ---- */

START_TEST(test_line_gap_splits_the_line_in_two)
{
    static const double v[] = {120, 340, NAN, 410, 380};
    struct chart_series s = {"p95", v};
    struct chart c = {"Latency", days, 5, &s, 1, CHART_MS, 600, 240};
    char *svg = render(LINES, &c);
    ck_assert_uint_eq(count(svg, "<polyline class=\"series-0\""), 2);
    for (const char *p = strstr(svg, "points=\""); p; p = strstr(p + 1, "points=\"")) {
        const char *end = strchr(p + 8, '"');
        size_t pairs = 0;
        for (const char *q = p; q < end; q++)
            pairs += *q == ',';
        ck_assert_uint_eq(pairs, 2);
    }
    ck_assert_uint_eq(count(svg, "<circle class=\"series-0\""), 4);
    ck_assert_ptr_nonnull(strstr(svg, "<title>p95 \xc2\xb7 2024-05-04 \xc2\xb7 410 ms</title>"));
    free(svg);

    static const double lone[] = {1, NAN, 3, NAN, 5}; /* points, no line */
    s.values = lone;
    svg = render(LINES, &c);
    ck_assert_ptr_null(strstr(svg, "<polyline"));
    ck_assert_uint_eq(count(svg, "<circle class=\"series-0\""), 3);
    free(svg);
}
END_TEST

/* The first y label of a line chart over 'v' (5 values). */
static void first_y_label(const double *v, enum chart_unit unit, char *dst)
{
    struct chart_series s = {"v", v};
    struct chart c = {"v", days, 5, &s, 1, unit, 600, 240};
    char *svg = render(LINES, &c), text[16][64];
    double xs[16];
    size_t n = group_texts(svg, "y-labels", text, xs, 16);
    ck_assert_uint_ge(n, 4);
    ck_assert_uint_le(n, 6);
    strcpy(dst, text[0]);
    free(svg);
}

START_TEST(test_line_axis_starts_near_the_values_only_when_far_from_zero)
{
    static const double far[] = {900, 1010, 980, 1100, 950};
    static const double near[] = {400, 1010, 980, 1000, 950};
    static const double ratio[] = {0.1, 0.2, 0.3, 0.25, 0.15};
    static const double negative[] = {-5, 2, 10, 4, 0};
    char first[64];
    first_y_label(far, CHART_MS, first);
    ck_assert_str_eq(first, "900 ms");
    first_y_label(near, CHART_MS, first);
    ck_assert_str_eq(first, "0 ms");
    first_y_label(ratio, CHART_RATIO, first);
    ck_assert_str_eq(first, "0 %");
    first_y_label(negative, CHART_COUNT, first);
    ck_assert_msg(first[0] == '-', "%s", first);
}
END_TEST

/* ---- text from traffic ---- */

START_TEST(test_traffic_text_is_escaped)
{
    static const char *const cats[] = {"\"><img src=x onerror=alert(1)>", "ok"};
    static const double v[] = {1, 2};
    struct chart_series s[] = {{"<script>alert(1)</script>", v}, {"bad\xff\x01name\xe2\x82", v}};
    struct chart c = {"Spend & \"cost\" <by> 'model'", cats, 2, s, 2, CHART_USD, 600, 240};
    for (int kind = BARS; kind <= LINES; kind++) {
        char *svg = render(kind, &c); /* checks: no on* attribute, no script */
        ck_assert_ptr_null(strstr(svg, "<script"));
        ck_assert_ptr_null(strstr(svg, "<img"));
        ck_assert_ptr_nonnull(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
        ck_assert_ptr_nonnull(strstr(svg, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        ck_assert_ptr_nonnull(
            strstr(svg, "aria-label=\"Spend &amp; &quot;cost&quot; &lt;by&gt; &#39;model&#39;\""));
        ck_assert_ptr_nonnull(strstr(svg, "bad\xef\xbf\xbd name\xef\xbf\xbd\xef\xbf\xbd<"));
        free(svg);
    }
}
END_TEST

START_TEST(test_long_text_is_cut_and_utf8_kept_whole)
{
    static const char *const cats[] = {"日本語のとても長いカテゴリー名はここで切れます"};
    static const double v[] = {3};
    struct chart_series s = {"モデル", v};
    struct chart c = {"長い", cats, 1, &s, 1, CHART_COUNT, 600, 240};
    char *svg = render(BARS, &c), text[4][64];
    double xs[4];
    ck_assert_uint_eq(group_texts(svg, "x-labels", text, xs, 4), 1);
    ck_assert_uint_eq(shown_chars(text[0]), 20);
    ck_assert_str_eq(text[0] + strlen(text[0]) - 3, "\xe2\x80\xa6"); /* an ellipsis */
    ck_assert_ptr_nonnull(strstr(svg, ">モデル</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "カテゴリー名はここで切れます \xc2\xb7 3</title>"));
    free(svg);
}
END_TEST

/* ---- the ceiling ---- */

/* Every ceiling below the chart's size fails cleanly and leaves what the
 * buf held; the exact size fits. */
static void check_ceiling(enum kind kind, const struct chart *c)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(kind == BARS ? chart_stacked_bars(&b, c) : chart_lines(&b, c), 0);
    size_t need = b.len;
    buf_release(&b);
    for (size_t max = 4; max <= need + 4; max += max + 13 < need + 4 ? 13 : 1) {
        buf_init(&b, max);
        ck_assert_int_eq(buf_puts(&b, "keep"), 0);
        int rc = kind == BARS ? chart_stacked_bars(&b, c) : chart_lines(&b, c);
        if (max < need + 4) {
            ck_assert_int_eq(rc, BUF_TOOBIG);
            ck_assert_uint_eq(b.len, 4);
            ck_assert_str_eq(buf_str(&b), "keep");
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(b.len, need + 4);
        }
        buf_release(&b);
    }
}

START_TEST(test_buf_ceiling_gives_toobig_and_keeps_the_buf)
{
    static const double v[] = {120, 340, NAN, 410, 380};
    struct chart_series s = {"p95", v};
    struct chart lines = {"Latency", days, 5, &s, 1, CHART_MS, 600, 240};
    struct chart bars = spend_chart();
    check_ceiling(BARS, &bars);
    check_ceiling(LINES, &lines);
}
END_TEST

/* ---- the checker can fail ---- */

START_TEST(test_xml_checker_rejects_what_is_not_wellformed)
{
    static const char *const bad[] = {
        "<a><b></a>",
        "<a x=1/>",
        "<a x=\"1\"",
        "<a>&foo;</a>",
        "<a>x > y</a>",
        "<a/><b/>",
        "<a onload=\"x\"/>",
        "<a style=\"x\"/>",
        "<a><script/></a>",
        "<a x=\"1\" x=\"2\"/>",
        "<a>",
        "text<a/>",
        "<a x=\"<\"/>",
        "<a x=\"1\"y=\"2\"/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(xml_check(bad[i]) != NULL, "accepted %s", bad[i]);
    ck_assert_ptr_null(xml_check("<a x=\"1 &amp; 2\"><b/>t &lt; u<c y=\"\"></c></a>"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("chart");
    TCase *tc = tcase_create("chart");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_reads_as_the_table_says);
    tcase_add_test(tc, test_format_stays_inside_small_and_huge_cases);
    tcase_add_test(tc, test_bars_have_one_titled_segment_per_nonzero_value);
    tcase_add_test(tc, test_bars_segments_stack_on_each_other);
    tcase_add_test(tc, test_bars_axis_is_a_nice_maximum_in_the_unit);
    tcase_add_test(tc, test_axis_steps_are_nice_for_any_maximum);
    tcase_add_test(tc, test_x_labels_thin_out_and_never_overlap);
    tcase_add_test(tc, test_ten_series_fold_into_eight_with_other);
    tcase_add_test(tc, test_empty_data_draws_axes_and_no_data);
    tcase_add_test(tc, test_line_gap_splits_the_line_in_two);
    tcase_add_test(tc, test_line_axis_starts_near_the_values_only_when_far_from_zero);
    tcase_add_test(tc, test_traffic_text_is_escaped);
    tcase_add_test(tc, test_long_text_is_cut_and_utf8_kept_whole);
    tcase_add_test(tc, test_buf_ceiling_gives_toobig_and_keeps_the_buf);
    tcase_add_test(tc, test_xml_checker_rejects_what_is_not_wellformed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
