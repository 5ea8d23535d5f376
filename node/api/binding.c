/*
 * binding.c - the Workers KV binding protocol (KV-SPEC §1, "what a real
 * workerd sends"): requests carrying X-EdgeKV-Namespace.
 *
 *   GET    /<key>?urlencoded=true[&cache_ttl=N]   value; CF-KV-Metadata, CF-Expiration
 *   PUT    /<key>?urlencoded=true[&expiration=N][&expiration_ttl=N]   CF-KV-Metadata in
 *   DELETE /<key>?urlencoded=true
 *   GET    /?[key_count_limit=N][&prefix=P][&cursor=C]   list JSON
 *   POST   /bulk/get   {"keys":[...],"type"?,"withMetadata"?,"cacheTtl"?}
 *
 * workerd turns a non-2xx answer into "KV <OP> failed: <status> <reason>",
 * so every error message travels in the HTTP reason phrase, in the spec's
 * validation order. A namespace the token may not use is 403; a namespace
 * that does not exist is 400 (not 404, which workerd would turn into null
 * and hide a misconfigured binding). cache_ttl is validated but has no other
 * effect: edgekv pushes writes to edges instead of caching for a TTL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "text.h"

#define BIND_TYPE_TEXT 0
#define BIND_TYPE_JSON 1

typedef struct {
    node_app_t *app;
    http_req_t *req;
    metrics_route_t route;
    char ns[KV_NS_ID_LEN + 1];
    char auth_id[AUTH_ID_BYTES]; /* the token's id, named to the origin */
    char *key;                   /* decoded, kv_malloc'd */
    size_t key_len;
    int64_t expiration;
} bind_write_t;

static const http_header_t *hdr(http_req_t *req, const char *name)
{
    return http_req_header(req, name);
}

static int query_true(const http_req_t *req, const char *name)
{
    const char *v;
    size_t n;
    return text_query_get(req->query, req->query_len, name, &v, &n) && text_ieq(v, n, "true");
}

/* The key of /<key>, decoded when urlencoded=true. */
static int decode_key(http_req_t *req, char **key, size_t *len, kvop_err_t *e)
{
    const char *raw = req->path + 1;
    size_t raw_len = req->path_len - 1;
    long n;
    *key = kv_malloc(raw_len + 1);
    if (!*key) {
        kvops_internal(-ENOMEM, "binding key", e);
        return -1;
    }
    if (!query_true(req, "urlencoded")) {
        memcpy(*key, raw, raw_len);
        *len = raw_len;
        return 0;
    }
    n = text_pct_decode(raw, raw_len, *key, false);
    if (n < 0) {
        e->status = 400;
        snprintf(e->msg, sizeof e->msg, "Could not URL-decode key name");
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* How a numeric option reads (text.h): absent, or text_parse_num's
 * verdict. A value out of the runtime's int32 range, or text that is no
 * number at all, cannot come from a Worker, and is refused here, never
 * read as 0 or wrapped. */
typedef enum { NUM_ABSENT, NUM_OK, NUM_NAN, NUM_RANGE } num_t;

/* Text longer than this is not quoted whole in an error. */
#define NUM_TEXT_MAX 64

static num_t num_of(text_num_t t)
{
    return t == TEXT_NUM_OK ? NUM_OK : t == TEXT_NUM_NAN ? NUM_NAN : NUM_RANGE;
}

static num_t num_parse(const char *s, size_t n, int64_t *v)
{
    return num_of(text_parse_num(s, n, v));
}

static num_t num_real(double d, int64_t *v)
{
    return num_of(text_num_real(d, v));
}

static num_t query_num(http_req_t *req, const char *name, int64_t *v, const char **raw,
                       size_t *raw_len)
{
    *v = 0;
    if (!text_query_get(req->query, req->query_len, name, raw, raw_len))
        return NUM_ABSENT;
    return num_parse(*raw, *raw_len, v);
}

/* The error of an option that is no usable number, -1; 0 when it is one
 * (or absent). Out of range: the runtime's own text (rule 11). Not a
 * number: the option's rule for its smallest value (6, 7, 9), quoting the
 * text as sent, as the gateway does. */
static int num_check(num_t r, const char *name, const char *raw, size_t raw_len, const char *rule,
                     kvop_err_t *e)
{
    if (r == NUM_RANGE) {
        e->status = 400;
        snprintf(e->msg, sizeof e->msg, "%s", KVOPS_RULE_RANGE);
        return -1;
    }
    if (r == NUM_NAN) {
        e->status = 400;
        snprintf(e->msg, sizeof e->msg, "Invalid %s of %.*s. %s", name,
                 (int)(raw_len > NUM_TEXT_MAX ? NUM_TEXT_MAX : raw_len), raw, rule);
        return -1;
    }
    return 0;
}

/* Steps 1-4 of the PUT validation order (KV-SPEC §2): key, TTL or
 * expiration, metadata. The value size (step 5) is the caller's. Only the
 * TTL is read when both are given (rule 12). */
static int check_put(node_app_t *app, http_req_t *req, bind_write_t *w, kvop_err_t *e)
{
    int64_t ttl = 0, exp = 0;
    const char *raw = NULL;
    size_t raw_len = 0;
    num_t t, x = NUM_ABSENT;
    const http_header_t *meta = hdr(req, "CF-KV-Metadata");
    if (decode_key(req, &w->key, &w->key_len, e) != 0 ||
        kvops_check_key(w->key, w->key_len, e) != 0)
        return -1;
    t = query_num(req, "expiration_ttl", &ttl, &raw, &raw_len);
    if (num_check(t, "expiration_ttl", raw, raw_len, KVOPS_RULE_TTL_POSITIVE, e) != 0)
        return -1;
    if (t == NUM_ABSENT) {
        x = query_num(req, "expiration", &exp, &raw, &raw_len);
        if (num_check(x, "expiration", raw, raw_len, KVOPS_RULE_EXPIRATION_FUTURE, e) != 0)
            return -1;
    }
    if (kvops_check_expiry(t == NUM_OK, ttl, x == NUM_OK, exp, kvops_now_s(app->ops),
                           &w->expiration, e) != 0)
        return -1;
    if (meta && kvops_check_metadata(meta->value, meta->value_len, e) != 0)
        return -1;
    return 0;
}

/* Auth and namespace: 0, or -1 with the answer in *e. */
static int admit_verdict(node_app_t *app, http_req_t *req, bool write, char *ns, kvop_err_t *e)
{
    const http_header_t *h = hdr(req, "X-EdgeKV-Namespace");
    const http_header_t *a = hdr(req, "Authorization");
    stor_ns_t info;
    auth_result_t ar;

    e->status = 400;
    if (h->value_len != KV_NS_ID_LEN) {
        snprintf(e->msg, sizeof e->msg, "Invalid namespace id");
        return -1;
    }
    memcpy(ns, h->value, KV_NS_ID_LEN);
    ns[KV_NS_ID_LEN] = '\0';
    ar = auth_check(app->auth, a ? a->value : NULL, a ? a->value_len : 0, NULL, ns, write, NULL);
    if (ar == AUTH_UNAUTHENTICATED) {
        e->status = 401;
        snprintf(e->msg, sizeof e->msg, "Unauthorized");
        return -1;
    }
    if (stor_ns_get(kvops_store(app->ops), ns, &info) != 0) {
        snprintf(e->msg, sizeof e->msg, "Namespace %s not found", ns);
        return -1;
    }
    if (auth_check(app->auth, a->value, a->value_len, info.account, ns, write, NULL) != AUTH_OK) {
        e->status = 403;
        snprintf(e->msg, sizeof e->msg, "Forbidden");
        return -1;
    }
    return 0;
}

/* Auth and namespace. On failure the request is answered and -1 returned. */
static int admit(node_app_t *app, http_req_t *req, metrics_route_t route, bool write, char *ns)
{
    kvop_err_t e;
    if (admit_verdict(app, req, write, ns, &e) == 0)
        return 0;
    app_bind_error(app, req, route, e.status, e.msg);
    return -1;
}

/* ---- get ------------------------------------------------------------------------ */

static void blob_release(void *arg)
{
    stor_blob_unref(arg);
}

/* CF-KV-Metadata must stay one header line: CR/LF (only JSON whitespace in
 * valid JSON) become spaces. */
static size_t meta_header(char *out, size_t cap, const stor_record_t *r)
{
    size_t n = 0, i;
    if (r->metadata_len) {
        n = (size_t)snprintf(out, cap, "CF-KV-Metadata: ");
        for (i = 0; i < r->metadata_len && n + 2 < cap; i++)
            out[n++] = (r->metadata[i] == '\r' || r->metadata[i] == '\n') ? ' ' : r->metadata[i];
        n += (size_t)snprintf(out + n, cap - n, "\r\n");
    }
    if (r->expiration)
        n +=
            (size_t)snprintf(out + n, cap - n, "CF-Expiration: %lld\r\n", (long long)r->expiration);
    return n;
}

/* cache_ttl (rule 6): validated, with no other effect (see the top). */
static int check_cache_ttl(num_t r, int64_t ttl, const char *raw, size_t raw_len, kvop_err_t *e)
{
    char rule[64];
    snprintf(rule, sizeof rule, "Cache TTL must be at least %d.", KV_CACHE_TTL_MIN_S);
    if (num_check(r, "cache_ttl", raw, raw_len, rule, e) != 0)
        return -1;
    if (r == NUM_OK && ttl < KV_CACHE_TTL_MIN_S) {
        e->status = 400;
        snprintf(e->msg, sizeof e->msg, "Invalid cache_ttl of %lld. %s", (long long)ttl, rule);
        return -1;
    }
    return 0;
}

static void bind_get(node_app_t *app, http_req_t *req, const char *ns)
{
    kvop_err_t e;
    char *key = NULL, hbuf[KV_METADATA_MAX_BYTES + 128];
    size_t key_len;
    const char *raw = NULL;
    size_t raw_len = 0;
    int64_t ttl;
    num_t t;
    stor_blob_t *b = NULL;
    stor_record_t r;
    int rc;

    if (decode_key(req, &key, &key_len, &e) != 0 || kvops_check_key(key, key_len, &e) != 0)
        goto fail;
    t = query_num(req, "cache_ttl", &ttl, &raw, &raw_len);
    if (check_cache_ttl(t, ttl, raw, raw_len, &e) != 0)
        goto fail;
    rc = kvops_get(app->ops, ns, key, key_len, &b);
    kv_free(key);
    if (rc != 0) {
        kvops_internal(rc, "binding get", &e);
        app_bind_error(app, req, METRICS_ROUTE_BIND_GET, e.status, e.msg);
        return;
    }
    if (!b) {
        app_bind_error(app, req, METRICS_ROUTE_BIND_GET, 404, "Not Found");
        return;
    }
    stor_blob_record(b, &r);
    http_response_t resp = {.status = 200,
                            .content_type = "application/octet-stream",
                            .headers = hbuf,
                            .headers_len = meta_header(hbuf, sizeof hbuf, &r),
                            .body = r.value,
                            .body_len = r.value_len,
                            .body_release = blob_release,
                            .body_release_arg = b,
                            .omit_body = req->method == HTTP_M_HEAD};
    app_respond(app, req, METRICS_ROUTE_BIND_GET, &resp);
    return;
fail:
    kv_free(key);
    app_bind_error(app, req, METRICS_ROUTE_BIND_GET, e.status, e.msg);
}

/* ---- put / delete ---------------------------------------------------------------- */

static void write_done(void *arg, int rc)
{
    bind_write_t *w = arg;
    if (rc != 0) {
        kvop_err_t e;
        kvops_internal(rc, "binding write", &e);
        /* The origin refused the token: the texts of the local check. */
        if (e.status == 401 || e.status == 403)
            snprintf(e.msg, sizeof e.msg, "%s", e.status == 401 ? "Unauthorized" : "Forbidden");
        app_bind_error(w->app, w->req, w->route, e.status, e.msg);
    } else {
        http_response_t r = {.status = 200};
        app_respond(w->app, w->req, w->route, &r);
    }
    kv_free(w->key);
    kv_free(w);
}

static void bind_write(node_app_t *app, http_req_t *req, const char *ns, metrics_route_t route)
{
    kvop_err_t e;
    bind_write_t *w = kv_calloc(1, sizeof *w);
    int rc;
    if (!w) {
        app_bind_error(app, req, route, 500, "Internal Server Error");
        return;
    }
    w->app = app, w->req = req, w->route = route;
    memcpy(w->ns, ns, sizeof w->ns);
    /* admit() passed: the same check again, for the token's id. */
    const http_header_t *a = hdr(req, "Authorization");
    (void)auth_check_id(app->auth, a ? a->value : NULL, a ? a->value_len : 0, NULL, ns, true, NULL,
                        w->auth_id);
    rc = route == METRICS_ROUTE_BIND_PUT ? check_put(app, req, w, &e)
                                         : (decode_key(req, &w->key, &w->key_len, &e) ||
                                            kvops_check_key(w->key, w->key_len, &e));
    if (rc == 0 && route == METRICS_ROUTE_BIND_PUT)
        rc = kvops_check_value_len(req->body_len, &e);
    if (rc == 0) {
        const http_header_t *meta = hdr(req, "CF-KV-Metadata");
        /* Copied by app_write; the bytes it points to live until the answer. */
        kvops_write_t kw = {.key = w->key,
                            .key_len = w->key_len,
                            .value = req->body,
                            .value_len = req->body_len,
                            .metadata = meta ? meta->value : NULL,
                            .metadata_len = meta ? meta->value_len : 0,
                            .expiration = w->expiration,
                            .tombstone = route == METRICS_ROUTE_BIND_DELETE};
        if (app_write(app, req, w->auth_id, w->ns, &kw, 1, write_done, w) == 0)
            return;
        kvops_internal(-ENOMEM, "binding write", &e);
    }
    app_bind_error(app, req, route, e.status, e.msg);
    kv_free(w->key);
    kv_free(w);
}

/* ---- list ---------------------------------------------------------------------- */

static int list_params(http_req_t *req, size_t *limit, char *prefix, size_t *prefix_len,
                       char *cursor, size_t cursor_cap, kvop_err_t *e)
{
    const char *v;
    size_t n;
    int64_t lim;
    long len;

    e->status = 400;
    *limit = KV_LIST_MAX_KEYS;
    if (text_query_get(req->query, req->query_len, "key_count_limit", &v, &n)) {
        bool ok = text_parse_int(v, n, &lim);
        if (!ok) {
            snprintf(e->msg, sizeof e->msg,
                     "Invalid key_count_limit of %.*s. Please specify an integer greater than 0.",
                     (int)(n > 64 ? 64 : n), v);
            return -1;
        }
        if (lim < 1) {
            snprintf(e->msg, sizeof e->msg,
                     "Invalid key_count_limit of %lld. Please specify an integer greater than 0.",
                     (long long)lim);
            return -1;
        }
        if (lim > KV_LIST_MAX_KEYS) {
            snprintf(e->msg, sizeof e->msg,
                     "Invalid key_count_limit of %lld. Please specify an integer less than %d.",
                     (long long)lim, KV_LIST_MAX_KEYS);
            return -1;
        }
        *limit = (size_t)lim;
    }
    len = text_query_decode(req->query, req->query_len, "prefix", prefix, KV_HTTP_URL_MAX_BYTES);
    if (len == -2) {
        snprintf(e->msg, sizeof e->msg, "Could not URL-decode prefix");
        return -1;
    }
    *prefix_len = len < 0 ? 0 : (size_t)len;
    if (*prefix_len > KV_KEY_MAX_BYTES) {
        e->status = 414;
        snprintf(e->msg, sizeof e->msg,
                 "UTF-8 encoded length of %zu exceeds key length limit of %d.", *prefix_len,
                 KV_KEY_MAX_BYTES);
        return -1;
    }
    if (text_query_decode(req->query, req->query_len, "cursor", cursor, cursor_cap) == -2) {
        snprintf(e->msg, sizeof e->msg, "Invalid cursor");
        return -1;
    }
    return 0;
}

/* The binding list shape: metadata is a JSON *string* (workerd parses it). */
static json_t *list_json(const stor_list_t *l)
{
    json_t *keys = json_array(), *doc;
    for (size_t i = 0; i < l->count; i++) {
        const stor_list_item_t *it = &l->items[i];
        json_t *k = json_pack("{s:s%}", "name", it->name, it->name_len);
        if (!k)
            k = json_pack("{s:s}", "name", ""); /* not UTF-8: cannot be listed as JSON */
        if (it->expiration)
            json_object_set_new(k, "expiration", json_integer(it->expiration));
        if (it->metadata)
            json_object_set_new(k, "metadata", json_stringn(it->metadata, it->metadata_len));
        json_array_append_new(keys, k);
    }
    doc = json_pack("{s:o, s:b}", "keys", keys, "list_complete", l->complete);
    if (doc && !l->complete && l->cursor)
        json_object_set_new(doc, "cursor", json_string(l->cursor));
    return doc;
}

static void bind_list(node_app_t *app, http_req_t *req, const char *ns)
{
    char prefix[KV_HTTP_URL_MAX_BYTES + 1], cursor[KV_HTTP_URL_MAX_BYTES + 1] = "";
    size_t limit, prefix_len;
    stor_list_t l;
    kvop_err_t e;
    int rc;

    if (list_params(req, &limit, prefix, &prefix_len, cursor, sizeof cursor, &e) != 0) {
        app_bind_error(app, req, METRICS_ROUTE_BIND_LIST, e.status, e.msg);
        return;
    }
    rc = stor_list(kvops_store(app->ops), ns, prefix, prefix_len, cursor[0] ? cursor : NULL, limit,
                   kvops_now_s(app->ops), &l);
    if (rc == KV_EBADCURSOR) {
        app_bind_error(app, req, METRICS_ROUTE_BIND_LIST, 400, "Invalid cursor");
        return;
    }
    if (rc != 0) {
        kvops_internal(rc, "binding list", &e);
        app_bind_error(app, req, METRICS_ROUTE_BIND_LIST, e.status, e.msg);
        return;
    }
    app_respond_json(app, req, METRICS_ROUTE_BIND_LIST, 200, list_json(&l));
    stor_list_free(&l);
}

/* ---- bulk get -------------------------------------------------------------------- */

/* cacheTtl of a bulk get: workerd sends it as a string; a JSON number is
 * read as well; anything else is no number (its JSON text is quoted). */
static int check_bulk_cache_ttl(json_t *ttl, kvop_err_t *e)
{
    int64_t v = 0;
    num_t r = NUM_NAN;
    char *dump = NULL;
    const char *raw = json_string_value(ttl);
    size_t raw_len = json_string_length(ttl);
    int rc;
    if (raw) {
        r = num_parse(raw, raw_len, &v);
    } else if (json_is_integer(ttl)) {
        json_int_t i = json_integer_value(ttl);
        r = i < INT32_MIN || i > INT32_MAX ? NUM_RANGE : NUM_OK;
        v = r == NUM_OK ? (int64_t)i : 0;
    } else if (json_is_real(ttl)) {
        r = num_real(json_real_value(ttl), &v);
    } else {
        dump = json_dumps(ttl, JSON_ENCODE_ANY | JSON_COMPACT);
        raw = dump ? dump : "";
        raw_len = strlen(raw);
    }
    rc = check_cache_ttl(r, v, raw, raw_len, e);
    free(dump);
    return rc;
}

/* Parse and validate the bulk/get body (KV-SPEC §2 rules 19-21, 4b, 6). */
static int bulk_params(node_app_t *app, http_req_t *req, json_t **doc, int *type, int *with_meta,
                       kvop_err_t *e)
{
    json_t *keys, *t, *ttl;
    size_t i, n;
    (void)app;
    e->status = 400;
    *doc = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    keys = json_object_get(*doc, "keys");
    if (!json_is_array(keys)) {
        snprintf(e->msg, sizeof e->msg, "Request body must be a JSON object with a keys array");
        return -1;
    }
    n = json_array_size(keys);
    if (n > KV_BULK_GET_MAX_KEYS)
        return snprintf(e->msg, sizeof e->msg, "You can request a maximum of %d keys",
                        KV_BULK_GET_MAX_KEYS),
               -1;
    if (n == 0)
        return snprintf(e->msg, sizeof e->msg, "You must request a minimum of 1 key"), -1;
    t = json_object_get(*doc, "type");
    *type = BIND_TYPE_TEXT;
    if (t && !json_is_null(t)) {
        const char *ts = json_string_value(t);
        if (ts && strcmp(ts, "json") == 0) {
            *type = BIND_TYPE_JSON;
        } else if (!ts || strcmp(ts, "text") != 0) {
            char *dump = ts ? NULL : json_dumps(t, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(e->msg, sizeof e->msg, "\"%s\" is not a valid type. Use \"json\" or \"text\"",
                     ts     ? ts
                     : dump ? dump
                            : "");
            free(dump);
            return -1;
        }
    }
    *with_meta = json_is_true(json_object_get(*doc, "withMetadata"));
    ttl = json_object_get(*doc, "cacheTtl");
    if (ttl && !json_is_null(ttl) && check_bulk_cache_ttl(ttl, e) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        json_t *k = json_array_get(keys, i);
        if (!json_is_string(k))
            return snprintf(e->msg, sizeof e->msg, "Keys must be strings"), -1;
        if (kvops_check_key(json_string_value(k), json_string_length(k), e) != 0)
            return -1;
    }
    return 0;
}

/* One value of a bulk get as JSON: the text, or the parsed JSON for type
 * json. NULL with *e set when it cannot be represented. */
static json_t *bulk_value(const stor_record_t *r, int type, kvop_err_t *e)
{
    json_t *v;
    e->status = 400;
    if (type == BIND_TYPE_JSON) {
        v = json_loadb((const char *)r->value, r->value_len, JSON_DECODE_ANY, NULL);
        if (!v)
            snprintf(e->msg, sizeof e->msg,
                     "At least one of the requested keys corresponds to a non-json value");
        return v;
    }
    v = json_stringn((const char *)r->value, r->value_len);
    if (!v)
        snprintf(e->msg, sizeof e->msg, "Keys must contain text-based values");
    return v;
}

static json_t *bulk_entry(const stor_record_t *r, int type, int with_meta, int with_exp,
                          kvop_err_t *e)
{
    json_t *v = bulk_value(r, type, e), *o, *m;
    if (!v || !with_meta)
        return v;
    m = r->metadata_len ? json_loadb(r->metadata, r->metadata_len, JSON_DECODE_ANY, NULL) : NULL;
    o = json_pack("{s:o, s:o}", "value", v, "metadata", m ? m : json_null());
    if (o && with_exp && r->expiration)
        json_object_set_new(o, "expiration", json_integer(r->expiration));
    return o;
}

/* Every value in one read (kvops_multi_get: the cache, then one RocksDB
 * MultiGet for the misses), then the answer in key order. */
int binding_bulk_values(node_app_t *app, const char *ns, json_t *keys, int type_json, int with_meta,
                        int with_exp, json_t **out, kvop_err_t *e)
{
    size_t i, n = json_array_size(keys), total = 0;
    const char **names = kv_calloc(n ? n : 1, sizeof *names);
    size_t *lens = kv_calloc(n ? n : 1, sizeof *lens);
    stor_blob_t **blobs = kv_calloc(n ? n : 1, sizeof *blobs);
    json_t *res = json_object();
    int rc = 0, grc = -ENOMEM;

    for (i = 0; names && lens && i < n; i++) {
        json_t *k = json_array_get(keys, i);
        names[i] = json_string_value(k);
        lens[i] = json_string_length(k);
    }
    if (!res || !names || !lens || !blobs ||
        (grc = kvops_multi_get(app->ops, ns, names, lens, n, blobs)) != 0) {
        kvops_internal(grc, "bulk get", e);
        rc = -1;
        n = 0;
    }
    for (i = 0; i < n && rc == 0; i++) {
        json_t *v = json_null();
        if (blobs[i]) {
            stor_record_t r;
            stor_blob_record(blobs[i], &r);
            total += r.value_len + r.metadata_len;
            v = bulk_entry(&r, type_json ? BIND_TYPE_JSON : BIND_TYPE_TEXT, with_meta, with_exp, e);
            if (!v)
                rc = -1;
        }
        if (rc == 0 && total > KV_BULK_GET_MAX_RESPONSE_BYTES) {
            e->status = 413;
            snprintf(e->msg, sizeof e->msg, "Total size of request exceeds the limit of %uMB",
                     KV_BULK_GET_MAX_RESPONSE_BYTES / 1024 / 1024);
            json_decref(v);
            rc = -1;
        }
        if (rc == 0)
            json_object_setn_new(res, names[i], lens[i], v);
    }
    for (i = 0; blobs && i < n; i++)
        stor_blob_unref(blobs[i]);
    kv_free(names);
    kv_free(lens);
    kv_free(blobs);
    if (rc != 0) {
        json_decref(res);
        return -1;
    }
    *out = res;
    return 0;
}

static void bind_bulk_get(node_app_t *app, http_req_t *req, const char *ns)
{
    json_t *doc = NULL, *res;
    int type, with_meta;
    kvop_err_t e;

    if (bulk_params(app, req, &doc, &type, &with_meta, &e) != 0 ||
        binding_bulk_values(app, ns, json_object_get(doc, "keys"), type == BIND_TYPE_JSON,
                            with_meta, 0, &res, &e) != 0) {
        json_decref(doc);
        app_bind_error(app, req, METRICS_ROUTE_BIND_BULK_GET, e.status, e.msg);
        return;
    }
    json_decref(doc);
    app_respond_json(app, req, METRICS_ROUTE_BIND_BULK_GET, 200, res);
}

/* ---- dispatch -------------------------------------------------------------------- */

static int is_bulk_get(const http_req_t *req)
{
    return req->method == HTTP_M_POST && req->path_len == 9 &&
           memcmp(req->path, "/bulk/get", 9) == 0;
}

static metrics_route_t route_of(const http_req_t *req)
{
    if (is_bulk_get(req))
        return METRICS_ROUTE_BIND_BULK_GET;
    switch (req->method) {
    case HTTP_M_GET:
    case HTTP_M_HEAD:
        return req->path_len <= 1 ? METRICS_ROUTE_BIND_LIST : METRICS_ROUTE_BIND_GET;
    case HTTP_M_PUT:
        return METRICS_ROUTE_BIND_PUT;
    case HTTP_M_DELETE:
        return METRICS_ROUTE_BIND_DELETE;
    default:
        return METRICS_ROUTE_OTHER;
    }
}

static bool is_write_route(metrics_route_t route)
{
    return route == METRICS_ROUTE_BIND_PUT || route == METRICS_ROUTE_BIND_DELETE;
}

/* A body is read only for a request binding_handle would admit: any other
 * is answered when its head arrives (binding_too_large), before a byte of
 * its body is buffered. */
uint64_t binding_body_limit(node_app_t *app, http_req_t *req)
{
    metrics_route_t route = route_of(req);
    char ns[KV_NS_ID_LEN + 1];
    kvop_err_t e;
    if (app_announces_body(req) &&
        (route == METRICS_ROUTE_OTHER || admit_verdict(app, req, is_write_route(route), ns, &e)))
        return 0;
    if (req->method == HTTP_M_PUT)
        return KV_VALUE_MAX_BYTES;
    return KV_HTTP_SMALL_BODY_MAX_BYTES;
}

void binding_too_large(node_app_t *app, http_req_t *req, uint64_t len)
{
    metrics_route_t route = route_of(req);
    char ns[KV_NS_ID_LEN + 1];
    kvop_err_t e;
    bind_write_t w = {0};
    if (route == METRICS_ROUTE_OTHER) {
        e.status = 405;
        snprintf(e.msg, sizeof e.msg, "Method Not Allowed");
    } else if (admit_verdict(app, req, is_write_route(route), ns, &e) != 0) {
        /* refused before its body is read: e is the admission's answer */
    } else if (route == METRICS_ROUTE_BIND_PUT) {
        if (check_put(app, req, &w, &e) == 0)
            kvops_check_value_len(len, &e);
    } else {
        e.status = 413;
        snprintf(e.msg, sizeof e.msg, "Request body too large");
    }
    kv_free(w.key);
    app_bind_error(app, req, route, e.status, e.msg);
}

void binding_handle(node_app_t *app, http_req_t *req)
{
    metrics_route_t route = route_of(req);
    char ns[KV_NS_ID_LEN + 1];
    bool write = is_write_route(route);

    if (route == METRICS_ROUTE_OTHER) {
        app_bind_error(app, req, route, 405, "Method Not Allowed");
        return;
    }
    if (req->path_len == 0 || req->path[0] != '/') {
        app_bind_error(app, req, route, 400, "Bad Request");
        return;
    }
    if (admit(app, req, route, write, ns) != 0)
        return;
    switch (route) {
    case METRICS_ROUTE_BIND_GET:
        bind_get(app, req, ns);
        break;
    case METRICS_ROUTE_BIND_LIST:
        bind_list(app, req, ns);
        break;
    case METRICS_ROUTE_BIND_BULK_GET:
        bind_bulk_get(app, req, ns);
        break;
    default:
        bind_write(app, req, ns, route);
        break;
    }
}
