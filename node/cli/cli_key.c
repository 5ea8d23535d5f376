/*
 * cli_key.c - `edgekv kv key put|get|list|delete`, and the file reader the
 * bulk commands share.
 *
 * Values travel as raw bytes both ways (GET values is not enveloped), so
 * `key get` is byte-exact on stdout. A put with --metadata is multipart,
 * with the metadata as a JSON string part: the one form Cloudflare reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* A list of keys that never reaches its end (a server handing back the same
 * cursor) is cut off after this many pages: far beyond any real namespace
 * at 1000 keys a page. */
#define KEY_LIST_MAX_PAGES 1000000

/* Reads path ("-" = stdin) into a kv_malloc'd, NUL-terminated buffer of
 * at most max bytes. 0, or CLI_EXIT_USAGE with the reason printed. */
int cli__read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 64 * 1024, n = 0;
    char *buf = NULL;
    if (!f) {
        fprintf(stderr, "edgekv kv: cannot open %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    for (;;) {
        char *b = kv_realloc(buf, cap + 1);
        if (!b)
            break;
        buf = b;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || n > max)
            break;
        cap *= 2;
    }
    bool err = !buf || ferror(f);
    if (f != stdin)
        fclose(f);
    if (err || n > max) {
        if (err)
            fprintf(stderr, "edgekv kv: cannot read %s\n", path);
        else
            fprintf(stderr, "edgekv kv: %s is larger than the limit of %zu bytes\n", path, max);
        kv_free(buf);
        return CLI_EXIT_USAGE;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* "/<ns>/<what>/<escaped key>", kv_malloc'd. */
static char *key_path(const cli_t *c, const char *what, const char *key)
{
    char *ns = cli_pct(c->ns_id, strlen(c->ns_id)), *k = cli_pct(key, strlen(key));
    char *p = ns && k ? cli_fmt("/%s/%s/%s", ns, what, k) : NULL;
    kv_free(ns);
    kv_free(k);
    return p;
}

static bool is_int(const char *s)
{
    char *end;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
}

/* "?expiration_ttl=..&expiration=.." from --ttl / --expiration. */
static int put_query(const cli_t *c, char *q, size_t cap)
{
    const char *sep = "?";
    q[0] = '\0';
    if (c->ttl) {
        if (!is_int(c->ttl))
            return cli_usage_error("--ttl must be an integer (got '%s')", c->ttl), CLI_EXIT_USAGE;
        snprintf(q, cap, "?expiration_ttl=%s", c->ttl);
        sep = "&";
    }
    if (c->expiration) {
        if (!is_int(c->expiration))
            return cli_usage_error("--expiration must be an integer (got '%s')", c->expiration),
                   CLI_EXIT_USAGE;
        size_t n = strlen(q);
        snprintf(q + n, cap - n, "%sexpiration=%s", sep, c->expiration);
    }
    return 0;
}

static int check_metadata(const char *m)
{
    json_t *j = json_loads(m, JSON_DECODE_ANY, NULL);
    bool ok = json_is_object(j);
    json_decref(j);
    if (!ok)
        cli_usage_error("--metadata must be a JSON object (got '%s')", m);
    return ok ? 0 : CLI_EXIT_USAGE;
}

static int send_put(cli_t *c, const char *path, const char *val, size_t val_len)
{
    json_t *doc, *res;
    curl_mime *mime = NULL;
    int rc;
    cli_req_t rq = {.method = "PUT", .path = path};
    if (c->metadata) {
        curl_mimepart *p;
        if (!(mime = curl_mime_init(c->curl)))
            return CLI_EXIT_API;
        p = curl_mime_addpart(mime);
        curl_mime_name(p, "value");
        curl_mime_data(p, val, val_len);
        p = curl_mime_addpart(mime);
        curl_mime_name(p, "metadata");
        curl_mime_data(p, c->metadata, CURL_ZERO_TERMINATED);
        rq.mime = mime;
    } else {
        rq.content_type = "application/octet-stream";
        rq.body = val;
        rq.body_len = val_len;
    }
    rc = cli_call(c, &rq, &doc, &res, NULL);
    curl_mime_free(mime);
    if (rc == 0)
        json_decref(doc);
    return rc;
}

int cli_key_put(cli_t *c)
{
    const char *key = c->pos[0];
    char q[128], *path, *file = NULL;
    const char *val = c->npos == 2 ? c->pos[1] : NULL;
    size_t val_len = val ? strlen(val) : 0;
    int rc = cli_need_ns(c);
    if (rc == 0 && (val != NULL) == (c->path != NULL))
        rc = (cli_usage_error("give the value as an argument or with --path (one of them)"),
              CLI_EXIT_USAGE);
    if (rc == 0)
        rc = put_query(c, q, sizeof q);
    if (rc == 0 && c->metadata)
        rc = check_metadata(c->metadata);
    if (rc == 0 && c->path)
        rc = cli__read_file(c->path, KV_VALUE_MAX_BYTES, &file, &val_len);
    if (rc != 0)
        return rc;
    if (file)
        val = file;
    path = key_path(c, "values", key);
    char *full = path ? cli_fmt("%s%s", path, q) : NULL;
    rc = full ? send_put(c, full, val, val_len) : CLI_EXIT_API;
    kv_free(full);
    kv_free(path);
    kv_free(file);
    if (rc != 0)
        return rc;
    if (c->json) {
        json_t *o = json_pack("{s:s, s:b}", "key", key, "written", 1);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Wrote key \"%s\" (%zu bytes)\n", key, val_len);
    }
    return 0;
}

/* --json form of a value: text, or base64 when it is not UTF-8. */
static json_t *value_json(const cli_resp_t *r, json_t *meta, const char *key)
{
    json_t *v = json_stringn(r->body ? r->body : "", r->len), *o;
    bool b64 = v == NULL;
    if (b64) {
        char *enc = cli_b64_encode((const unsigned char *)r->body, r->len);
        if (!enc)
            return NULL;
        v = json_string(enc);
        kv_free(enc);
    }
    o = json_pack("{s:s, s:o, s:O}", "key", key, "value", v ? v : json_null(), "metadata",
                  meta ? meta : json_null());
    if (o && b64)
        json_object_set_new(o, "base64", json_true());
    if (o && r->expiration[0])
        json_object_set_new(o, "expiration", json_integer(strtoll(r->expiration, NULL, 10)));
    return o;
}

static int get_json(cli_t *c, const cli_resp_t *val)
{
    char *path = key_path(c, "metadata", c->pos[0]);
    json_t *doc = NULL, *meta = NULL, *o;
    int rc = CLI_EXIT_API;
    if (path) {
        cli_req_t rq = {.method = "GET", .path = path};
        rc = cli_call(c, &rq, &doc, &meta, NULL);
        kv_free(path);
    }
    if (rc != 0)
        return rc;
    o = value_json(val, meta, c->pos[0]);
    json_decref(doc);
    if (!o)
        return CLI_EXIT_API;
    cli_print_json(o);
    json_decref(o);
    return 0;
}

int cli_key_get(cli_t *c)
{
    char *path;
    cli_resp_t r;
    int rc = cli_need_ns(c);
    if (rc != 0)
        return rc;
    if (!(path = key_path(c, "values", c->pos[0])))
        return CLI_EXIT_API;
    cli_req_t rq = {.method = "GET", .path = path};
    rc = cli_http(c, &rq, &r);
    kv_free(path);
    if (rc != 0)
        return rc;
    if (r.status != 200) {
        json_t *doc, *res;
        rc = cli_envelope(&r, &doc, &res, NULL);
        if (rc == 0) { /* a 2xx that is not 200: not a value */
            json_decref(doc);
            fprintf(stderr, "edgekv kv: unexpected HTTP %ld\n", r.status);
            rc = CLI_EXIT_API;
        }
    } else if (c->json) {
        rc = get_json(c, &r);
    } else if (r.len && fwrite(r.body, 1, r.len, stdout) != r.len) {
        rc = CLI_EXIT_API;
    }
    cli_resp_free(&r);
    return rc;
}

/* One page of keys; *cursor (kv_malloc'd) is the next one, NULL at the end. */
static int list_page(cli_t *c, char **cursor, json_t *all)
{
    char *ns = cli_pct(c->ns_id, strlen(c->ns_id));
    char *pre = c->prefix ? cli_pct(c->prefix, strlen(c->prefix)) : NULL;
    char *cur = *cursor ? cli_pct(*cursor, strlen(*cursor)) : NULL;
    char *path =
        ns ? cli_fmt("/%s/keys?limit=%d%s%s%s%s", ns, KV_LIST_MAX_KEYS, pre ? "&prefix=" : "",
                     pre ? pre : "", cur ? "&cursor=" : "", cur ? cur : "")
           : NULL;
    json_t *doc, *res, *info, *k;
    size_t i;
    int rc = CLI_EXIT_API;
    kv_free(ns), kv_free(pre), kv_free(cur);
    kv_free(*cursor);
    *cursor = NULL;
    if (path) {
        cli_req_t rq = {.method = "GET", .path = path};
        rc = cli_call(c, &rq, &doc, &res, &info);
        kv_free(path);
    }
    if (rc != 0)
        return rc;
    json_array_foreach(res, i, k)
    {
        if (c->json)
            json_array_append(all, k);
        else
            printf("%s\n", json_is_string(json_object_get(k, "name"))
                               ? json_string_value(json_object_get(k, "name"))
                               : "");
    }
    /* A page may be empty and still not the last (tombstones): only an
     * empty cursor ends the listing, as in wrangler. */
    const char *next = json_string_value(json_object_get(info, "cursor"));
    if (next && next[0] && !(*cursor = kv_strndup(next, strlen(next))))
        rc = CLI_EXIT_API;
    json_decref(doc);
    return rc;
}

int cli_key_list(cli_t *c)
{
    json_t *all = json_array();
    char *cursor = NULL;
    long pages = 0;
    int rc = cli_need_ns(c);
    do {
        if (rc == 0)
            rc = list_page(c, &cursor, all);
    } while (rc == 0 && cursor && ++pages < KEY_LIST_MAX_PAGES);
    kv_free(cursor);
    if (rc == 0 && c->json)
        cli_print_json(all);
    json_decref(all);
    return rc;
}

int cli_key_delete(cli_t *c)
{
    char *path;
    json_t *doc, *res;
    int rc = cli_need_ns(c);
    if (rc != 0)
        return rc;
    if (!(path = key_path(c, "values", c->pos[0])))
        return CLI_EXIT_API;
    cli_req_t rq = {.method = "DELETE", .path = path};
    rc = cli_call(c, &rq, &doc, &res, NULL);
    kv_free(path);
    if (rc != 0)
        return rc;
    json_decref(doc);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:b}", "key", c->pos[0], "deleted", 1);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Deleted key \"%s\"\n", c->pos[0]);
    }
    return 0;
}
