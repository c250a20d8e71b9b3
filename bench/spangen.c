/*
 * spangen CLI: print realistic native spans as NDJSON on stdout, one span per
 * line, deterministic for a seed (see fixtures/spangen.h).
 *   build/bench/spangen --count N [--seed S] [--start-ns NS] [--days D | --pace F]
 * --days D spreads the N spans over about D days (spangen_pace_for_days);
 * --pace F sets the idle-gap factor itself. bench_ingest with the same
 * --spans, --seed and --days sends the same spans.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "fixtures/spangen.h"

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_positive(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: spangen --count N [--seed S] [--start-ns NS] [--days D | --pace F]\n");
}

struct cli {
    uint64_t count, seed, start;
    double days, pace;
    int have_count;
};

/* Returns 0, or -1 on a bad command line. */
static int parse_args(int argc, char **argv, struct cli *c)
{
    *c = (struct cli){.seed = 1, .start = 1772409600000000000ULL}; /* 2026-03-02T00:00Z */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t *slot = !strcmp(a, "--count")      ? &c->count
                         : !strcmp(a, "--seed")     ? &c->seed
                         : !strcmp(a, "--start-ns") ? &c->start
                                                    : NULL;
        double *real = !strcmp(a, "--days") ? &c->days : !strcmp(a, "--pace") ? &c->pace : NULL;
        if (!v || (!slot && !real))
            return -1;
        if (slot ? parse_u64(v, slot) != 0 : parse_positive(v, real) != 0)
            return -1;
        c->have_count |= slot == &c->count;
        i++;
    }
    if (!c->have_count || c->start > INT64_MAX || (c->days > 0 && c->pace > 0))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c;
    if (parse_args(argc, argv, &c) != 0) {
        usage();
        return 2;
    }
    struct spangen *g = spangen_new(c.seed, (int64_t)c.start);
    if (c.days > 0)
        spangen_set_pace(g, spangen_pace_for_days(c.days, c.count));
    else if (c.pace > 0)
        spangen_set_pace(g, c.pace);
    struct buf line;
    buf_init(&line, 0);
    int rc = 0;
    for (uint64_t n = 0; n < c.count && rc == 0; n++) {
        buf_reset(&line);
        if (spangen_next_json(g, &line) != 0 || buf_putc(&line, '\n') != BUF_OK)
            rc = 1;
        else if (fwrite(line.data, 1, line.len, stdout) != line.len)
            rc = 1;
    }
    if (fflush(stdout) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "spangen: cannot write spans: %s\n", strerror(errno));
    buf_release(&line);
    spangen_free(g);
    return rc;
}
