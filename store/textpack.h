/*
 * textpack: how the store keeps large text (a span's input and output
 * messages) in a row: a one-byte header then the bytes — 'T' + the text as
 * is (short texts), 'Z' + a zstd frame (with its content size), or 'Y' + a
 * zstd frame compressed with a trained dictionary (store/texts.h says
 * which; reading it needs that dictionary). Packing
 * runs in the request threads, before the writer, so the one writer thread
 * copies a third of the bytes. Every connection store_open makes can read
 * packed text back with the SQL functions llmtap_text(x) and llmtap_pack(x),
 * which the `spans` view uses; a plain sqlite3 shell cannot.
 * A textpack_ctx is used by one thread at a time.
 */
#ifndef STORE_TEXTPACK_H
#define STORE_TEXTPACK_H

#include <stddef.h>

#include <sqlite3.h>
#include <zstd.h>

#include "core/buf.h"

#define TEXTPACK_MAX_TEXT (256u << 20) /* refuse to unpack anything larger */

struct textpack_ctx;

/* Compression state (reused across calls); caller frees with textpack_free. */
struct textpack_ctx *textpack_new(void);
void textpack_free(struct textpack_ctx *c);

/* Pack 'len' bytes of 'text' into 'out' (appended). Returns 0, or -1 when
 * 'out' hits its ceiling. */
int textpack_pack(struct textpack_ctx *c, const char *text, size_t len, struct buf *out)
    __attribute__((warn_unused_result));

/* Unpack 'n' bytes; returns the text (NUL-terminated, caller frees) and its
 * length, or NULL when the blob is not a valid pack. */
char *textpack_unpack(struct textpack_ctx *c, const void *blob, size_t n, size_t *len);

/* Unpack 'n' bytes, appending the text to 'out'. Returns 0, or -1 when the
 * blob is not a valid pack or 'out' hits its ceiling. */
int textpack_unpack_append(struct textpack_ctx *c, const void *blob, size_t n, struct buf *out)
    __attribute__((warn_unused_result));

/* With a dictionary: pack as 'Y' with 'cdict' (borrowed), and unpack any
 * pack, 'Y' ones with 'ddict' (NULL: a 'Y' pack is refused). Same returns
 * as above. */
int textpack_pack_dict(struct textpack_ctx *c, const ZSTD_CDict *cdict, const char *text,
                       size_t len, struct buf *out) __attribute__((warn_unused_result));
int textpack_unpack_append_dict(struct textpack_ctx *c, const ZSTD_DDict *ddict, const void *blob,
                                size_t n, struct buf *out) __attribute__((warn_unused_result));

/* Register llmtap_text() and llmtap_pack() on 'db'. Returns SQLITE_OK or an error. */
int textpack_register(sqlite3 *db);

/* The length of the text packed in the 'n'-byte 'blob', from its header
 * (no decompression), or -1 when it is not a packed text. */
long long textpack_raw_len(const void *blob, size_t n);

#endif
