/*
 * cmd_prompt: `llmtap prompt render` renders a Mustache prompt template
 * (core/mustache.h) with a JSON object of variables and prints exactly the
 * rendering. Partials come from files of a --partials directory, by a
 * name that cannot leave it. The registry verbs (push, list, show, diff,
 * label) are in cmd_prompt_reg.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "core/mustache.h"
#include "evaluator/runner.h"
#include "store/prompts.h"
#include "store/store.h"

#define PROMPT_MAX_OUTPUT (64u << 20)

static const char prompt_usage[] =
    "usage: llmtap prompt render --template FILE --vars FILE.json [--partials DIR]\n"
    "       llmtap prompt render NAME[@V|@LABEL] [--vars FILE.json] [--json]  a registry version\n"
    "       llmtap prompt push NAME FILE.json     store FILE as NAME's next version\n"
    "       llmtap prompt list | show NAME[@V|@LABEL] | diff NAME@A NAME@B\n"
    "       llmtap prompt label NAME LABEL V      point LABEL (production, staging) at V\n"
    "  (the registry verbs take --db PATH and --json)\n"
    "\n"
    "A prompt file is JSON: {\"messages\": [{\"role\": \"system\", \"content\": \"...\"},\n"
    "{\"role\": \"user\", \"content\": \"{{question}}\"}], \"model\": \"...\", \"params\": "
    "{...}};\n"
    "each content is a Mustache template. Versions start at 1 and never change; pushing what\n"
    "the latest version already holds makes no new one.\n"
    "\n"
    "Renders the Mustache template FILE with the variables of FILE.json (a JSON object)\n"
    "and prints the result exactly, adding nothing. {{name}} is HTML-escaped as Mustache\n"
    "does; {{{name}}} and {{&name}} are not. A partial {{> name}} is read from\n"
    "DIR/name.mustache; without --partials, or for a name with '/' or '..' or a leading\n"
    "'.', it renders as nothing. FILE may be - for standard input.\n"
    "Example: llmtap prompt render --template support.mustache --vars case.json\n";

static const char *const registry_verbs[] = {"push", "list", "show", "diff", "label"};

/* The partial loader: DIR/name.mustache, for names that stay in DIR. */
static char *load_partial(void *arg, const char *name, size_t *len)
{
    const char *dir = arg;
    if (!dir || !*name || name[0] == '.' || strchr(name, '/') || strstr(name, ".."))
        return NULL;
    char *path = xasprintf("%s/%s.mustache", dir, name);
    char err[256];
    char *src = cli_read_file(path, len, err, sizeof(err)); /* missing: renders as nothing */
    free(path);
    return src;
}

/* The variables: a JSON object (caller frees); NULL with a message. */
static cJSON *read_vars(const char *path)
{
    char err[512];
    size_t len;
    char *text = cli_read_file(path, &len, err, sizeof(err));
    if (!text) {
        cli_fail("prompt", "%s", err);
        return NULL;
    }
    cJSON *vars = jsonx_parse(text, len, err, sizeof(err));
    free(text);
    if (!vars) {
        cli_fail("prompt", "%s: not JSON: %s", path, err);
        return NULL;
    }
    if (!cJSON_IsObject(vars)) {
        cli_fail("prompt", "%s: the variables must be a JSON object", path);
        cJSON_Delete(vars);
        return NULL;
    }
    return vars;
}

static int render(const char *tpath, const char *vpath, const char *dir)
{
    char err[512];
    size_t len;
    int rc = 1;
    struct buf out;
    buf_init(&out, PROMPT_MAX_OUTPUT);
    struct mustache *m = NULL;
    cJSON *vars = NULL;
    char *src = cli_read_file(tpath, &len, err, sizeof(err));
    if (!src) {
        cli_fail("prompt", "%s", err);
        goto fail;
    }
    if (!(vars = read_vars(vpath)))
        goto fail;
    m = mustache_new(load_partial, (void *)dir);
    if (mustache_add(m, "template", src, len, err, sizeof(err)) != MUSTACHE_OK) {
        cli_fail("prompt", "%s: %s", tpath, err);
        goto fail;
    }
    if (mustache_render(m, "template", vars, NULL, 0, &out, err, sizeof(err)) != MUSTACHE_OK) {
        cli_fail("prompt", "%s: %s", tpath, err);
        goto fail;
    }
    if (fwrite(buf_str(&out), 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        cli_fail("prompt", "cannot write the rendering");
        goto fail;
    }
    rc = 0;
fail:
    mustache_free(m);
    cJSON_Delete(vars);
    free(src);
    buf_release(&out);
    return rc;
}

static int usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "llmtap prompt: %s '%s'\n%s", what, arg, prompt_usage);
    else
        fprintf(stderr, "llmtap prompt: %s\n%s", what, prompt_usage);
    return CLI_USAGE_ERROR;
}

/* Print a registry version rendered with the variables: its messages as
 * "[role]" blocks, or (--json) {"name","version","model","params","messages"}. */
static int print_rendered(const struct prompt_version *pv, const char *msgs, int json)
{
    cJSON *m = cJSON_Parse(msgs), *body = cJSON_Parse(pv->body);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", pv->name);
        cJSON_AddNumberToObject(o, "version", (double)pv->version);
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "params");
        cJSON_AddItemToObject(o, "model", model ? cJSON_Duplicate(model, 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "params",
                              params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject());
        cJSON_AddItemToObject(o, "messages", m);
        m = NULL;
        char *t = jsonx_print(o);
        printf("%s\n", t);
        free(t);
        cJSON_Delete(o);
    } else {
        const cJSON *msg;
        int first = 1;
        cJSON_ArrayForEach(msg, m)
        {
            printf("%s[%s]\n%s\n", first ? "" : "\n", jsonx_str(msg, "role"),
                   jsonx_str(msg, "content"));
            first = 0;
        }
    }
    cJSON_Delete(m);
    cJSON_Delete(body);
    return fflush(stdout) == 0 ? 0 : cli_fail("prompt", "cannot write the rendering");
}

static int render_registry(const char *ref, const char *vpath, const char *db, int json)
{
    char name[PROMPTS_NAME_MAX + 1], v[PROMPTS_NAME_MAX + 1], err[512];
    if (prompts_split_ref(ref, name, sizeof(name), v, sizeof(v)) != 0)
        return usage_error("not NAME[@VERSION|@LABEL]:", ref);
    cJSON *vars = vpath ? read_vars(vpath) : cJSON_CreateObject();
    if (!vars)
        return 1;
    char *vtext = jsonx_print(vars);
    cJSON_Delete(vars);
    struct store *st = NULL;
    struct prompt_version pv;
    int rc = 1, got = -1;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK)
        cli_fail("prompt", "%s", err);
    else if ((got = prompts_get(store_db(st), name, v, &pv, err, sizeof(err))) != 0)
        cli_fail("prompt", got > 0 ? "no prompt %s" : "%s", got > 0 ? ref : err);
    if (got == 0) {
        char *msgs = runner_render_prompt(store_db(st), pv.body, vtext, err, sizeof(err));
        rc = msgs ? print_rendered(&pv, msgs, json) : cli_fail("prompt", "%s: %s", ref, err);
        free(msgs);
        prompt_version_release(&pv);
    }
    store_close(st);
    free(vtext);
    return rc;
}

static int cmd_render(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] != '-') {
        const char *vpath = NULL, *db = NULL;
        int json = 0;
        for (int i = 2; i < argc; i++) {
            int r = cli_common_opt(argc, argv, &i, prompt_usage, &db, &json);
            if (r == CLI_HELP)
                return 0;
            if (r == 0)
                r = cli_opt(argc, argv, &i, "--vars", &vpath);
            if (r < 0)
                return CLI_USAGE_ERROR;
            if (r == 0)
                return usage_error("unexpected argument", argv[i]);
        }
        return render_registry(argv[1], vpath, db, json);
    }
    const char *tpath = NULL, *vpath = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(prompt_usage, stdout);
            return 0;
        }
        int r = cli_opt(argc, argv, &i, "--template", &tpath);
        if (r == 0)
            r = cli_opt(argc, argv, &i, "--vars", &vpath);
        if (r == 0)
            r = cli_opt(argc, argv, &i, "--partials", &dir);
        if (r < 0)
            return CLI_USAGE_ERROR;
        if (r == 0)
            return usage_error("unexpected argument", argv[i]);
    }
    if (!tpath)
        return usage_error("--template FILE is required", NULL);
    if (!vpath)
        return usage_error("--vars FILE.json is required", NULL);
    return render(tpath, vpath, dir);
}

int cmd_prompt(int argc, char **argv)
{
    if (argc < 2) {
        fputs(prompt_usage, stderr);
        return CLI_USAGE_ERROR;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        fputs(prompt_usage, stdout);
        return 0;
    }
    if (strcmp(verb, "render") == 0)
        return cmd_render(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(registry_verbs) / sizeof(registry_verbs[0]); i++)
        if (strcmp(verb, registry_verbs[i]) == 0)
            return cli_prompt_registry(verb, argc - 1, argv + 1, prompt_usage);
    return usage_error("unknown subcommand", verb);
}
