/*
 * main: `llmtap <command> ...` dispatch (DESIGN.md §9).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"

#define LLMTAP_VERSION "0.1.0"

static const char usage[] =
    "llmtap " LLMTAP_VERSION
    " - LLM observability and evaluation in one binary and one SQLite file\n"
    "\n"
    "usage: llmtap <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve    run on 127.0.0.1:4318: OTLP/HTTP, native API, Langfuse ingestion, the proxy, the "
    "UI\n"
    "  import   load native JSON/NDJSON span files or OTLP JSON files\n"
    "  query    read-only SQL over the spans table\n"
    "  search   full-text search over prompt and response text\n"
    "  stats    counts, bytes on disk, time range, cost\n"
    "  prices   show the price table; `prices import FILE` adds a LiteLLM price file\n"
    "  compact  move every hot span into columnar segments now\n"
    "  check    verify the store: integrity, segments, text references\n"
    "  retention  keep a project's spans N days: `retention set PROJECT DAYS`, list, apply\n"
    "  prompt   render a Mustache prompt template: `prompt render --template F --vars F.json`\n"
    "  key      project ingest keys: `key create PROJECT`, list, revoke ID (send as LLMTap-Key)\n"
    "  budget   spend limits at the proxy's door: `budget set --user U --per day --usd 5`,\n"
    "           list, rm ID\n"
    "  eval     run a suite and gate by eval score: `eval gate SUITE.json` (0 pass,\n"
    "           1 regression, 2 usage), `eval run`, `eval online add|list|rm`\n"
    "  versions compare two version_sets with intervals and verdicts: `versions compare [A B]`\n"
    "           (0 none worse, 1 a significant regression, 2 usage), `versions list`\n"
    "  replay   re-run a stored call with another prompt version and compare:\n"
    "           `replay TRACE_ID[:SPAN_ID] --prompt NAME@VERSION`, or a batch with --from\n"
    "  alert    alert rules with signed webhooks: `alert add NAME --metric spend --window 1h\n"
    "           --anomaly --webhook URL`, list, rm NAME, test NAME, secret\n"
    "  version  print the version\n"
    "  help     this text\n"
    "\n"
    "Every command takes --help. The database is --db PATH, else $LLMTAP_DB, else ./llmtap.db.\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"serve", cmd_serve},   {"import", cmd_import},     {"query", cmd_query},
    {"stats", cmd_stats},   {"prices", cmd_prices},     {"compact", cmd_compact},
    {"check", cmd_check},   {"search", cmd_search},     {"retention", cmd_retention},
    {"prompt", cmd_prompt}, {"budget", cmd_budget},     {"key", cmd_key},
    {"eval", cmd_eval},     {"versions", cmd_versions}, {"replay", cmd_replay},
    {"alert", cmd_alert},
};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE_ERROR : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("llmtap %s\n", LLMTAP_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = commands[i].run(argc - 1, argv + 1);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "llmtap: unknown command '%s'\n\n%s", argv[1], usage);
    return CLI_USAGE_ERROR;
}
