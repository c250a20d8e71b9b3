/*
 * xmem: the daemon's one memory policy. Allocation failure is not recoverable
 * in llmtap (a half-built span is worse than a clean exit), so these wrappers
 * print a message and abort instead of returning NULL. Library OOM codes
 * (SQLite's, zstd's) are still mapped to each module's own error.
 * Thread-safe (they only call malloc and friends).
 */
#ifndef CORE_XMEM_H
#define CORE_XMEM_H

#include <stddef.h>

/* Like malloc/calloc/realloc but never return NULL; caller frees with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);

/* Copy of 's' (NULL gives NULL); caller frees. */
char *xstrdup(const char *s);
/* Copy of the first 'n' bytes of 's' plus a NUL; caller frees. */
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Replace '*slot' with a copy of 's', freeing the old value. */
void xstrset(char **slot, const char *s);

#endif
