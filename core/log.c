/*
 * log: timestamped, escaped log lines on stderr (see log.h). One write(2)
 * per line keeps lines from different threads whole.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_set_level(const char *name)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            log_threshold = i;
            return 0;
        }
    }
    return -1;
}

void log_write(int level, const char *module, const char *fmt, ...)
{
    char msg[2048];
    char line[4096 + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(
        line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
        level_names[level < 0           ? 0
                    : level > LOG_ERROR ? LOG_ERROR
                                        : level],
        module);
    size_t pos = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)msg; *p && pos < sizeof(line) - 8; p++) {
        if (*p < 0x20 || *p == 0x7f)
            pos += (size_t)snprintf(line + pos, 8, "\\x%02x", *p);
        else
            line[pos++] = (char)*p;
    }
    line[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
