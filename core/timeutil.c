/*
 * timeutil: clocks and ISO-8601 (see timeutil.h). Calendar math is done by
 * hand (days from civil) so no TZ environment is consulted.
 */
#include "core/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Days since 1970-01-01 for a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_offset(const char *p, int64_t *off_s)
{
    if (*p == 'Z' || *p == 'z') {
        *off_s = 0;
        return p[1] == '\0' ? 0 : -1;
    }
    if (*p == '\0') {
        *off_s = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p == '-' ? -1 : 1, hh, mm = 0;
    p++;
    if (digits(&p, 2, &hh))
        return -1;
    if (*p == ':')
        p++;
    if (*p && digits(&p, 2, &mm))
        return -1;
    if (*p)
        return -1;
    *off_s = sign * (hh * 3600 + mm * 60);
    return 0;
}

int time_parse_iso(const char *s, int64_t *ns)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    int64_t frac = 0;
    const char *p = s;
    if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    /* int64 nanoseconds span 1677-09-21 .. 2262-04-11: stay well inside */
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1678 || y > 2261)
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &se))
                return -1;
        }
        if (*p == '.' || *p == ',') {
            p++;
            int n = 0;
            while (isdigit((unsigned char)*p)) {
                if (n < 9) {
                    frac = frac * 10 + (*p - '0');
                    n++;
                }
                p++;
            }
            if (n == 0)
                return -1;
            while (n++ < 9)
                frac *= 10;
        }
        if (h > 23 || mi > 59 || se > 60)
            return -1;
    }
    int64_t off;
    if (parse_offset(p, &off))
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    *ns = secs * 1000000000LL + frac;
    return 0;
}

void time_format_iso(int64_t ns, char *out, size_t outlen)
{
    time_t secs = (time_t)(ns / 1000000000LL);
    long ms = (long)((ns % 1000000000LL) / 1000000LL);
    if (ms < 0) {
        secs -= 1;
        ms += 1000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int time_parse_duration(const char *s, int64_t *ns)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    double v = strtod(s, &end);
    int64_t unit;
    if (strcmp(end, "ms") == 0)
        unit = 1000000LL;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        unit = 1000000000LL;
    else if (strcmp(end, "m") == 0)
        unit = 60LL * 1000000000LL;
    else if (strcmp(end, "h") == 0)
        unit = 3600LL * 1000000000LL;
    else if (strcmp(end, "d") == 0)
        unit = 86400LL * 1000000000LL;
    else
        return -1;
    *ns = (int64_t)(v * (double)unit);
    return 0;
}

int time_parse_when(const char *s, int64_t now_ns, int64_t *ns)
{
    int64_t d;
    if (!s || !*s)
        return -1;
    size_t n = strspn(s, "0123456789");
    if (n >= 16 && s[n] == '\0') { /* unix ns */
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno || v > INT64_MAX)
            return -1;
        *ns = (int64_t)v;
        return 0;
    }
    if (time_parse_iso(s, ns) == 0)
        return 0;
    if (time_parse_duration(s, &d) == 0) {
        *ns = now_ns - d;
        return 0;
    }
    return -1;
}
