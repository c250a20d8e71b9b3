/*
 * The replay page's word diff (ui/diff.h): the pieces give back both texts' words,
 * the common words are the longest common subsequence, changed words are
 * marked as deletions and insertions, runs merge, whitespace differences
 * are not changes, and the size bound holds on long inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"
#include "ui/diff.h"

/* The pieces as "=same" "-del" "+add" joined by '|' (caller frees). */
static char *render(const struct diff *d)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < d->n; i++) {
        static const char mark[] = "=-+";
        ck_assert_int_eq(buf_printf(&b, "%s%c%.*s", i ? "|" : "", mark[d->pieces[i].op],
                                    (int)d->pieces[i].len, d->pieces[i].text),
                         0);
    }
    char *s = buf_take(&b, NULL);
    buf_release(&b);
    return s ? s : xstrdup("");
}

/* 's' with every whitespace run one space, trimmed (caller frees). */
static char *words(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *w = out;
    for (const char *p = s; *p; p++) {
        int sp = strchr(" \t\n\r\f\v", *p) != NULL;
        if (!sp)
            *w++ = *p;
        else if (w > out && w[-1] != ' ')
            *w++ = ' ';
    }
    if (w > out && w[-1] == ' ')
        w--;
    *w = '\0';
    return out;
}

/* The words of side 'a' (SAME + DEL) or 'b' (SAME + ADD) from the pieces. */
static char *side(const struct diff *d, int which_b)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < d->n; i++) {
        enum diff_op op = d->pieces[i].op;
        if (op == DIFF_SAME || op == (which_b ? DIFF_ADD : DIFF_DEL))
            ck_assert_int_eq(buf_append(&b, d->pieces[i].text, d->pieces[i].len), 0);
    }
    char *s = words(buf_str(&b));
    buf_release(&b);
    return s;
}

static void expect(const char *a, const char *b, const char *want)
{
    struct diff d;
    diff_words(a, b, &d);
    char *got = render(&d);
    ck_assert_msg(strcmp(got, want) == 0, "diff(\"%s\", \"%s\") = \"%s\", want \"%s\"", a, b, got,
                  want);
    free(got);
    diff_release(&d);
}

START_TEST(test_diff_marks_changed_words)
{
    expect("Order A-1 ships today.", "Good news: order A-1 ships tomorrow.",
           "-Order |+Good news: order |=A-1 ships |-today.|+tomorrow.");
    expect("a b c", "a b c", "=a b c");
    expect("a b c", "a c", "=a |-b |=c");
    expect("a c", "a b c", "=a |+b |=c");
    expect("", "new words", "+new words");
    expect("old words", NULL, "-old words");
    expect(NULL, "", "");
}
END_TEST

START_TEST(test_diff_common_words_are_the_longest_subsequence)
{
    /* greedy matching of the first "x" would keep 1 word; the LCS keeps 3 */
    struct diff d;
    diff_words("x a b c", "a b c x", &d);
    ck_assert_uint_eq(d.same_words, 3);
    ck_assert_uint_eq(d.del_words, 1);
    ck_assert_uint_eq(d.add_words, 1);
    diff_release(&d);
}
END_TEST

START_TEST(test_diff_pieces_give_back_both_texts)
{
    static const char *const pairs[][2] = {
        {"the quick brown fox jumps", "the slow brown dog jumps high"},
        {"one\ntwo  three\t four", "one two\nthree five"},
        {"é ü 漢字 ok", "é 漢字 ok ü"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct diff d;
        diff_words(pairs[i][0], pairs[i][1], &d);
        char *a = side(&d, 0), *b = side(&d, 1);
        char *wa = words(pairs[i][0]), *wb = words(pairs[i][1]);
        ck_assert_str_eq(a, wa);
        ck_assert_str_eq(b, wb);
        free(a);
        free(b);
        free(wa);
        free(wb);
        /* runs of one kind are merged: no two neighbours share an op */
        for (size_t k = 1; k < d.n; k++)
            ck_assert(d.pieces[k].op != d.pieces[k - 1].op ||
                      d.pieces[k - 1].text + d.pieces[k - 1].len != d.pieces[k].text);
        diff_release(&d);
    }
}
END_TEST

START_TEST(test_diff_never_glues_words)
{
    expect("the end", "the end again", "=the end |+again");
    expect("the end now", "the end", "=the |=end |-now"); /* "end " from a: not glued */
}
END_TEST

START_TEST(test_diff_whitespace_is_not_a_change)
{
    struct diff d;
    diff_words("a  b\nc", "a b c", &d);
    ck_assert_uint_eq(d.same_words, 3);
    ck_assert_uint_eq(d.del_words + d.add_words, 0);
    diff_release(&d);
}
END_TEST

START_TEST(test_diff_long_texts_are_bounded)
{
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    for (int i = 0; i < DIFF_MAX_WORDS + 500; i++) {
        ck_assert_int_eq(buf_printf(&a, "w%d ", i), 0);
        ck_assert_int_eq(buf_printf(&b, "w%d ", i % 7 ? i : -i), 0);
    }
    struct diff d;
    diff_words(buf_str(&a), buf_str(&b), &d);
    ck_assert(d.truncated);
    ck_assert_uint_eq(d.same_words + d.del_words, DIFF_MAX_WORDS);
    char *ra = side(&d, 0), *rb = side(&d, 1);
    char *wa = words(buf_str(&a)), *wb = words(buf_str(&b));
    ck_assert_str_eq(ra, wa); /* nothing is lost, only compared less finely */
    ck_assert_str_eq(rb, wb);
    free(ra);
    free(rb);
    free(wa);
    free(wb);
    diff_release(&d);
    buf_release(&a);
    buf_release(&b);
}
END_TEST

static Suite *diff_suite(void)
{
    Suite *s = suite_create("diff");
    TCase *tc = tcase_create("words");
    tcase_add_test(tc, test_diff_marks_changed_words);
    tcase_add_test(tc, test_diff_common_words_are_the_longest_subsequence);
    tcase_add_test(tc, test_diff_pieces_give_back_both_texts);
    tcase_add_test(tc, test_diff_never_glues_words);
    tcase_add_test(tc, test_diff_whitespace_is_not_a_change);
    tcase_add_test(tc, test_diff_long_texts_are_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(diff_suite());
}
