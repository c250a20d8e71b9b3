/*
 * varint: unsigned LEB128 integers (7 bits a byte, low first, the high bit
 * set on every byte but the last), the one integer encoding of the store's
 * blobs: text refs, column encodings, histograms. At most VARINT_MAX bytes.
 */
#ifndef CORE_VARINT_H
#define CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define VARINT_MAX 10

/* Bytes 'v' takes. */
size_t varint_len(uint64_t v);

/* Append 'v' to 'b'. Returns 0, or -1 when 'b' hits its ceiling. */
int varint_put(struct buf *b, uint64_t v) __attribute__((warn_unused_result));

/* Read one from *p (advanced past it), never reading at or past 'end'.
 * Returns 0, or -1 when the bytes end first, or it is longer than
 * VARINT_MAX bytes or than 64 bits. */
int varint_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
    __attribute__((warn_unused_result));

#endif
