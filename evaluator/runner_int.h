/*
 * runner_int: what the runner's two files share. runner.c plans the calls
 * of a run and scores their answers; runner_http.c carries the calls (curl
 * multi, retries, the cache) and hands each finished one back.
 */
#ifndef EVALUATOR_RUNNER_INT_H
#define EVALUATOR_RUNNER_INT_H

#include <stdint.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/llmcall.h"
#include "core/mustache.h"
#include "evaluator/runner.h"
#include "evaluator/scorer.h"

enum job_kind { JOB_MODEL = 0, JOB_JUDGE, JOB_EMBED, JOB_PAIR };

struct job {
    enum job_kind kind;
    size_t c, v, s; /* case, variant, scorer */
    int rep, order; /* repeat; pairwise order (0: baseline shown as A) */
    const struct runner_upstream *up;
    enum llm_api api;
    const char *path; /* static */
    char *model;      /* owned */
    char *messages;   /* owned JSON array (the span's input); NULL for embeddings */
    char *body;       /* owned request body */
    uint8_t key[32];  /* cache key */
    int attempts;
    int64_t not_before_ns; /* backoff: not to be started before (monotonic) */
    int64_t start_ns, end_ns;
    /* the answer */
    long status;
    int cached;
    struct buf resp;
    long retry_after_ms; /* from the last answer's headers; -1 none */
    char curl_error[CURL_ERROR_SIZE];
    CURL *easy;
    struct curl_slist *headers;
    struct job *next;
    struct job *active_next; /* in run->active while in flight */
};

/* A variant's prompt, resolved and parsed. */
struct run_prompt {
    struct mustache *m;   /* one template per message: "m0", "m1", ... */
    cJSON *messages;      /* the prompt's messages (roles, templates) */
    char *name;           /* registry name, or the file's base name */
    int64_t version;      /* -1 for a file */
    char *model, *params; /* after the variant's overrides */
    const struct runner_upstream *up;
};

struct run {
    const struct runner_config *cfg;
    const struct suite *s;
    struct eval_report *r;
    struct scorer *scorers[EVAL_MAX_SCORERS];
    struct run_prompt prompts[EVAL_MAX_VARIANTS];
    const struct runner_upstream *judge_up; /* for judge and pairwise without their own */
    char *judge_model;
    /* pairwise replies per (case, rep, scorer, order); NULL until answered */
    char **pair_reply;
    int *pair_done; /* per (case, rep, scorer): orders answered (2: both) */
    /* the transport */
    CURLM *multi;
    struct job *queue, *queue_tail; /* ready or delayed, FIFO */
    struct job *active;             /* in flight */
    size_t inflight, started, finished, planned;
    int64_t t0_ns, last_progress_ns;
    int tty;
    /* pending writes */
    struct span *spans;
    size_t nspans, capspans;
    struct buf cache_op;
    size_t ncache;
    int sink_warned;
    char trace_base[33];
};

/* runner_http.c */
int run_http_init(struct run *run, char *err, size_t errlen);
void run_http_free(struct run *run);
/* Queue 'j' (the run takes it); a cache hit finishes it at once. */
void run_submit(struct run *run, struct job *j);
/* Carry every queued call to its end (or the interruption). */
void run_loop(struct run *run);
void job_free(struct job *j);
/* Flush pending spans and cache entries to the sink. */
void run_flush(struct run *run);

/* runner.c: a call finished (status, resp filled; status 0 = transport failure). */
void run_finished(struct run *run, struct job *j);

#endif
