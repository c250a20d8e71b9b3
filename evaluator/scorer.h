/*
 * scorer: how one output is scored (issue 6 item 3). A scorer is parsed
 * from its suite JSON spec once and then scores every output of the run.
 *
 * Spec keys every scorer takes: "type" (required), "name" (default: the
 * type), "weight" (> 0, default 1), "threshold" (pass when value >= it;
 * default 1 for the assertions, 0.5 for judge and pairwise, 0.8 for
 * similar, 0.5 for command), "not" (bool: value becomes 1 - value, and the
 * assertion's reason says "not ..."). Every string value is a Mustache
 * template rendered in plain mode (core/mustache.h, no HTML escaping) with
 * the case: {"vars":{...},"expected":...,"metadata":{...},"output":"..."}
 * ("expected" and "metadata" null when the case has none) -- the values
 * ("value", its items, a regex pattern) and "rubric", that is; "name",
 * "flags", "model", "upstream" and "command" are taken as written (case
 * data never reaches a command line). A template that does not parse is a
 * parse error; one that does not render makes the score an error.
 *
 * Types (value is 1 or 0 unless said):
 *  equals        "value": output == value (exact); with a non-string
 *                expected/value, both as JSON compare structurally: a "value"
 *                that is not a string, or one that renders to JSON other than
 *                a string ("{{expected}}" of an object), is compared with the
 *                output parsed as JSON (as is-json reads it) by cJSON_Compare
 *  contains, icontains          "value" a string (i: case-insensitive, ASCII
 *                               and Unicode simple folding of Latin-1/Greek/Cyrillic
 *                               is not required: ASCII only)
 *  contains-any, contains-all, icontains-any, icontains-all
 *                "value": an array of strings (or one string split on commas
 *                after rendering, each item trimmed, empty items skipped)
 *  regex         "value": POSIX extended regex (regcomp REG_EXTENDED|REG_NOSUB;
 *                "flags":"i" for REG_ICASE); a bad pattern is a parse error
 *                (a pattern with "{{" compiles per rendering, and failing to
 *                then is a scorer error)
 *  starts-with   "value"
 *  is-json       the output parses as JSON (surrounding whitespace and a
 *                ```json fenced block count)
 *  json-schema   "schema": an object (type -- a name or an array of names --,
 *                required, properties, enum, items, minimum/maximum,
 *                minLength/maxLength, minItems/maxItems, additionalProperties
 *                false or a schema); other keywords are ignored; a schema of
 *                the wrong shape is a parse error naming its path. The output
 *                parses as JSON and validates; the reason names the first
 *                violation with its JSON path ("$.items[1].id: expected integer")
 *  length        "min" / "max" characters (UTF-8 code points) of the output
 *                (at least one of them)
 *  latency       "max" ms (required; and optional "min")
 *  cost          "max" USD; an unpriced call fails with reason "unpriced"
 *                (value 0, not an error, and "not" does not flip it)
 *  similar       "value" (default "{{expected}}"): cosine similarity of the
 *                output and value, clamped to [0, 1]. With "model" (and
 *                optional "upstream"), embeddings from an OpenAI-compatible
 *                /v1/embeddings (SCORER_NEEDS_EMBED); without, offline TF-IDF
 *                over lower-cased word unigrams and character trigrams, the
 *                IDF from the run's corpus (scorer_similar_corpus)
 *  judge         "rubric" (required), "model", "upstream", "scale" (default 10,
 *                an integer 1..1000: the judge answers 0..scale, normalised to
 *                0..1); SCORER_NEEDS_JUDGE
 *  pairwise      "rubric" (default: which answer is better), "model", "upstream";
 *                compares baseline and candidate (SCORER_NEEDS_PAIRWISE)
 *  command       "command": run with /bin/sh -c in its own process group;
 *                reads the case JSON {"vars","expected","metadata","output",
 *                "latency_ms","cost_usd"} (cost_usd null when unpriced) on
 *                stdin, prints a number in [0, 1], or "pass"/"fail"/"true"/
 *                "false", or {"score": x, "reason": "..."} (x a number or a
 *                bool) -- the whole stdout trimmed, else its last line;
 *                "timeout_ms" (default 30000, at most 86400000); a non-zero
 *                exit, a timeout (the group is killed), more than 1 MiB of
 *                stdout or unreadable output is a scorer error; stderr is
 *                inherited
 * Unknown types and unknown keys are parse errors (naming them).
 *
 * Thread-safety: a parsed scorer is immutable; scoring calls may run from
 * several threads at once (each renders with its own buffers).
 */
#ifndef EVALUATOR_SCORER_H
#define EVALUATOR_SCORER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "evaluator/eval.h"

struct scorer;

enum scorer_needs {
    SCORER_NEEDS_NOTHING = 0, /* scorer_score_local */
    SCORER_NEEDS_EMBED,       /* scorer_embed_request, then scorer_embed_finish */
    SCORER_NEEDS_JUDGE,       /* scorer_judge_messages, then scorer_judge_finish */
    SCORER_NEEDS_PAIRWISE     /* scorer_pairwise_messages (both orders), then
                                 scorer_pairwise_finish */
};

/* Parse one spec (an object from the suite's "scorers"). 0 with *out (caller
 * frees with scorer_free), or -1 with a message in 'err' naming the key. */
int scorer_parse(const cJSON *spec, struct scorer **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void scorer_free(struct scorer *sc); /* accepts NULL */

const char *scorer_name(const struct scorer *sc); /* borrowed */
const char *scorer_type(const struct scorer *sc); /* static */
double scorer_weight(const struct scorer *sc);
double scorer_threshold(const struct scorer *sc);
enum scorer_needs scorer_needs(const struct scorer *sc);
/* The "model" / "upstream" of a model-backed scorer (NULL when absent). */
const char *scorer_model(const struct scorer *sc);
const char *scorer_upstream(const struct scorer *sc);

/* What a scorer sees of one output. */
struct scorer_input {
    const struct eval_case *c;
    const struct eval_output *out; /* out->ok is 1 (failed calls are not scored) */
};

/* A local scorer (SCORER_NEEDS_NOTHING, or similar without a model):
 * fills *score (value, pass, reason; error 1 with the reason when it could
 * not score, e.g. a template that does not render). Every function here
 * that fills an eval_score overwrites all of it: a reason already there is
 * not freed. Assertions always give a reason ("output does not contain
 * \"X\"", "length 12 > max 10", "not: output contains \"X\""). A command
 * scorer runs its command here (blocking, up to its timeout). */
void scorer_score_local(const struct scorer *sc, const struct scorer_input *in,
                        struct eval_score *score);

/* Offline similar: the IDF over the corpus 'texts' (n of them; the runner
 * passes every case's rendered reference and every output). Until called,
 * every term weighs 1. Not thread-safe against scoring. */
void scorer_similar_corpus(struct scorer *sc, const char *const *texts, size_t n);

/* Embeddings: the /v1/embeddings request body {"model":...,"input":[output,
 * reference]} (caller frees), or NULL with *score filled: an error, or
 * value 0 ("empty output" / "empty reference") when there is nothing to
 * embed. */
char *scorer_embed_request(const struct scorer *sc, const struct scorer_input *in,
                           struct eval_score *score);
/* From the embeddings response body (OpenAI shape, float arrays, ordered by
 * their "index"): cosine of the two vectors clamped to [0, 1]. Fills
 * *score; a body that is not that shape (or an {"error":...}) is an error
 * with the reason. */
void scorer_embed_finish(const struct scorer *sc, const char *body, size_t len,
                         struct eval_score *score);

/* Judge: the chat messages to send, a JSON array [{"role":"system",...},
 * {"role":"user",...}] (caller frees) asking for a short reasoning and a
 * final line "Score: N" (0..scale); the user message holds the rubric, the
 * case's input (vars), the reference when there is one, and the output.
 * NULL with a scorer error in *score. */
char *scorer_judge_messages(const struct scorer *sc, const struct scorer_input *in,
                            struct eval_score *score);
/* Parse the judge's reply robustly: "Score: 7", "score = 7/10", "**Score:** 7",
 * "Rating: 4 out of 5", a JSON object {"score":..,"reasoning":..} (fenced
 * or not), then a lone fraction "7/10", then a bare last number; among
 * labelled mentions and JSON the last wins ("Score: 3 ... Score: 8" is
 * 0.8); a stated denominator normalises, else 'scale'; out of range (above
 * the denominator, negative) or none is a scorer error. The reasoning (a
 * JSON reply's "reasoning"/"explanation"/"reason", else the reply without
 * its score line; trimmed, at most 2000 bytes cut on a UTF-8 boundary)
 * goes to score->reason. */
void scorer_judge_finish(const struct scorer *sc, const char *reply, struct eval_score *score);
/* The number a judge reply gives, normalised to [0, 1] by 'scale' (or by
 * its stated denominator); -1 none or out of range. */
double scorer_judge_parse(const char *reply, double scale);

/* Pairwise: messages asking which of answer A and answer B is better for
 * the case (reply "A", "B" or "tie" on a last line "Winner: X"); 'swapped' 0
 * shows baseline as A, 1 shows candidate as A. The rubric renders without
 * "output". Caller frees; NULL on error (a rubric that does not render). */
char *scorer_pairwise_messages(const struct scorer *sc, const struct eval_case *c,
                               const char *baseline, const char *candidate, int swapped);
/* 'A', 'B', 'T' (tie) or 0 when the reply names none: the last "Winner: X"
 * (any case, ** and quotes tolerated, "Answer B" too), else a reply that
 * is only "A", "B" or "tie". */
int scorer_pairwise_parse(const char *reply);
/* Combine the two orders' replies (order 0: A = baseline; order 1: A =
 * candidate) into the candidate's value: 1 when it won both, 0 when it lost
 * both, 0.5 otherwise (a position-biased judge that always says "A" gives
 * 0.5); the baseline gets 1 - that. Either reply unparsable: both scores
 * error. Reasons name both verdicts. */
void scorer_pairwise_finish(const struct scorer *sc, const char *reply0, const char *reply1,
                            struct eval_score *baseline, struct eval_score *candidate);

/* Render the scorer's "value" template with the case ('in->out' may be
 * NULL: "output" renders empty): exposed so the runner can render a similar
 * reference for the corpus. Caller frees; NULL with a message (also for a
 * type without a "value"). */
char *scorer_render_reference(const struct scorer *sc, const struct scorer_input *in, char *err,
                              size_t errlen);

#endif
