/*
 * spangen CLI: print realistic native spans as NDJSON on stdout, one span per
 * line, deterministic for a seed (see fixtures/spangen.h).
 *   build/bench/spangen --count N [--seed S] [--start-ns NS]
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

static void usage(void)
{
    fprintf(stderr, "usage: spangen --count N [--seed S] [--start-ns NS]\n");
}

int main(int argc, char **argv)
{
    uint64_t count = 0, seed = 1, start = 1772409600000000000ULL; /* 2026-03-02T00:00Z */
    int have_count = 0;
    for (int i = 1; i < argc; i++) {
        uint64_t *slot = !strcmp(argv[i], "--count")      ? &count
                         : !strcmp(argv[i], "--seed")     ? &seed
                         : !strcmp(argv[i], "--start-ns") ? &start
                                                          : NULL;
        if (!slot || i + 1 >= argc || parse_u64(argv[i + 1], slot) != 0) {
            usage();
            return 2;
        }
        have_count |= slot == &count;
        i++;
    }
    if (!have_count || start > INT64_MAX) {
        usage();
        return 2;
    }
    struct spangen *g = spangen_new(seed, (int64_t)start);
    struct buf line;
    buf_init(&line, 0);
    int rc = 0;
    for (uint64_t n = 0; n < count && rc == 0; n++) {
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
