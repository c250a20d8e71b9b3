/*
 * texts: every distinct text is stored once (DESIGN.md §5, "Text is
 * deduplicated"). A span's input (a JSON array of messages, or one JSON
 * value) and output are cut into texts: each message of an input array is
 * one text, any other value is one text. A text is keyed by a 128-bit keyed
 * hash of (project, bytes), kept in table `texts` (id, hash, dict, body:
 * packed, store/textpack.h), and a span row refers to its texts by id in a
 * refs blob:
 *
 *     refs := shape count id...     shape 'A' = "[" texts joined by "," "]"
 *                                   shape 'V' = the one text as is
 *     (count and ids as unsigned LEB128 varints)
 *
 * so a conversation that resends its history stores each turn once and its
 * storage grows linearly with its turns. Reading back (llmtap_refs(blob) in
 * SQL) gives the exact bytes that were written.
 *
 * Work is split so the one writer thread does little: texts_prepare (any
 * thread) cuts, hashes and compresses the texts not known to be stored;
 * texts_store (writer thread only) maps hashes to ids through a bounded
 * in-memory index of the most recent texts, appending what is new, and
 * encodes the refs. Dedup is exact within the index's window (hundreds of
 * thousands of recent texts); an older text seen again is stored again.
 *
 * Thread-safety: texts_prepare from any thread; texts_store and
 * texts_rolled_back from the writer thread only. A texts_reader belongs to
 * the one connection it was registered on.
 */
#ifndef STORE_TEXTS_H
#define STORE_TEXTS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "core/ingest.h"
#include "store/textpack.h"

#define TEXTS_MAX_PER_VALUE 4096 /* an array with more elements is kept as one text */

struct texts;
struct texts_reader;

/* Open the text store over the read-write connection 'db' (borrowed; the
 * writer's): reads the database's hash key and prepares the writer's
 * statements. Returns 0, or -1 with a message in 'err'. Free with
 * texts_close (accepts NULL). */
int texts_open(struct texts **out, sqlite3 *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void texts_close(struct texts *t);

/* Cut 'r''s span input and output into texts, hash them and compress the
 * ones not known to be stored (with 'tp', the caller's context; NULL skips
 * compression). Sets r->texts_ready. Any thread. */
void texts_prepare(struct texts *t, struct rec_span *r, struct textpack_ctx *tp);

/* Writer thread, inside the open transaction: give every text of 'r' an
 * id (inserting new texts) and append the input's and the output's refs to
 * 'in_refs' / 'out_refs' (left empty for an absent value). Prepares 'r'
 * first when nobody did. Returns 0, or -1 with a message. */
int texts_store(struct texts *t, struct rec_span *r, struct buf *in_refs, struct buf *out_refs,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writer thread: the transaction or a savepoint of it rolled back; forget
 * every id learned, since some may not exist any more. */
void texts_rolled_back(struct texts *t);

/* Figures since open (for stats and tests): texts appended, references to
 * a text stored before, texts the writer had to compress itself. */
struct texts_stats {
    uint64_t inserted, reused, packed_by_writer;
};
void texts_get_stats(struct texts *t, struct texts_stats *out);

/* Dictionaries (DESIGN.md §5: "zstd-compressed with a dictionary trained
 * per project"). Once a project has enough texts, a dictionary is trained
 * on a sample of them (texts_train), stored as a new version in
 * text_dicts (texts_store_dict, writer thread) and, after that commit,
 * installed (texts_install_dict): new texts of the project are packed
 * with it from then on, and every text row names the dictionary it was
 * packed with, so older texts keep theirs. */
#define TEXTS_TRAIN_MIN_SAMPLES 200
#define TEXTS_DICT_BYTES (32u << 10)

struct texts_samples {
    struct buf data; /* the samples, end to end */
    size_t *sizes, n, cap;
};
void texts_samples_init(struct texts_samples *sm);
void texts_samples_release(struct texts_samples *sm);
int texts_samples_add(struct texts_samples *sm, const void *p, size_t n)
    __attribute__((warn_unused_result));

/* Sample the distinct texts that the newest 'max_spans' hot rows of
 * 'project' refer to, newest first, at most 'max_samples', through 'db'
 * (any connection). Returns 0, or -1 with a message. */
int texts_sample(sqlite3 *db, const char *project, int max_spans, size_t max_samples,
                 struct texts_samples *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Train a dictionary of at most 'dict_max' bytes on 'sm', appended to 'out'.
 * Returns 0, or -1 with a message (too few samples, or zstd refused). */
int texts_train(const struct texts_samples *sm, size_t dict_max, struct buf *out, char *err,
                size_t errlen) __attribute__((warn_unused_result));
/* Writer thread: store dictionary 'dict' of 'project' as a new version;
 * its id in *id. Returns 0, or -1 with a message. */
int texts_store_dict(sqlite3 *db, const char *project, const void *dict, size_t n, int samples,
                     int64_t *id, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Any thread, once the dictionary's row is committed: pack the project's
 * new texts with it. Returns 0, or -1 when zstd refuses the dictionary. */
int texts_install_dict(struct texts *t, const char *project, int64_t id, const void *dict, size_t n)
    __attribute__((warn_unused_result));
/* 1 when 'project' has a dictionary. Any thread. */
int texts_has_dict(struct texts *t, const char *project);

/* Register llmtap_refs(refs) on 'db', which decodes a refs blob to its
 * text (NULL passes through). The reader it returns belongs to 'db' and
 * must be freed with texts_reader_free before 'db' is closed. Returns
 * SQLITE_OK or an SQLite error code. */
int texts_register(sqlite3 *db, struct texts_reader **out);
void texts_reader_free(struct texts_reader *r);

/* Append text 'id' to 'out', read through 'r''s connection. Returns
 * SQLITE_OK, SQLITE_CORRUPT (missing, or does not decode) or another
 * SQLite code. */
int texts_read_text(struct texts_reader *r, int64_t id, struct buf *out)
    __attribute__((warn_unused_result));

/* Every text after id 'after', in id order, whether in a block
 * (store/textblock.h) or a row of its own: 'fn' gets (id, bytes), or
 * (id, NULL, 0) for a row that does not decode; non-zero from it stops the
 * walk and is returned (-1: a block does not decode, or SQL failed). */
typedef int (*texts_each_fn)(void *ctx, int64_t id, const char *p, size_t len);
int texts_each(struct texts_reader *rd, int64_t after, texts_each_fn fn, void *ctx);

/* The cache of block dictionaries 'rd' decodes with (store/textblock.h),
 * on the same connection; owned by 'rd'. */
struct textblock_dicts;
struct textblock_dicts *texts_reader_block_dicts(struct texts_reader *rd);

/* A reader on 'db' without the SQL function, for code that reads texts
 * itself (sampling, `llmtap check`); NULL when zstd cannot start. Free with
 * texts_reader_free. */
struct texts_reader *texts_reader_open(sqlite3 *db);

/* Append the text ids of the 'n'-byte refs blob to '*ids' (grown as needed;
 * '*nids' used, '*cap' allocated). Returns 0, or -1 when the blob is
 * malformed (what was appended is kept). */
int texts_refs_ids(const void *blob, size_t n, int64_t **ids, size_t *nids, size_t *cap)
    __attribute__((warn_unused_result));

/* Append the text that the 'n'-byte refs blob stands for to 'out', reading
 * through 'r''s connection. Returns SQLITE_OK, SQLITE_CORRUPT (a malformed
 * blob, or a text that is missing or does not decode), SQLITE_NOMEM (past
 * 'out''s ceiling) or another SQLite code. */
int texts_read_refs(struct texts_reader *r, const void *blob, size_t n, struct buf *out)
    __attribute__((warn_unused_result));

/* Helpers, exposed for tests. */

/* The keyed 128-bit hash of ('project', 'text'); 'key' is the database's. */
void texts_hash(const uint64_t key[2], const char *project, const char *text, size_t len,
                uint8_t out[16]);

/* Where the elements of the compact JSON array 'json' are: 0 with
 * (*starts)[i], (*lens)[i] for each of '*n' elements (caller frees both),
 * or -1 when 'json' is not an array written with no space between its
 * elements (it is then kept as one text), or has more than
 * TEXTS_MAX_PER_VALUE elements. */
int texts_split(const char *json, size_t len, size_t **starts, size_t **lens, size_t *n)
    __attribute__((warn_unused_result));

#endif
