/*
 * varint: LEB128 (see varint.h).
 */
#include "core/varint.h"

size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int varint_put(struct buf *b, uint64_t v)
{
    unsigned char tmp[VARINT_MAX];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    return buf_append(b, tmp, n) ? -1 : 0;
}

int varint_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < VARINT_MAX && *p < end; i++) {
        unsigned c = *(*p)++;
        if (i == VARINT_MAX - 1 && c > 1)
            return -1; /* past 64 bits */
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}
