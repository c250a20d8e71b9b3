/*
 * log: the one logger. Lines look like
 *   2026-11-22T10:00:00.123Z warn store: cannot open 'x.db': disk full
 * on stderr. The level is checked before the arguments are formatted, and
 * control characters in the message are escaped (traffic text can try to
 * forge log lines). Never pass provider keys, Authorization headers or bodies.
 * Thread-safe.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

extern int log_threshold;

/* Set the threshold from a name ("debug", "info", "warn", "error", "off");
 * returns 0, or -1 for an unknown name. */
int log_set_level(const char *name);

void log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_msg(level, module, ...)                                                                \
    do {                                                                                           \
        if ((level) >= log_threshold)                                                              \
            log_write((level), (module), __VA_ARGS__);                                             \
    } while (0)

#endif
