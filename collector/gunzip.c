/*
 * gunzip: zlib inflate in gzip mode, 16 KiB of output at a time (on the heap:
 * worker stacks are small), appended to the caller's bounded buffer.
 * States: in-member (strm initialised, z_end = 0) / between-members (z_end =
 * 1: a member ended; more input starts the next one) / failed.
 */
#include "collector/gunzip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/xmem.h"

#define CHUNK 16384

struct gunzip {
    z_stream strm;
    int inited;
    int members; /* members completed */
    int in_member;
    int failed;
    char msg[128];
    struct buf *out;
    unsigned char *chunk;
};

struct gunzip *gunzip_new(struct buf *out)
{
    struct gunzip *g = xcalloc(1, sizeof(*g));
    g->out = out;
    g->chunk = xmalloc(CHUNK);
    return g;
}

void gunzip_free(struct gunzip *g)
{
    if (!g)
        return;
    if (g->inited)
        inflateEnd(&g->strm);
    free(g->chunk);
    free(g);
}

static int fail(struct gunzip *g, int code, const char *why)
{
    g->failed = code;
    snprintf(g->msg, sizeof(g->msg), "%s", why);
    return code;
}

static int start_member(struct gunzip *g)
{
    if (!g->inited) {
        memset(&g->strm, 0, sizeof(g->strm));
        if (inflateInit2(&g->strm, 16 + MAX_WBITS) != Z_OK)
            return fail(g, GUNZIP_BAD, "cannot initialise zlib");
        g->inited = 1;
    } else if (inflateReset(&g->strm) != Z_OK) {
        return fail(g, GUNZIP_BAD, "cannot reset zlib");
    }
    g->in_member = 1;
    return GUNZIP_OK;
}

/* One inflate step into the chunk, appended to the output. */
static int inflate_step(struct gunzip *g, size_t *produced)
{
    g->strm.next_out = g->chunk;
    g->strm.avail_out = CHUNK;
    int zr = inflate(&g->strm, Z_NO_FLUSH);
    *produced = CHUNK - g->strm.avail_out;
    if (*produced && buf_append(g->out, g->chunk, *produced) != BUF_OK)
        return fail(g, GUNZIP_TOOBIG, "decompressed body exceeds the size limit");
    if (zr == Z_STREAM_END) {
        g->in_member = 0;
        g->members++;
    } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
        return fail(g, GUNZIP_BAD, g->strm.msg ? g->strm.msg : "corrupt gzip data");
    }
    return GUNZIP_OK;
}

int gunzip_feed(struct gunzip *g, const void *p, size_t n)
{
    const unsigned char *in = p;
    if (g->failed)
        return g->failed;
    while (n > 0 || g->in_member) {
        if (!g->in_member && start_member(g) != GUNZIP_OK)
            return g->failed;
        g->strm.next_in = (unsigned char *)(uintptr_t)in;
        g->strm.avail_in = (uInt)(n > (1u << 30) ? (1u << 30) : n);
        uInt offered = g->strm.avail_in;
        size_t produced = 0;
        if (inflate_step(g, &produced) != GUNZIP_OK)
            return g->failed;
        size_t used = offered - g->strm.avail_in;
        in += used;
        n -= used;
        if (used == 0 && produced == 0)
            break; /* needs more input than we have */
    }
    return GUNZIP_OK;
}

int gunzip_finish(struct gunzip *g)
{
    if (g->failed)
        return g->failed;
    if (g->in_member)
        return fail(g, GUNZIP_BAD, "gzip body is truncated");
    if (g->members == 0)
        return fail(g, GUNZIP_BAD, "empty gzip body");
    return GUNZIP_OK;
}

const char *gunzip_errmsg(const struct gunzip *g)
{
    return g->msg[0] ? g->msg : "ok";
}
