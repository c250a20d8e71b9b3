/*
 * sorted: lookups in ascending arrays of int64 (text ids, hit lists).
 */
#ifndef CORE_SORTED_H
#define CORE_SORTED_H

#include <stddef.h>
#include <stdint.h>

/* The first index i of 'v' (n ascending values) with v[i] >= x; n if none. */
static inline size_t sorted_lower_bound(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* 1 when 'x' is one of the n ascending values of 'v'. */
static inline int sorted_has(const int64_t *v, size_t n, int64_t x)
{
    size_t i = sorted_lower_bound(v, n, x);
    return i < n && v[i] == x;
}

#endif
