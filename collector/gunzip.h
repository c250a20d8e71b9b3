/*
 * gunzip: streaming gzip decoding into a bounded buffer. Bytes arrive in
 * whatever pieces the network gives (gunzip_feed any number of times), the
 * output ceiling is enforced while inflating (a gzip bomb stops at the cap,
 * not after), and concatenated gzip members are decoded in turn.
 * Not thread-safe; one per request.
 */
#ifndef COLLECTOR_GUNZIP_H
#define COLLECTOR_GUNZIP_H

#include <stddef.h>

#include "core/buf.h"

struct gunzip;

enum gunzip_result {
    GUNZIP_OK = 0,
    GUNZIP_TOOBIG, /* output would pass the buffer's ceiling */
    GUNZIP_BAD,    /* not gzip, corrupt, or truncated */
};

/* New decoder appending to 'out' (borrowed; its max is the cap). Caller frees with gunzip_free. */
struct gunzip *gunzip_new(struct buf *out);
void gunzip_free(struct gunzip *g);

/* Feed 'n' compressed bytes. Returns a gunzip_result; after an error every
 * later call returns the same error. */
int gunzip_feed(struct gunzip *g, const void *p, size_t n) __attribute__((warn_unused_result));
/* End of input: GUNZIP_BAD when the stream stopped mid-member or was empty. */
int gunzip_finish(struct gunzip *g) __attribute__((warn_unused_result));
/* Why the last call failed (static or owned by 'g'). */
const char *gunzip_errmsg(const struct gunzip *g);

#endif
