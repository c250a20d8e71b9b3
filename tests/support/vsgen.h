/*
 * vsgen: calls of one version_set with planted distributions, for the
 * version comparison suites (store, CLI, UI). Values come from a seeded
 * generator that ignores the project and version_set, so two version_sets
 * generated with the same seed and parameters hold the same values (ids
 * differ: they hash the project and version_set in).
 */
#ifndef TESTS_SUPPORT_VSGEN_H
#define TESTS_SUPPORT_VSGEN_H

#include <stdint.h>

#include "store/writer.h"

struct tu_vs {
    const char *project, *vs; /* borrowed */
    int n;                    /* calls */
    int64_t t0, step_ns;      /* start of the first call; between two calls */
    double lat_ms;            /* median latency (lognormal); TTFT a quarter of it */
    double lat_sigma;         /* of the latency's log: 0.4 by default, 0 every call lat_ms */
    int no_ttft;              /* 1: no TTFT recorded */
    double err_p;             /* probability of status "error" */
    double cost_usd;          /* mean cost per call (uniform 0.5x..1.5x); < 0: unpriced */
    double tokens;            /* mean input tokens (output: a quarter) */
    const char *score_name;   /* NULL: no scores; else one score a call */
    double score_mean;        /* normal, sd 0.1 */
    uint64_t seed;
};

/* Generate 'v''s calls and commit them (and their scores) through 'w'. */
void tu_vs_ingest(struct writer *w, const struct tu_vs *v);

/* 'v' with the usual values: 400 calls a minute apart from 2026-03-02,
 * 800 ms, 2 % errors, $0.001 a call, 500 tokens, no scores. */
struct tu_vs tu_vs_default(const char *project, const char *vs, uint64_t seed);

#endif
