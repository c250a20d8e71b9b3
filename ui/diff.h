/*
 * diff: a word diff of two texts for the replay page (ui/ui_replays.c).
 * Words are runs of non-space bytes; each word carries the whitespace that
 * follows it, so the pieces give back each text's words in order (leading
 * whitespace dropped; a SAME word carries b's whitespace, or a's when b's
 * word has none and a's has: never two words glued together). The longest common subsequence of words is computed
 * exactly on at most DIFF_MAX_WORDS words of each side (a table of
 * DIFF_MAX_WORDS^2 16-bit cells at most, on the heap); beyond that the
 * rest of each side is one deletion and one insertion and 'truncated' is
 * set. Words compare by their bytes, without the trailing whitespace.
 *
 * Pieces point into the two texts (borrowed: keep them alive); runs of the
 * same kind are merged. Not thread-safe per diff; pure otherwise.
 */
#ifndef UI_DIFF_H
#define UI_DIFF_H

#include <stddef.h>

#define DIFF_MAX_WORDS 1500

enum diff_op { DIFF_SAME = 0, DIFF_DEL, DIFF_ADD };

struct diff_piece {
    enum diff_op op;
    const char *text; /* in 'a' for DEL, in 'b' for ADD, in either for SAME */
    size_t len;
};

struct diff {
    struct diff_piece *pieces; /* owned */
    size_t n;
    int truncated; /* a side had more than DIFF_MAX_WORDS words */
    size_t same_words, del_words, add_words;
};

/* Diff 'a' (the original) against 'b' (the replay) into 'out' (release
 * with diff_release). Either may be NULL (empty). */
void diff_words(const char *a, const char *b, struct diff *out);
void diff_release(struct diff *d); /* accepts a zeroed diff */

#endif
