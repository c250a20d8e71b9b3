/*
 * testutil: shared helpers for the Check suites. Tests run with the
 * repository root as the working directory; ../shared is found through
 * LLMTAP_SHARED or beside the checkout.
 */
#ifndef TESTS_SUPPORT_TESTUTIL_H
#define TESTS_SUPPORT_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Run 'suite'; returns the process exit code: non-zero when any test failed
 * or when no test ran at all. Takes ownership of 'suite'. */
int tu_run(Suite *suite);

/* Path of 'rel' inside ../shared (static buffer, valid until the next call). */
const char *tu_shared(const char *rel);

/* Whole file, NUL-terminated (caller frees); NULL when unreadable. */
char *tu_read_file(const char *path, size_t *len);

/* A fresh empty directory under $TMPDIR (caller frees the path string). */
char *tu_tmpdir(void);

/* Remove directory 'dir' and everything in it; a failure fails the test. */
void tu_rmtree(const char *dir);

/* Write 'text' to the file 'name' in 'dir'; returns its path (caller
 * frees). A failure fails the test. */
char *tu_put_file(const char *dir, const char *name, const char *text);

/* The llmtap binary under test: $LLMTAP_BIN, else $BUILD/llmtap, else build/llmtap. */
const char *tu_llmtap_bin(void);

/* Run "llmtap ARGS" (printf-style, through the shell) with stdout into
 * *out and stderr into *err (either may be NULL; caller frees), using
 * files in 'dir' for the capture. Returns the exit code (-1: no exit). */
int tu_llmtap_run(const char *dir, char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
