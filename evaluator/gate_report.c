/*
 * gate_report: the writers of gate.h — JUnit XML, Markdown, JSON and the
 * terminal summary — over a report and its gate_result.
 *
 * Text from outputs is untrusted: it may hold markup, control characters
 * and bytes that are not UTF-8. Every writer walks it code point by code
 * point (utf8_next); an invalid byte becomes U+FFFD, so each document is
 * valid UTF-8 whatever the model answered. XML drops the characters XML 1.0
 * forbids, Markdown escapes table and HTML syntax, JSON escapes through
 * buf_json_str.
 */
#include "evaluator/gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmem.h"

#define REPORT_XML_TEXT_MAX 16384 /* bytes of an output kept in <system-out> */
#define REPORT_MD_OUTPUT_MAX 160  /* code points of an output in the worst-case table */
#define REPORT_MD_VARS_MAX 80
#define REPORT_MD_WORST 10

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Decode the code point at 's' (n > 0 bytes left). Returns its length, or
 * 0 when the bytes there are not UTF-8 (overlong, surrogate, truncated,
 * above U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80                   ? 1
                 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                 : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                               : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_next(p + i, n - i, &cp);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* A copy of 's' with every invalid byte replaced by U+FFFD; caller frees. */
static char *utf8_repair(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;
    char *out = xmalloc(3 * n + 1);
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_next(p + i, n - i, &cp);
        if (len == 0) {
            memcpy(out + o, replacement, 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

/* ---- shared formatting ---------------------------------------------------- */

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* "420 ms" (ms 1) or "0.712" (ms 0), "n/a" for NAN. */
static const char *fmt_num(char *out, size_t len, int ms, double x)
{
    if (isnan(x) || isinf(x))
        snprintf(out, len, "n/a");
    else if (ms)
        snprintf(out, len, "%.0f ms", x);
    else
        snprintf(out, len, "%.3f", x);
    return out;
}

/* "$0.0123", or six decimals below a cent ("$0.000003"). */
static const char *fmt_usd(char *out, size_t len, double usd)
{
    snprintf(out, len, usd > 0 && usd < 0.01 ? "$%.6f" : "$%.4f", usd);
    return out;
}

/* A p-value with three significant digits, "n/a" for NAN. */
static const char *fmt_p(char *out, size_t len, double p)
{
    if (isnan(p))
        snprintf(out, len, "n/a");
    else
        snprintf(out, len, "%.3g", p);
    return out;
}

/* "0.712 [0.680, 0.744]" */
static const char *fmt_interval(char *out, size_t len, const struct stats_interval *iv)
{
    if (isnan(iv->mean))
        snprintf(out, len, "n/a");
    else
        snprintf(out, len, "%.3f [%.3f, %.3f]", iv->mean, iv->lo, iv->hi);
    return out;
}

static const char *fmt_pct(char *out, size_t len, double x)
{
    if (isnan(x))
        snprintf(out, len, "n/a");
    else
        snprintf(out, len, "%.1f%%", 100 * x);
    return out;
}

static const char *variant_name(const struct eval_report *r, size_t v)
{
    static const char *fallback[] = {"baseline", "candidate"};
    if (r->variants[v].name)
        return r->variants[v].name;
    return v < 2 ? fallback[v] : "variant";
}

/* ---- JUnit XML ------------------------------------------------------------ */

static int xml_allowed(uint32_t c)
{
    return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
           (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* Write at most 'max' bytes of 's' as XML character data (attr: as an
 * attribute value, where newlines and tabs must be character references). */
static void xml_put(FILE *f, const char *s, size_t max, int attr)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    uint32_t c;
    for (size_t i = 0; i < n && i < max;) {
        size_t len = utf8_next(p + i, n - i, &c);
        if (len == 0) {
            fputs(replacement, f);
            i++;
            continue;
        }
        if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (attr && (c == '\n' || c == '\r' || c == '\t'))
            fprintf(f, "&#%u;", (unsigned)c);
        else if (xml_allowed(c))
            fwrite(p + i, 1, len, f);
        i += len;
    }
    if (n > max)
        fputs(" [truncated]", f);
}

enum junit_status { JUNIT_PASS, JUNIT_FAILURE, JUNIT_ERROR };

/* The status of case 'c' for variant 'v' under scorer 's' (SIZE_MAX: the
 * call alone) over its repeats; *rep the repeat that decided it. */
static enum junit_status junit_status(const struct eval_report *r, size_t c, size_t v, size_t s,
                                      int *rep)
{
    enum junit_status st = JUNIT_PASS;
    *rep = 0;
    for (int k = 0; k < r->repeats; k++) {
        const struct eval_output *o = eval_output_at(r, c, v, k);
        const struct eval_score *sc = s == SIZE_MAX || !o->ok ? NULL : eval_score_at(r, c, v, k, s);
        if (!o->ok || (sc && sc->error)) {
            *rep = k;
            return JUNIT_ERROR;
        }
        if (sc && !sc->pass && st == JUNIT_PASS) {
            *rep = k;
            st = JUNIT_FAILURE;
        }
    }
    return st;
}

static size_t junit_scorers(const struct eval_report *r)
{
    return r->nscorers ? r->nscorers : 1; /* no scorer: one testcase for the call */
}

static size_t junit_scorer_index(const struct eval_report *r, size_t s)
{
    return r->nscorers ? s : SIZE_MAX;
}

/* Count the failures and errors of variant 'v'. */
static void junit_counts(const struct eval_report *r, size_t v, size_t *fail, size_t *err)
{
    *fail = *err = 0;
    int rep;
    for (size_t c = 0; c < r->ncases; c++) {
        for (size_t s = 0; s < junit_scorers(r); s++) {
            enum junit_status st = junit_status(r, c, v, junit_scorer_index(r, s), &rep);
            *fail += st == JUNIT_FAILURE;
            *err += st == JUNIT_ERROR;
        }
    }
}

/* The <failure>/<error> element and the output of a testcase that did not pass. */
static void junit_problem(FILE *f, const struct eval_report *r, size_t c, size_t v, size_t s,
                          enum junit_status st, int rep)
{
    const struct eval_output *o = eval_output_at(r, c, v, rep);
    const struct eval_score *sc = s == SIZE_MAX || !o->ok ? NULL : eval_score_at(r, c, v, rep, s);
    char head[128] = "";
    if (r->repeats > 1)
        snprintf(head, sizeof(head), "run %d of %d: ", rep + 1, r->repeats);
    fprintf(f, "      <%s message=\"", st == JUNIT_ERROR ? "error" : "failure");
    xml_put(f, head, sizeof(head), 1);
    if (!o->ok) {
        fputs("call failed: ", f);
        xml_put(f, o->error ? o->error : "unknown error", REPORT_XML_TEXT_MAX, 1);
    } else if (sc && sc->error) {
        fputs("scorer failed: ", f);
        xml_put(f, sc->reason ? sc->reason : "no reason given", REPORT_XML_TEXT_MAX, 1);
    } else if (sc) {
        fprintf(f, "value %.3f below threshold %.3f", sc->value, r->scorers[s].threshold);
        if (sc->reason) {
            fputs(": ", f);
            xml_put(f, sc->reason, REPORT_XML_TEXT_MAX, 1);
        }
    }
    fprintf(f, "\" type=\"%s\"/>\n", st == JUNIT_ERROR ? "error" : "score");
    if (o->ok && o->text) {
        fputs("      <system-out>", f);
        xml_put(f, o->text, REPORT_XML_TEXT_MAX, 0);
        fputs("</system-out>\n", f);
    }
}

static void junit_testcase(FILE *f, const struct eval_report *r, size_t c, size_t v, size_t s)
{
    double secs = 0;
    for (int k = 0; k < r->repeats; k++)
        secs += eval_output_at(r, c, v, k)->latency_ms / 1000;
    fputs("    <testcase classname=\"", f);
    xml_put(f, r->suite, REPORT_XML_TEXT_MAX, 1);
    fputc('.', f);
    xml_put(f, variant_name(r, v), REPORT_XML_TEXT_MAX, 1);
    fputs("\" name=\"case ", f);
    xml_put(f, r->cases[c].id, REPORT_XML_TEXT_MAX, 1);
    if (s != SIZE_MAX) {
        fputs(": ", f);
        xml_put(f, r->scorers[s].name, REPORT_XML_TEXT_MAX, 1);
    }
    fprintf(f, "\" time=\"%.3f\"", secs);
    int rep;
    enum junit_status st = junit_status(r, c, v, s, &rep);
    if (st == JUNIT_PASS) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n", f);
    junit_problem(f, r, c, v, s, st, rep);
    fputs("    </testcase>\n", f);
}

static void junit_variant(FILE *f, const struct eval_report *r, size_t v)
{
    size_t fail, err;
    junit_counts(r, v, &fail, &err);
    fputs("  <testsuite name=\"", f);
    xml_put(f, r->suite, REPORT_XML_TEXT_MAX, 1);
    fputc('.', f);
    xml_put(f, variant_name(r, v), REPORT_XML_TEXT_MAX, 1);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n", r->ncases * junit_scorers(r),
            fail, err);
    for (size_t c = 0; c < r->ncases; c++)
        for (size_t s = 0; s < junit_scorers(r); s++)
            junit_testcase(f, r, c, v, junit_scorer_index(r, s));
    fputs("  </testsuite>\n", f);
}

static void junit_gate(FILE *f, const struct eval_report *r, const struct gate_result *g)
{
    int failed = g->verdict == GATE_REGRESSION;
    fputs("  <testsuite name=\"", f);
    xml_put(f, r->suite, REPORT_XML_TEXT_MAX, 1);
    fprintf(f, ".gate\" tests=\"1\" failures=\"%d\" errors=\"0\">\n", failed);
    fputs("    <testcase classname=\"", f);
    xml_put(f, r->suite, REPORT_XML_TEXT_MAX, 1);
    fputs("\" name=\"gate\"", f);
    if (!failed) {
        fputs("/>\n", f);
    } else {
        fputs(">\n      <failure message=\"", f);
        xml_put(f, g->reason, sizeof(g->reason), 1);
        fputs("\" type=\"regression\"/>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n", f);
}

int gate_write_junit(const struct eval_report *r, const struct gate_result *g, FILE *f)
{
    size_t fail = 0, err = 0;
    for (size_t v = 0; v < r->nvariants; v++) {
        size_t vf, ve;
        junit_counts(r, v, &vf, &ve);
        fail += vf;
        err += ve;
    }
    fail += g->verdict == GATE_REGRESSION;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"", f);
    xml_put(f, r->suite, REPORT_XML_TEXT_MAX, 1);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n",
            r->ncases * junit_scorers(r) * r->nvariants + 1, fail, err);
    for (size_t v = 0; v < r->nvariants; v++)
        junit_variant(f, r, v);
    junit_gate(f, r, g);
    fputs("</testsuites>\n", f);
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- Markdown ------------------------------------------------------------- */

/* Write 's' as the text of a table cell, at most 'max' code points (then
 * an ellipsis): table and HTML syntax escaped, line breaks as spaces,
 * other control characters dropped. */
static void md_put(FILE *f, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), shown = 0;
    uint32_t c;
    for (size_t i = 0; i < n; shown++) {
        if (shown == max) {
            fputs("\xe2\x80\xa6", f); /* U+2026 */
            return;
        }
        size_t len = utf8_next(p + i, n - i, &c);
        if (len == 0) {
            fputs(replacement, f);
            i++;
            continue;
        }
        if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '_' || c == '[' || c == ']')
            fprintf(f, "\\%c", (char)c);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '\n' || c == '\r' || c == '\t')
            fputc(' ', f);
        else if (c >= 0x20 && c != 0x7f)
            fwrite(p + i, 1, len, f);
        i += len;
    }
}

static void md_variants(FILE *f, const struct eval_report *r, const struct gate_result *g)
{
    char a[96], b[32], c[32], d[32], e[32], usd[48];
    fprintf(f,
            "| variant | prompt | model | score (%g%% interval) | pass rate | pass^%d | calls | "
            "failed | cost | p50 | p95 |\n",
            100 * (1 - r->alpha), r->repeats);
    fputs("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n", f);
    for (size_t v = 0; v < r->nvariants; v++) {
        const struct gate_variant *gv = &g->variants[v];
        fputs("| ", f);
        md_put(f, variant_name(r, v), REPORT_MD_VARS_MAX);
        fputs(" | ", f);
        md_put(f, or_dash(r->variants[v].prompt), REPORT_MD_VARS_MAX);
        fputs(" | ", f);
        md_put(f, or_dash(r->variants[v].model), REPORT_MD_VARS_MAX);
        fprintf(f, " | %s | %s | %s | %zu | %zu | %s | %s | %s |\n",
                fmt_interval(a, sizeof(a), &gv->score), fmt_pct(b, sizeof(b), gv->pass_rate),
                fmt_pct(c, sizeof(c), gv->pass_hat_n), gv->calls, gv->failed,
                fmt_usd(usd, sizeof(usd), gv->cost_usd),
                fmt_num(d, sizeof(d), 1, gv->latency_p50_ms),
                fmt_num(e, sizeof(e), 1, gv->latency_p95_ms));
    }
}

static void md_difference(FILE *f, const struct eval_report *r, const struct gate_result *g)
{
    char iv[96], sp[32], wp[32];
    const struct stats_paired *p = &g->paired;
    fputs("\n**Difference** (", f);
    md_put(f, variant_name(r, 1), REPORT_MD_VARS_MAX);
    fputs(" - ", f);
    md_put(f, variant_name(r, 0), REPORT_MD_VARS_MAX);
    fprintf(f, "): %s; wins %zu, ties %zu, losses %zu; sign test p = %s; Wilcoxon p = %s\n",
            fmt_interval(iv, sizeof(iv), &p->diff), p->wins, p->ties, p->losses,
            fmt_p(sp, sizeof(sp), p->sign_p), fmt_p(wp, sizeof(wp), p->wilcoxon_p));
}

static void md_scorers(FILE *f, const struct eval_report *r, const struct gate_result *g)
{
    char iv[96], pr[32];
    if (r->nscorers == 0)
        return;
    fputs("\n#### Scorers\n\n| scorer | type | weight | threshold |", f);
    for (size_t v = 0; v < r->nvariants; v++) {
        fputc(' ', f);
        md_put(f, variant_name(r, v), REPORT_MD_VARS_MAX);
        fputs(" |", f);
    }
    fputs(r->nvariants >= 2 ? " difference | sign p |\n|---|---|---:|---:|"
                            : "\n|---|---|---:|---:|",
          f);
    for (size_t v = 0; v < r->nvariants + (r->nvariants >= 2 ? 2 : 0); v++)
        fputs("---|", f);
    fputc('\n', f);
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct gate_scorer *gs = &g->scorers[s];
        fputs("| ", f);
        md_put(f, r->scorers[s].name, REPORT_MD_VARS_MAX);
        fputs(" | ", f);
        md_put(f, r->scorers[s].type, REPORT_MD_VARS_MAX);
        fprintf(f, " | %g | %g |", r->scorers[s].weight, r->scorers[s].threshold);
        for (size_t v = 0; v < r->nvariants; v++)
            fprintf(f, " %s, %s pass |", fmt_interval(iv, sizeof(iv), &gs->v[v]),
                    fmt_pct(pr, sizeof(pr), gs->pass_rate[v]));
        if (r->nvariants >= 2)
            fprintf(f, " %s | %s |", fmt_interval(iv, sizeof(iv), &gs->paired.diff),
                    fmt_p(pr, sizeof(pr), gs->paired.sign_p));
        fputc('\n', f);
    }
}

struct md_case {
    size_t c;
    double key; /* ascending: the worst first */
};

static int cmp_case(const void *pa, const void *pb)
{
    const struct md_case *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->c > b->c) - (a->c < b->c);
}

/* The cases worth showing, worst first: with two variants those the
 * candidate lost, by the loss; with one those below a perfect score. */
static size_t md_worst_cases(const struct eval_report *r, const double *scores, struct md_case *out)
{
    size_t n = r->ncases, m = 0;
    for (size_t c = 0; c < n; c++) {
        double key = r->nvariants >= 2 ? scores[n + c] - scores[c] : scores[c];
        if (r->nvariants >= 2 ? key < -1e-9 : key < 1) {
            out[m].c = c;
            out[m++].key = key;
        }
    }
    qsort(out, m, sizeof(*out), cmp_case);
    return m < REPORT_MD_WORST ? m : REPORT_MD_WORST;
}

static void md_case_row(FILE *f, const struct eval_report *r, const double *scores, size_t c)
{
    size_t n = r->ncases, last = r->nvariants >= 2 ? 1 : 0;
    const struct eval_output *o = eval_output_at(r, c, last, 0);
    fputs("| ", f);
    md_put(f, r->cases[c].id, REPORT_MD_VARS_MAX);
    fputs(" | ", f);
    md_put(f, r->cases[c].vars, REPORT_MD_VARS_MAX);
    fprintf(f, " | %.3f |", scores[c]);
    if (last)
        fprintf(f, " %.3f | %+.3f |", scores[n + c], scores[n + c] - scores[c]);
    fputc(' ', f);
    if (o->ok)
        md_put(f, o->text, REPORT_MD_OUTPUT_MAX);
    else {
        fputs("*failed:* ", f);
        md_put(f, o->error, REPORT_MD_OUTPUT_MAX);
    }
    fputs(" |\n", f);
}

static void md_cases(FILE *f, const struct eval_report *r)
{
    size_t n = r->ncases;
    double *scores = xmalloc(n * r->nvariants * sizeof(*scores));
    struct md_case *worst = xmalloc(n * sizeof(*worst));
    for (size_t v = 0; v < r->nvariants && v < 2; v++)
        eval_case_scores(r, v, scores + v * n);
    size_t m = md_worst_cases(r, scores, worst);
    fputs("\n#### Worst cases\n\n", f);
    if (m == 0) {
        fputs(r->nvariants >= 2 ? "No case scored lower.\n" : "Every case scored 1.\n", f);
        goto done;
    }
    fputs(r->nvariants >= 2 ? "| case | variables | baseline | candidate | change | candidate "
                              "output |\n|---|---|---:|---:|---:|---|\n"
                            : "| case | variables | score | output |\n|---|---|---:|---|\n",
          f);
    for (size_t i = 0; i < m; i++)
        md_case_row(f, r, scores, worst[i].c);
done:
    free(scores);
    free(worst);
}

int gate_write_markdown(const struct eval_report *r, const struct gate_result *g, FILE *f)
{
    fputs("### llmtap eval ", f);
    md_put(f, r->suite, REPORT_MD_VARS_MAX);
    fprintf(f, ": **%s**%s\n\n", g->verdict == GATE_REGRESSION ? "REGRESSION" : "PASS",
            r->interrupted ? " (interrupted: some cases did not run)" : "");
    fputs("> ", f);
    md_put(f, g->reason, sizeof(g->reason));
    fputs("\n\n", f);
    md_variants(f, r, g);
    if (g->compared)
        md_difference(f, r, g);
    md_scorers(f, r, g);
    md_cases(f, r);
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- JSON ----------------------------------------------------------------- */

/* A JSON number in its shortest round-trip form; NAN and infinities null. */
static int json_num(struct buf *b, double x)
{
    if (isnan(x) || isinf(x))
        return buf_puts(b, "null");
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    return buf_puts(b, tmp);
}

/* A JSON string (repaired to UTF-8 when it is not), or null for NULL. */
static int json_str(struct buf *b, const char *s)
{
    if (!s)
        return buf_puts(b, "null");
    if (utf8_valid(s))
        return buf_json_str(b, s);
    char *fixed = utf8_repair(s);
    int rc = buf_json_str(b, fixed);
    free(fixed);
    return rc;
}

static int json_bool(struct buf *b, int v)
{
    return buf_puts(b, v ? "true" : "false");
}

/* "KEY": with a leading comma unless 'first'. */
static int json_key(struct buf *b, const char *key, int first)
{
    return buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
}

static int json_num_kv(struct buf *b, const char *key, double x)
{
    return json_key(b, key, 0) || json_num(b, x);
}

/* "mean","lo","hi","sd","n" without the braces. */
static int json_interval_fields(struct buf *b, const struct stats_interval *iv)
{
    int rc = json_key(b, "mean", 1) || json_num(b, iv->mean);
    rc |= json_num_kv(b, "lo", iv->lo) || json_num_kv(b, "hi", iv->hi);
    rc |= json_num_kv(b, "sd", iv->sd);
    return rc || buf_printf(b, ",\"n\":%zu", iv->n);
}

/* {"diff":{...},"wins","ties","losses","sign_p","wilcoxon_p" — left open. */
static int json_comparison_open(struct buf *b, const struct stats_paired *p)
{
    int rc = buf_puts(b, "{\"diff\":{") || json_interval_fields(b, &p->diff);
    rc |= buf_printf(b, "},\"wins\":%zu,\"ties\":%zu,\"losses\":%zu", p->wins, p->ties, p->losses);
    return rc || json_num_kv(b, "sign_p", p->sign_p) || json_num_kv(b, "wilcoxon_p", p->wilcoxon_p);
}

static int json_head(struct buf *b, const struct eval_report *r, const struct gate_result *g)
{
    char started[40], finished[40];
    time_format_iso(r->started_ns, started, sizeof(started));
    time_format_iso(r->finished_ns, finished, sizeof(finished));
    int rc = buf_puts(b, "{\"run_id\":") || json_str(b, r->run_id);
    rc |= json_key(b, "suite", 0) || json_str(b, r->suite);
    rc |= json_key(b, "started", 0) || json_str(b, started);
    rc |= json_key(b, "finished", 0) || json_str(b, finished);
    rc |= json_key(b, "interrupted", 0) || json_bool(b, r->interrupted);
    rc |= json_key(b, "verdict", 0) |
          buf_puts(b, g->verdict == GATE_REGRESSION ? "\"regression\"" : "\"pass\"");
    rc |= json_key(b, "reason", 0) || json_str(b, g->reason);
    rc |= buf_printf(b, ",\"repeats\":%d,\"gate\":{\"min_score\":", r->repeats);
    rc |= json_num(b, r->min_score) || json_num_kv(b, "max_regression", r->max_regression);
    return rc || json_num_kv(b, "alpha", r->alpha) || buf_putc(b, '}');
}

static int json_variant(struct buf *b, const struct eval_report *r, const struct gate_variant *gv,
                        size_t v)
{
    const struct eval_variant_info *vi = &r->variants[v];
    int rc = buf_puts(b, "{\"name\":") || json_str(b, variant_name(r, v));
    rc |= json_key(b, "prompt", 0) || json_str(b, vi->prompt);
    rc |= json_key(b, "model", 0) || json_str(b, vi->model);
    rc |= json_key(b, "upstream", 0) || json_str(b, vi->upstream);
    rc |= buf_puts(b, ",\"score\":{") || json_interval_fields(b, &gv->score) || buf_putc(b, '}');
    rc |=
        json_num_kv(b, "pass_rate", gv->pass_rate) || json_num_kv(b, "pass_hat_n", gv->pass_hat_n);
    rc |= buf_printf(b, ",\"calls\":%zu,\"failed\":%zu,\"cached\":%zu", gv->calls, gv->failed,
                     gv->cached);
    rc |= json_num_kv(b, "cost_usd", gv->cost_usd);
    rc |= json_num_kv(b, "latency_p50_ms", gv->latency_p50_ms);
    return rc || json_num_kv(b, "latency_p95_ms", gv->latency_p95_ms) || buf_putc(b, '}');
}

static int json_summary(struct buf *b, const struct eval_report *r, const struct gate_result *g)
{
    int rc = buf_puts(b, ",\"variants\":[");
    for (size_t v = 0; v < r->nvariants; v++)
        rc |= (v ? buf_putc(b, ',') : 0) || json_variant(b, r, &g->variants[v], v);
    rc |= buf_puts(b, "],\"comparison\":");
    if (!g->compared)
        return rc || buf_puts(b, "null");
    rc |= json_comparison_open(b, &g->paired);
    rc |= json_key(b, "regressed", 0) || json_bool(b, g->regressed);
    return rc || json_key(b, "below_floor", 0) || json_bool(b, g->below_floor) || buf_putc(b, '}');
}

static int json_scorer(struct buf *b, const struct eval_report *r, const struct gate_result *g,
                       size_t s)
{
    const struct gate_scorer *gs = &g->scorers[s];
    int rc = buf_puts(b, "{\"name\":") || json_str(b, r->scorers[s].name);
    rc |= json_key(b, "type", 0) || json_str(b, r->scorers[s].type);
    rc |= json_num_kv(b, "weight", r->scorers[s].weight);
    rc |= json_num_kv(b, "threshold", r->scorers[s].threshold) || buf_puts(b, ",\"variants\":[");
    for (size_t v = 0; v < r->nvariants; v++) {
        rc |= buf_puts(b, v ? ",{" : "{") || json_interval_fields(b, &gs->v[v]);
        rc |= json_num_kv(b, "pass_rate", gs->pass_rate[v]) || buf_putc(b, '}');
    }
    rc |= buf_puts(b, "],\"comparison\":");
    if (!g->compared)
        return rc || buf_puts(b, "null}");
    return rc || json_comparison_open(b, &gs->paired) || buf_puts(b, "}}");
}

/* A JSON text from the dataset, embedded as it is; NULL as 'none'. */
static int json_raw(struct buf *b, const char *json, const char *none)
{
    return buf_puts(b, json && *json ? json : none);
}

static int json_score(struct buf *b, const struct eval_score *sc)
{
    int rc = buf_puts(b, "{\"value\":") || json_num(b, sc->value);
    rc |= json_key(b, "pass", 0) || json_bool(b, sc->pass);
    rc |= json_key(b, "error", 0) || json_bool(b, sc->error);
    return rc || json_key(b, "reason", 0) || json_str(b, sc->reason) || buf_putc(b, '}');
}

static int json_output(struct buf *b, const struct eval_report *r, size_t c, size_t v, int rep)
{
    const struct eval_output *o = eval_output_at(r, c, v, rep);
    int rc = buf_puts(b, "{\"ok\":") || json_bool(b, o->ok);
    rc |= json_key(b, "text", 0) || json_str(b, o->ok ? o->text : NULL);
    rc |= json_key(b, "error", 0) || json_str(b, o->error);
    rc |= json_num_kv(b, "latency_ms", o->latency_ms) || json_key(b, "cost_usd", 0);
    rc |= o->has_cost ? json_num(b, (double)o->cost_nusd / 1e9) : buf_puts(b, "null");
    rc |= buf_printf(b, ",\"input_tokens\":%lld,\"output_tokens\":%lld", (long long)o->input_tokens,
                     (long long)o->output_tokens);
    rc |= json_key(b, "cached", 0) || json_bool(b, o->cached);
    rc |= json_key(b, "trace_id", 0) || json_str(b, o->trace_id[0] ? o->trace_id : NULL);
    rc |= json_key(b, "span_id", 0) || json_str(b, o->span_id[0] ? o->span_id : NULL);
    rc |= json_num_kv(b, "score", eval_output_score(r, c, v, rep)) || buf_puts(b, ",\"scores\":[");
    for (size_t s = 0; s < r->nscorers; s++)
        rc |= (s ? buf_putc(b, ',') : 0) || json_score(b, eval_score_at(r, c, v, rep, s));
    return rc || buf_puts(b, "]}");
}

/* Case 'c'; 'scores' holds the case scores, ncases per variant. */
static int json_case(struct buf *b, const struct eval_report *r, const double *scores, size_t c)
{
    const struct eval_case *ec = &r->cases[c];
    int rc = buf_puts(b, "{\"id\":") || json_str(b, ec->id);
    rc |= json_key(b, "vars", 0) || json_raw(b, ec->vars, "{}");
    rc |= json_key(b, "expected", 0) || json_raw(b, ec->expected, "null");
    rc |= json_key(b, "metadata", 0) || json_raw(b, ec->metadata, "null");
    rc |= buf_puts(b, ",\"scores\":[");
    for (size_t v = 0; v < r->nvariants; v++)
        rc |= (v ? buf_putc(b, ',') : 0) || json_num(b, scores[v * r->ncases + c]);
    rc |= buf_puts(b, "],\"outputs\":[");
    for (size_t v = 0; v < r->nvariants; v++) {
        rc |= buf_puts(b, v ? ",[" : "[");
        for (int rep = 0; rep < r->repeats; rep++)
            rc |= (rep ? buf_putc(b, ',') : 0) || json_output(b, r, c, v, rep);
        rc |= buf_putc(b, ']');
    }
    return rc || buf_puts(b, "]}");
}

static int json_cases(struct buf *b, const struct eval_report *r)
{
    size_t n = r->ncases;
    double *scores = xmalloc((n ? n : 1) * r->nvariants * sizeof(*scores));
    for (size_t v = 0; v < r->nvariants; v++)
        eval_case_scores(r, v, scores + v * n);
    int rc = buf_puts(b, ",\"cases\":[");
    for (size_t c = 0; c < n && rc == 0; c++)
        rc |= (c ? buf_putc(b, ',') : 0) || json_case(b, r, scores, c);
    free(scores);
    return rc || buf_puts(b, "]");
}

int gate_write_json(const struct eval_report *r, const struct gate_result *g, struct buf *out)
{
    int rc = json_head(out, r, g) || json_summary(out, r, g) || buf_puts(out, ",\"scorers\":[");
    for (size_t s = 0; s < r->nscorers && rc == 0; s++)
        rc = (s ? buf_putc(out, ',') : 0) || json_scorer(out, r, g, s);
    rc = rc || buf_putc(out, ']') || json_cases(out, r) || buf_putc(out, '}');
    return rc ? -1 : 0;
}

/* ---- terminal ------------------------------------------------------------- */

void gate_write_text(const struct eval_report *r, const struct gate_result *g, FILE *f)
{
    char iv[96], pr[32], p50[32], sp[32], wp[32], usd[48];
    fprintf(f, "%s: %s%s\n  %s\n", or_dash(r->suite),
            g->verdict == GATE_REGRESSION ? "REGRESSION" : "PASS",
            r->interrupted ? " (interrupted)" : "", g->reason);
    for (size_t v = 0; v < r->nvariants; v++) {
        const struct gate_variant *gv = &g->variants[v];
        fprintf(f, "  %-10s %-20s score %s  pass %s  failed %zu/%zu  %s  p50 %s\n",
                variant_name(r, v), or_dash(r->variants[v].prompt),
                fmt_interval(iv, sizeof(iv), &gv->score), fmt_pct(pr, sizeof(pr), gv->pass_rate),
                gv->failed, gv->calls, fmt_usd(usd, sizeof(usd), gv->cost_usd),
                fmt_num(p50, sizeof(p50), 1, gv->latency_p50_ms));
    }
    if (g->compared)
        fprintf(f, "  difference %s  wins %zu ties %zu losses %zu  sign p %s  wilcoxon p %s\n",
                fmt_interval(iv, sizeof(iv), &g->paired.diff), g->paired.wins, g->paired.ties,
                g->paired.losses, fmt_p(sp, sizeof(sp), g->paired.sign_p),
                fmt_p(wp, sizeof(wp), g->paired.wilcoxon_p));
    for (size_t s = 0; s < r->nscorers; s++) {
        fprintf(f, "  scorer %-16s", or_dash(r->scorers[s].name));
        for (size_t v = 0; v < r->nvariants; v++)
            fprintf(f, " %s", fmt_num(pr, sizeof(pr), 0, g->scorers[s].v[v].mean));
        fputc('\n', f);
    }
}
