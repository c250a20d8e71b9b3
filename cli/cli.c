/*
 * cli: helpers shared by the subcommands (see cli.h).
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/store.h"

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "llmtap: option %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_common_opt(int argc, char **argv, int *i, const char *usage, const char **db, int *json)
{
    if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
        fputs(usage, stdout);
        return CLI_HELP;
    }
    if (json && strcmp(argv[*i], "--json") == 0) {
        *json = 1;
        return 1;
    }
    return cli_opt(argc, argv, i, "--db", db);
}

int cli_only_common_opts(const char *cmd, int argc, char **argv, const char *usage, const char **db,
                         int *json)
{
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, usage, db, json);
        if (r == CLI_HELP)
            return 0;
        if (r == 0)
            fprintf(stderr, "llmtap %s: unexpected argument '%s'\n%s", cmd, argv[i], usage);
        if (r <= 0)
            return CLI_USAGE_ERROR;
    }
    return -1;
}

const char *cli_db_path(const char *given)
{
    if (given && *given)
        return given;
    const char *env = getenv("LLMTAP_DB");
    return env && *env ? env : "llmtap.db";
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "llmtap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

char *cli_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_read_stream(&b, f);
    if (f != stdin)
        fclose(f);
    if (rc != BUF_OK) {
        snprintf(err, errlen, "cannot read '%s'", path);
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b, len);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    return buf_append(b, p, size * n) == BUF_OK ? size * n : 0;
}

static int http_get_ok(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    struct buf b;
    buf_init(&b, 4096);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    buf_release(&b);
    return status == 200;
}

char *cli_find_server(const char *db)
{
    char *path = store_server_file(db);
    char err[256];
    size_t len;
    char *text = cli_read_file(path, &len, err, sizeof(err));
    free(path);
    if (!text)
        return NULL;
    cJSON *doc = jsonx_parse(text, len, err, sizeof(err));
    free(text);
    const char *url = doc ? jsonx_str(doc, "url") : NULL;
    int64_t pid = 0;
    char *found = NULL;
    if (url && strncmp(url, "http://", 7) == 0 && jsonx_member_int64(doc, "pid", &pid) == 0 &&
        pid > 0 && kill((pid_t)pid, 0) == 0) {
        char *health = xasprintf("%s/healthz", url);
        if (http_get_ok(health))
            found = xstrdup(url);
        free(health);
    }
    cJSON_Delete(doc);
    return found;
}

/* Run a prepared request: the answer into 'resp', its status into *status. */
static int http_perform(CURL *h, const char *url, struct buf *resp, long *status, char *err,
                        size_t errlen)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf(err, errlen, "cannot reach the server at %s: %s", url, curl_easy_strerror(rc));
    return rc == CURLE_OK ? 0 : -1;
}

int cli_http_post(const char *url, const char *content_type, const char *const *headers,
                  const char *body, size_t len, struct buf *resp, long *status, char *err,
                  size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    struct curl_slist *hl = NULL;
    char *ct = xasprintf("Content-Type: %s", content_type);
    hl = curl_slist_append(hl, ct);
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    int rc = http_perform(h, url, resp, status, err, errlen);
    curl_slist_free_all(hl);
    free(ct);
    curl_easy_cleanup(h);
    return rc;
}

int cli_http_get(const char *url, struct buf *resp, long *status, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    int rc = http_perform(h, url, resp, status, err, errlen);
    curl_easy_cleanup(h);
    return rc;
}

void cli_server_error(const struct buf *resp, long status, char *err, size_t errlen)
{
    char why[128];
    cJSON *j = jsonx_parse(buf_str(resp), resp->len, why, sizeof(why));
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const char *msg = cJSON_IsObject(e) ? jsonx_str(e, "message") : NULL;
    if (msg)
        snprintf(err, errlen, "%s", msg);
    else
        snprintf(err, errlen, "the server answered %ld: %.300s", status, buf_str(resp));
    cJSON_Delete(j);
}
