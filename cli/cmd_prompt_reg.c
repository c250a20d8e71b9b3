/*
 * cmd_prompt_reg: the registry verbs of `llmtap prompt` (store/prompts.h):
 * push NAME FILE, list, show NAME[@V|@LABEL], diff NAME@A NAME@B, label
 * NAME LABEL V. Writes go to a running server (one writer) or, with none,
 * to the file from this process; reads open the file read-only. A prompt
 * file's templates are checked as Mustache before they are pushed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/prompts.h"
#include "store/store.h"
#include "core/mustache.h"

#define DIFF_MAX_LINES 2000

/* Every message's content must parse as a Mustache template. */
static int check_templates(const char *body, char *err, size_t errlen)
{
    char why[256];
    cJSON *j = jsonx_parse(body, strlen(body), why, sizeof(why));
    struct mustache *m = mustache_new(NULL, NULL);
    int i = 0, rc = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(j, "messages"))
    {
        const char *src = jsonx_str(msg, "content");
        char name[32];
        snprintf(name, sizeof(name), "m%d", i);
        if (src && mustache_add(m, name, src, strlen(src), why, sizeof(why)) != MUSTACHE_OK) {
            snprintf(err, errlen, "messages[%d]: %s", i, why);
            rc = -1;
            break;
        }
        i++;
    }
    mustache_free(m);
    cJSON_Delete(j);
    return rc;
}

/* Hand {"op": ...} to the server; its JSON answer into 'resp'. */
static int via_server(const char *url, const struct buf *body, struct buf *resp)
{
    char err[512];
    char *endpoint = xasprintf("%s/api/v1/admin/prompts", url);
    long status = 0;
    int rc = cli_http_post(endpoint, "application/json", NULL, buf_str(body), body->len, resp,
                           &status, err, sizeof(err));
    free(endpoint);
    if (rc != 0)
        return cli_fail("prompt", "%s", err);
    if (status != 200)
        return cli_fail("prompt", "server answered %ld: %.300s", status, buf_str(resp));
    return 0;
}

static int open_rw(const char *db, struct store **st)
{
    char err[512];
    if (store_open(st, db, STORE_READWRITE, err, sizeof(err)) != STORE_OK)
        return cli_fail("prompt", "%s", err);
    return 0;
}

static int push(const char *db, const char *name, const char *file, int json)
{
    char err[512];
    size_t len;
    if (!prompts_valid_name(name))
        return cli_fail("prompt", "'%s' is not a prompt name (A-Z a-z 0-9 . _ -)", name);
    char *text = cli_read_file(file, &len, err, sizeof(err)), *body = NULL;
    if (!text)
        return cli_fail("prompt", "%s", err);
    int rc = prompts_check_body(text, len, &body, err, sizeof(err));
    free(text);
    if (rc == 0)
        rc = check_templates(body, err, sizeof(err));
    if (rc != 0) {
        free(body);
        return cli_fail("prompt", "%s: %s", file, err);
    }
    int64_t version = 0;
    int created = 0;
    char *url = cli_find_server(db);
    if (url) {
        struct buf req, resp;
        buf_init(&req, 0);
        buf_init(&resp, 1u << 16);
        rc = buf_puts(&req, "{\"op\":\"push\",\"name\":") || buf_json_str(&req, name) ||
             buf_printf(&req, ",\"prompt\":%s}", body);
        rc = rc ? cli_fail("prompt", "out of memory") : via_server(url, &req, &resp);
        cJSON *j = rc ? NULL : jsonx_parse(resp.data, resp.len, err, sizeof(err));
        if (j && jsonx_member_int64(j, "version", &version) == 0)
            created = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "created"));
        cJSON_Delete(j);
        buf_release(&req);
        buf_release(&resp);
        free(url);
    } else {
        struct store *st = NULL;
        rc = open_rw(db, &st);
        if (rc == 0 &&
            prompts_push(store_db(st), name, body, &version, &created, err, sizeof(err)) != 0)
            rc = cli_fail("prompt", "%s", err);
        store_close(st);
    }
    free(body);
    if (rc == 0)
        printf(json ? "{\"name\":\"%s\",\"version\":%lld,\"created\":%s}\n" : "%s@%lld%s\n", name,
               (long long)version,
               json      ? (created ? "true" : "false")
               : created ? ""
                         : " (unchanged: no new version)");
    return rc;
}

static int label(const char *db, const char *name, const char *lab, const char *ver, int json)
{
    char err[512], *end;
    long long v = strtoll(ver, &end, 10);
    if (!*ver || *end || v < 1)
        return cli_fail("prompt", "the version must be a number >= 1, not '%s'", ver);
    int rc;
    char *url = cli_find_server(db);
    if (url) {
        struct buf req, resp;
        buf_init(&req, 0);
        buf_init(&resp, 1u << 16);
        rc = buf_puts(&req, "{\"op\":\"label\",\"name\":") || buf_json_str(&req, name) ||
             buf_puts(&req, ",\"label\":") || buf_json_str(&req, lab) ||
             buf_printf(&req, ",\"version\":%lld}", v);
        rc = rc ? cli_fail("prompt", "out of memory") : via_server(url, &req, &resp);
        buf_release(&req);
        buf_release(&resp);
        free(url);
    } else {
        struct store *st = NULL;
        rc = open_rw(db, &st);
        int r = rc ? 0 : prompts_label(store_db(st), name, lab, v, err, sizeof(err));
        if (r == 1)
            rc = cli_fail("prompt", "%s has no version %lld", name, v);
        else if (r < 0)
            rc = cli_fail("prompt", "%s", err);
        store_close(st);
    }
    if (rc == 0)
        printf(json ? "{\"name\":\"%s\",\"label\":\"%s\",\"version\":%lld}\n" : "%s@%s -> %lld\n",
               name, lab, v);
    return rc;
}

struct list_out {
    struct buf b;
    int json, n;
};

static int list_row(void *ctx, const char *name, int64_t latest, int64_t versions,
                    const char *labels, int64_t updated_ns)
{
    struct list_out *o = ctx;
    char when[40];
    time_format_iso(updated_ns, when, sizeof(when));
    int rc = o->json ? buf_puts(&o->b, o->n ? ",{\"name\":" : "{\"name\":") ||
                           buf_json_str(&o->b, name) ||
                           buf_printf(&o->b, ",\"latest\":%lld,\"versions\":%lld,\"labels\":",
                                      (long long)latest, (long long)versions) ||
                           buf_json_str(&o->b, labels) || buf_puts(&o->b, ",\"updated\":") ||
                           buf_json_str(&o->b, when) || buf_putc(&o->b, '}')
                     : buf_printf(&o->b, "%-32s v%-5lld %3lld versions  %s  %s\n", name,
                                  (long long)latest, (long long)versions, when, labels);
    o->n++;
    return rc;
}

static int list(const char *db, int json)
{
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("prompt", "%s", err);
    struct list_out o = {.json = json};
    buf_init(&o.b, 0);
    int rc = prompts_list(store_db(st), list_row, &o, err, sizeof(err));
    store_close(st);
    if (rc == 0) {
        if (json)
            printf("[%s]\n", buf_str(&o.b));
        else
            fputs(o.n ? buf_str(&o.b) : "no prompts yet: llmtap prompt push NAME FILE\n", stdout);
    } else
        cli_fail("prompt", "%s", err);
    buf_release(&o.b);
    return rc ? 1 : 0;
}

/* NAME[@REF] read from the store into 'v'; 0, or the exit code. */
static int fetch(struct store *st, const char *arg, struct prompt_version *v)
{
    char name[PROMPTS_NAME_MAX + 1], ref[PROMPTS_NAME_MAX + 1], err[512];
    if (prompts_split_ref(arg, name, sizeof(name), ref, sizeof(ref)) != 0)
        return cli_fail("prompt", "'%s' is not NAME, NAME@VERSION or NAME@LABEL", arg) + 1;
    int rc = prompts_get(store_db(st), name, ref, v, err, sizeof(err));
    if (rc == 1)
        return cli_fail("prompt", "no prompt %s", arg);
    return rc ? cli_fail("prompt", "%s", err) : 0;
}

/* The body as indented JSON (caller frees). */
static char *pretty(const char *body)
{
    char err[64];
    cJSON *j = jsonx_parse(body, strlen(body), err, sizeof(err));
    char *out = j ? cJSON_Print(j) : xstrdup(body);
    cJSON_Delete(j);
    return out;
}

static int show(const char *db, const char *arg, int json)
{
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("prompt", "%s", err);
    struct prompt_version v;
    int rc = fetch(st, arg, &v);
    store_close(st);
    if (rc)
        return rc;
    char when[40];
    time_format_iso(v.created_ns, when, sizeof(when));
    if (json) {
        printf("{\"name\":\"%s\",\"version\":%lld,\"labels\":\"%s\",\"created\":\"%s\","
               "\"prompt\":%s}\n",
               v.name, (long long)v.version, v.labels, when, v.body);
    } else {
        char *p = pretty(v.body);
        printf("%s@%lld  %s%s%s\n%s\n", v.name, (long long)v.version, when, *v.labels ? "  " : "",
               v.labels, p);
        free(p);
    }
    prompt_version_release(&v);
    return 0;
}

/* Split 'text' into lines (pointers into it; the text is modified). */
static size_t lines_of(char *text, char **out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < max;
         l = strtok_r(NULL, "\n", &save))
        out[n++] = l;
    return n;
}

/* A line diff by longest common subsequence: ' ' kept, '-' only in A, '+' only in B. */
static void print_diff(char **a, size_t na, char **b, size_t nb)
{
    size_t w = nb + 1;
    unsigned *lcs = xcalloc((na + 1) * w, sizeof(*lcs));
    for (size_t i = na; i-- > 0;)
        for (size_t j = nb; j-- > 0;)
            lcs[i * w + j] = strcmp(a[i], b[j]) == 0
                                 ? lcs[(i + 1) * w + j + 1] + 1
                                 : (lcs[(i + 1) * w + j] > lcs[i * w + j + 1] ? lcs[(i + 1) * w + j]
                                                                              : lcs[i * w + j + 1]);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        if (i < na && j < nb && strcmp(a[i], b[j]) == 0)
            printf(" %s\n", a[i++]), j++;
        else if (i < na && (j == nb || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]))
            printf("-%s\n", a[i++]);
        else
            printf("+%s\n", b[j++]);
    }
    free(lcs);
}

static int diff(const char *db, const char *arg_a, const char *arg_b)
{
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("prompt", "%s", err);
    struct prompt_version va, vb;
    memset(&vb, 0, sizeof(vb));
    int rc = fetch(st, arg_a, &va);
    if (rc == 0 && (rc = fetch(st, arg_b, &vb)) != 0)
        prompt_version_release(&va);
    store_close(st);
    if (rc)
        return rc;
    char *pa = pretty(va.body), *pb = pretty(vb.body);
    char **la = xcalloc(DIFF_MAX_LINES, sizeof(*la)), **lb = xcalloc(DIFF_MAX_LINES, sizeof(*lb));
    size_t na = lines_of(pa, la, DIFF_MAX_LINES), nb = lines_of(pb, lb, DIFF_MAX_LINES);
    printf("--- %s@%lld\n+++ %s@%lld\n", va.name, (long long)va.version, vb.name,
           (long long)vb.version);
    print_diff(la, na, lb, nb);
    free(la);
    free(lb);
    free(pa);
    free(pb);
    prompt_version_release(&va);
    prompt_version_release(&vb);
    return 0;
}

int cli_prompt_registry(const char *verb, int argc, char **argv, const char *usage)
{
    const char *db = NULL, *pos[4] = {NULL};
    int json = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r < 0 || (r == 0 && (argv[i][0] == '-' || npos == 4))) {
            fprintf(stderr, "%s", usage);
            return CLI_USAGE_ERROR;
        }
        if (r == 0)
            pos[npos++] = argv[i];
    }
    const char *path = cli_db_path(db);
    if (!strcmp(verb, "push") && npos == 2)
        return push(path, pos[0], pos[1], json);
    if (!strcmp(verb, "label") && npos == 3)
        return label(path, pos[0], pos[1], pos[2], json);
    if (!strcmp(verb, "list") && npos == 0)
        return list(path, json);
    if (!strcmp(verb, "show") && npos == 1)
        return show(path, pos[0], json);
    if (!strcmp(verb, "diff") && npos == 2)
        return diff(path, pos[0], pos[1]);
    fprintf(stderr, "llmtap prompt %s: wrong arguments\n%s", verb, usage);
    return CLI_USAGE_ERROR;
}
