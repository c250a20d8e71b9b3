/*
 * diff: the LCS word diff (diff.h). Words are found once per side; the
 * table L[i][j] is the LCS length of a's words from i and b's from j,
 * filled from the end, then walked from the start.
 */
#include "ui/diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

struct word {
    const char *p;
    size_t len;  /* the word's bytes */
    size_t span; /* with the whitespace after it */
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The words of 's', at most 'max' (*rest: the text after them, or NULL). */
static struct word *split(const char *s, size_t max, size_t *n, const char **rest)
{
    struct word *w = xcalloc(max + 1, sizeof(*w));
    *n = 0;
    *rest = NULL;
    const char *p = s ? s : "";
    while (is_space(*p))
        p++;
    while (*p) {
        if (*n == max) {
            *rest = p;
            break;
        }
        const char *start = p;
        while (*p && !is_space(*p))
            p++;
        size_t len = (size_t)(p - start);
        while (is_space(*p))
            p++;
        w[(*n)++] = (struct word){start, len, (size_t)(p - start)};
    }
    return w;
}

static int same_word(const struct word *x, const struct word *y)
{
    return x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

static void push(struct diff *d, size_t *cap, enum diff_op op, const char *text, size_t len)
{
    if (len == 0)
        return;
    struct diff_piece *last = d->n ? &d->pieces[d->n - 1] : NULL;
    if (last && last->op == op && last->text + last->len == text) {
        last->len += len;
        return;
    }
    if (d->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        d->pieces = xrealloc(d->pieces, *cap * sizeof(*d->pieces));
    }
    d->pieces[d->n++] = (struct diff_piece){op, text, len};
}

/* L as a flat (na + 1) x (nb + 1) table. */
static uint16_t *lcs_table(const struct word *a, size_t na, const struct word *b, size_t nb)
{
    size_t w = nb + 1;
    uint16_t *L = xcalloc((na + 1) * w, sizeof(*L));
    for (size_t i = na; i-- > 0;)
        for (size_t j = nb; j-- > 0;) {
            uint16_t down = L[(i + 1) * w + j], right = L[i * w + j + 1];
            L[i * w + j] = same_word(&a[i], &b[j]) ? (uint16_t)(L[(i + 1) * w + j + 1] + 1)
                           : down >= right         ? down
                                                   : right;
        }
    return L;
}

void diff_words(const char *a, const char *b, struct diff *out)
{
    memset(out, 0, sizeof(*out));
    size_t na, nb, cap = 0;
    const char *ra, *rb;
    struct word *wa = split(a, DIFF_MAX_WORDS, &na, &ra);
    struct word *wb = split(b, DIFF_MAX_WORDS, &nb, &rb);
    uint16_t *L = lcs_table(wa, na, wb, nb);
    size_t i = 0, j = 0, w = nb + 1;
    while (i < na || j < nb) {
        if (i < na && j < nb && same_word(&wa[i], &wb[j])) {
            /* the replay's layout, unless that would glue the word to the next */
            const struct word *keep =
                wb[j].span > wb[j].len || wa[i].span == wa[i].len ? &wb[j] : &wa[i];
            push(out, &cap, DIFF_SAME, keep->p, keep->span);
            out->same_words++;
            i++, j++;
        } else if (j == nb || (i < na && L[(i + 1) * w + j] >= L[i * w + j + 1])) {
            push(out, &cap, DIFF_DEL, wa[i].p, wa[i].span);
            out->del_words++;
            i++;
        } else {
            push(out, &cap, DIFF_ADD, wb[j].p, wb[j].span);
            out->add_words++;
            j++;
        }
    }
    if (ra || rb) {
        out->truncated = 1;
        if (ra)
            push(out, &cap, DIFF_DEL, ra, strlen(ra));
        if (rb)
            push(out, &cap, DIFF_ADD, rb, strlen(rb));
    }
    free(L);
    free(wa);
    free(wb);
}

void diff_release(struct diff *d)
{
    if (!d)
        return;
    free(d->pieces);
    memset(d, 0, sizeof(*d));
}
