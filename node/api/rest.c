/*
 * rest.c - the Cloudflare REST API v4 for Workers KV (KV-SPEC §3): routing,
 * authentication, and the read endpoints. Writes are in rest_write.c.
 *
 * Every path lives under /client/v4/accounts/{account}/storage/kv/namespaces
 * so that wrangler (CLOUDFLARE_API_BASE_URL=http://host:port/client/v4) and
 * the cloudflare SDK (baseURL) reach it unchanged. Answers use the v4
 * envelope, except GET values/{key}, which returns the raw bytes.
 */
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "rest_int.h"
#include "text.h"
#include "tokens.h"

#define ACCOUNTS   "/client/v4/accounts/"
#define NAMESPACES "/storage/kv/namespaces"

void rest_fail(node_app_t *app, http_req_t *req, const rest_call_t *c, int status, int code,
               const char *msg)
{
    char text[KVOP_MSG_MAX + 64];
    snprintf(text, sizeof text, "%s: '%s'", c->op, msg);
    app_rest_error(app, req, c->route, status, code, text);
}

void rest_fail_err(node_app_t *app, http_req_t *req, const rest_call_t *c, const kvop_err_t *e)
{
    rest_fail(app, req, c, e->status, e->code, e->msg);
}

static bool path_eq(const http_req_t *req, const char *p)
{
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static int eat(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Copy the segment at *p (up to '/' or end) into out. */
static int segment(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p, *slash = memchr(s, '/', (size_t)(end - s));
    size_t n = (size_t)((slash ? slash : end) - s);
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = s + n;
    return 1;
}

static int decode_path_key(const char *s, const char *end, rest_call_t *c)
{
    long n;
    c->key = kv_malloc((size_t)(end - s) + 1);
    if (!c->key)
        return -1;
    n = text_pct_decode(s, (size_t)(end - s), c->key, false);
    if (n < 0)
        return -1;
    c->key_len = (size_t)n;
    return 0;
}

/* Route the path after the namespace id. */
static rest_target_t sub_target(const char *p, const char *end, rest_call_t *c)
{
    if (p == end || (end - p == 1 && *p == '/'))
        return REST_NS;
    if (eat(&p, end, "/values/"))
        return decode_path_key(p, end, c) == 0 ? REST_VALUES : REST_UNKNOWN;
    if (eat(&p, end, "/metadata/"))
        return decode_path_key(p, end, c) == 0 ? REST_METADATA : REST_UNKNOWN;
    if (eat(&p, end, "/keys"))
        return p == end ? REST_KEYS : REST_UNKNOWN;
    if (eat(&p, end, "/bulk")) {
        if (p == end)
            return REST_BULK;
        if (eat(&p, end, "/delete") && p == end)
            return REST_BULK_DELETE;
        if (eat(&p, end, "/get") && p == end)
            return REST_BULK_GET;
    }
    return REST_UNKNOWN;
}

static void set_route(rest_call_t *c, http_method_t m)
{
#define R(route_, op_) (c->route = METRICS_ROUTE_##route_, c->op = op_)
    c->route = METRICS_ROUTE_OTHER;
    c->op = "request";
    switch (c->target) {
    case REST_NS_COLLECTION:
        m == HTTP_M_POST ? R(REST_NS_CREATE, "create namespace")
                         : R(REST_NS_LIST, "list namespaces");
        break;
    case REST_NS:
        m == HTTP_M_PUT      ? R(REST_NS_RENAME, "rename namespace")
        : m == HTTP_M_DELETE ? R(REST_NS_DELETE, "remove namespace")
                             : R(REST_NS_GET, "get namespace");
        break;
    case REST_VALUES:
        m == HTTP_M_PUT      ? R(REST_VALUE_PUT, "put")
        : m == HTTP_M_DELETE ? R(REST_VALUE_DELETE, "remove key")
                             : R(REST_VALUE_GET, "get");
        break;
    case REST_METADATA:
        R(REST_METADATA_GET, "get");
        break;
    case REST_KEYS:
        R(REST_KEYS_LIST, "list keys");
        break;
    case REST_BULK:
        m == HTTP_M_DELETE ? R(REST_BULK_DELETE, "bulk remove keys") : R(REST_BULK_PUT, "bulk put");
        break;
    case REST_BULK_DELETE:
        R(REST_BULK_DELETE, "bulk remove keys");
        break;
    case REST_BULK_GET:
        R(REST_BULK_GET, "bulk get keys");
        break;
    case REST_UNKNOWN:
        break;
    }
#undef R
}

static void parse_call(const http_req_t *req, rest_call_t *c)
{
    const char *p = req->path, *end = req->path + req->path_len;
    memset(c, 0, sizeof *c);
    c->target = REST_UNKNOWN;
    if (eat(&p, end, ACCOUNTS) && segment(&p, end, c->account, sizeof c->account) &&
        eat(&p, end, NAMESPACES)) {
        if (p == end || (end - p == 1 && *p == '/'))
            c->target = REST_NS_COLLECTION;
        else if (eat(&p, end, "/") && segment(&p, end, c->ns, sizeof c->ns))
            c->target = sub_target(p, end, c);
    }
    set_route(c, req->method);
}

/* Which method each target accepts. */
static int method_ok(const rest_call_t *c, http_method_t m)
{
    switch (c->target) {
    case REST_NS_COLLECTION:
        return m == HTTP_M_GET || m == HTTP_M_POST;
    case REST_NS:
        return m == HTTP_M_GET || m == HTTP_M_PUT || m == HTTP_M_DELETE;
    case REST_VALUES:
        return m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_PUT || m == HTTP_M_DELETE;
    case REST_METADATA:
    case REST_KEYS:
        return m == HTTP_M_GET;
    case REST_BULK:
        return m == HTTP_M_PUT || m == HTTP_M_DELETE;
    case REST_BULK_DELETE:
    case REST_BULK_GET:
        return m == HTTP_M_POST;
    default:
        return 0;
    }
}

static int is_write(const rest_call_t *c, http_method_t m)
{
    return c->target == REST_BULK || c->target == REST_BULK_DELETE ||
           (c->target != REST_BULK_GET &&
            (m == HTTP_M_PUT || m == HTTP_M_POST || m == HTTP_M_DELETE));
}

/* Authenticate, then check the namespace belongs to the account. On
 * failure the request is answered and -1 returned. */
static int admit(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    const http_header_t *h = http_req_header(req, "Authorization");
    const char *ns = c->target == REST_NS_COLLECTION ? NULL : c->ns;
    stor_ns_t info;
    auth_result_t ar = auth_check_id(app->auth, h ? h->value : NULL, h ? h->value_len : 0,
                                     c->account, ns, is_write(c, req->method), NULL, c->auth_id);
    if (ar != AUTH_OK) {
        app_rest_error(app, req, c->route, ar == AUTH_UNAUTHENTICATED ? 401 : 403, KVOP_CODE_AUTH,
                       "Authentication error");
        return -1;
    }
    if (!ns)
        return 0;
    if (strlen(ns) != KV_NS_ID_LEN) {
        rest_fail(app, req, c, 400, KVOP_CODE_NS_ID_INVALID, "namespace id is invalid");
        return -1;
    }
    if (stor_ns_get(kvops_store(app->ops), ns, &info) != 0 ||
        strcmp(info.account, c->account) != 0) {
        rest_fail(app, req, c, 404, KVOP_CODE_NS_NOT_FOUND, "namespace not found");
        return -1;
    }
    return 0;
}

/* ---- namespaces -------------------------------------------------------------------- */

json_t *rest_ns_json(const stor_ns_t *n)
{
    return json_pack("{s:s, s:s, s:b}", "id", n->id, "title", n->title, "supports_url_encoding", 1);
}

static int query_uint(http_req_t *req, const char *name, int64_t dflt, int64_t lo, int64_t hi,
                      int64_t *out)
{
    const char *v;
    size_t n;
    *out = dflt;
    if (!text_query_get(req->query, req->query_len, name, &v, &n))
        return 0;
    return text_parse_int(v, n, out) && *out >= lo && *out <= hi ? 0 : -1;
}

static void ns_list(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    char order[16] = "id", dir[16] = "asc";
    int64_t page, per_page;
    stor_ns_t *all = NULL;
    size_t count = 0, total = 0, i, kept = 0, first;
    const http_header_t *h = http_req_header(req, "Authorization");
    json_t *arr;

    text_query_decode(req->query, req->query_len, "order", order, sizeof order);
    text_query_decode(req->query, req->query_len, "direction", dir, sizeof dir);
    if (query_uint(req, "page", 1, 1, 1 << 30, &page) != 0 ||
        query_uint(req, "per_page", KV_NS_PAGE_DEFAULT, 1, KV_NS_PAGE_MAX, &per_page) != 0 ||
        (strcmp(order, "id") && strcmp(order, "title")) ||
        (strcmp(dir, "asc") && strcmp(dir, "desc"))) {
        rest_fail(app, req, c, 400, KVOP_CODE_LIMIT,
                  "page and per_page must be integers (per_page 1..1000), order id|title, "
                  "direction asc|desc");
        return;
    }
    if (stor_ns_list(kvops_store(app->ops), c->account,
                     strcmp(order, "title") == 0 ? STOR_NS_ORDER_TITLE : STOR_NS_ORDER_ID,
                     strcmp(dir, "desc") == 0, 1, KV_NS_PER_ACCOUNT_MAX, &all, &count,
                     &total) != 0) {
        rest_fail(app, req, c, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
        return;
    }
    /* A namespace-scoped token sees only its namespaces. */
    for (i = 0; i < count; i++)
        if (auth_check(app->auth, h->value, h->value_len, c->account, all[i].id, false, NULL) ==
            AUTH_OK)
            all[kept++] = all[i];
    arr = json_array();
    first = (size_t)(page - 1) * (size_t)per_page;
    for (i = first; i < kept && i < first + (size_t)per_page; i++)
        json_array_append_new(arr, rest_ns_json(&all[i]));
    kv_free(all);
    app_rest_ok(app, req, c->route, arr,
                json_pack("{s:I, s:I, s:I, s:I, s:I}", "page", (json_int_t)page, "per_page",
                          (json_int_t)per_page, "count", (json_int_t)json_array_size(arr),
                          "total_count", (json_int_t)kept, "total_pages",
                          (json_int_t)((kept + (size_t)per_page - 1) / (size_t)per_page)));
}

static void ns_get(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    stor_ns_t info;
    if (stor_ns_get(kvops_store(app->ops), c->ns, &info) != 0) {
        rest_fail(app, req, c, 404, KVOP_CODE_NS_NOT_FOUND, "namespace not found");
        return;
    }
    app_rest_ok(app, req, c->route, rest_ns_json(&info), NULL);
}

/* ---- reads ------------------------------------------------------------------------ */

static void blob_release(void *arg)
{
    stor_blob_unref(arg);
}

/* The visible record of c->key, or an answered 404/500 and NULL. */
static stor_blob_t *get_blob(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    stor_blob_t *b = NULL;
    kvop_err_t e;
    int rc;
    if (kvops_check_key(c->key, c->key_len, &e) != 0) {
        rest_fail_err(app, req, c, &e);
        return NULL;
    }
    rc = kvops_get(app->ops, c->ns, c->key, c->key_len, &b);
    if (rc != 0) {
        kvops_internal(rc, "rest get", &e);
        rest_fail_err(app, req, c, &e);
        return NULL;
    }
    if (!b)
        rest_fail(app, req, c, 404, KVOP_CODE_KEY_NOT_FOUND, "key not found");
    return b;
}

static void value_get(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    stor_blob_t *b = get_blob(app, req, c);
    stor_record_t r;
    char hdr[64];
    size_t hlen = 0;
    if (!b)
        return;
    stor_blob_record(b, &r);
    if (r.expiration)
        hlen = (size_t)snprintf(hdr, sizeof hdr, "expiration: %lld\r\n", (long long)r.expiration);
    http_response_t resp = {.status = 200,
                            .content_type = "application/octet-stream",
                            .headers = hdr,
                            .headers_len = hlen,
                            .body = r.value,
                            .body_len = r.value_len,
                            .body_release = blob_release,
                            .body_release_arg = b,
                            .omit_body = req->method == HTTP_M_HEAD};
    app_respond(app, req, c->route, &resp);
}

static void metadata_get(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    stor_blob_t *b = get_blob(app, req, c);
    stor_record_t r;
    json_t *m = NULL;
    if (!b)
        return;
    stor_blob_record(b, &r);
    if (r.metadata_len)
        m = json_loadb(r.metadata, r.metadata_len, JSON_DECODE_ANY, NULL);
    stor_blob_unref(b);
    app_rest_ok(app, req, c->route, m ? m : json_null(), NULL);
}

static json_t *keys_json(const stor_list_t *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->count; i++) {
        const stor_list_item_t *it = &l->items[i];
        json_t *k = json_pack("{s:s%}", "name", it->name, it->name_len);
        if (!k)
            continue; /* a name that is not UTF-8 cannot travel in JSON */
        if (it->expiration)
            json_object_set_new(k, "expiration", json_integer(it->expiration));
        if (it->metadata) {
            json_t *m = json_loadb(it->metadata, it->metadata_len, JSON_DECODE_ANY, NULL);
            if (m)
                json_object_set_new(k, "metadata", m);
        }
        json_array_append_new(arr, k);
    }
    return arr;
}

static void keys_list(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    char prefix[KV_HTTP_URL_MAX_BYTES + 1], cursor[KV_HTTP_URL_MAX_BYTES + 1] = "";
    long plen;
    int64_t limit;
    stor_list_t l;
    int rc;

    if (query_uint(req, "limit", KV_LIST_MAX_KEYS, KV_REST_LIST_MIN_KEYS, KV_LIST_MAX_KEYS,
                   &limit) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "Invalid limit. Please specify an integer between %d and %d.",
                 KV_REST_LIST_MIN_KEYS, KV_LIST_MAX_KEYS);
        rest_fail(app, req, c, 400, KVOP_CODE_LIMIT, msg);
        return;
    }
    plen = text_query_decode(req->query, req->query_len, "prefix", prefix, sizeof prefix);
    if (plen == -2 || plen > KV_KEY_MAX_BYTES) {
        rest_fail(app, req, c, plen == -2 ? 400 : 414, KVOP_CODE_KEY_INVALID,
                  plen == -2 ? "Could not URL-decode prefix"
                             : "prefix exceeds key length limit of 512");
        return;
    }
    if (text_query_decode(req->query, req->query_len, "cursor", cursor, sizeof cursor) == -2) {
        rest_fail(app, req, c, 400, KVOP_CODE_BAD_REQUEST, "Invalid cursor");
        return;
    }
    rc = stor_list(kvops_store(app->ops), c->ns, prefix, plen < 0 ? 0 : (size_t)plen,
                   cursor[0] ? cursor : NULL, (size_t)limit, kvops_now_s(app->ops), &l);
    if (rc != 0) {
        rest_fail(app, req, c, rc == KV_EBADCURSOR ? 400 : 500,
                  rc == KV_EBADCURSOR ? KVOP_CODE_BAD_REQUEST : KVOP_CODE_INTERNAL,
                  rc == KV_EBADCURSOR ? "Invalid cursor" : "Internal Server Error");
        return;
    }
    app_rest_ok(app, req, c->route, keys_json(&l),
                json_pack("{s:I, s:s}", "count", (json_int_t)l.count, "cursor",
                          l.complete || !l.cursor ? "" : l.cursor));
    stor_list_free(&l);
}

static void bulk_get(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    json_t *doc = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    json_t *keys = json_object_get(doc, "keys"), *t = json_object_get(doc, "type"), *res;
    const char *ts = json_string_value(t);
    kvop_err_t e;
    size_t i, n = json_array_size(keys);

    e.status = 400, e.code = KVOP_CODE_BAD_REQUEST;
    if (!json_is_array(keys))
        snprintf(e.msg, sizeof e.msg, "Request body must be a JSON object with a keys array");
    else if (n == 0 || n > KV_BULK_GET_MAX_KEYS)
        snprintf(e.msg, sizeof e.msg, "You must request between 1 and %d keys",
                 KV_BULK_GET_MAX_KEYS);
    else if (t && !json_is_null(t) && (!ts || (strcmp(ts, "text") && strcmp(ts, "json"))))
        snprintf(e.msg, sizeof e.msg, "\"%s\" is not a valid type. Use \"json\" or \"text\"",
                 ts ? ts : "?");
    else
        e.msg[0] = '\0';
    for (i = 0; !e.msg[0] && i < n; i++) {
        json_t *k = json_array_get(keys, i);
        if (!json_is_string(k))
            snprintf(e.msg, sizeof e.msg, "Keys must be strings");
        else
            kvops_check_key(json_string_value(k), json_string_length(k), &e);
    }
    if (e.msg[0] ||
        binding_bulk_values(app, c->ns, keys, ts && strcmp(ts, "json") == 0,
                            json_is_true(json_object_get(doc, "withMetadata")), 1, &res, &e) != 0) {
        json_decref(doc);
        rest_fail_err(app, req, c, &e);
        return;
    }
    json_decref(doc);
    app_rest_ok(app, req, c->route, json_pack("{s:o}", "values", res), NULL);
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* The verdict on a request that announces a body, before the body is read:
 * a namespace route asks the scope admit() will (account, namespace,
 * write); every other path under /client/v4/ (tokens, account discovery,
 * unknown routes) at least a known token. */
static auth_result_t head_auth(node_app_t *app, http_req_t *req, const rest_call_t *c)
{
    const http_header_t *h = http_req_header(req, "Authorization");
    const char *v = h ? h->value : NULL;
    size_t n = h ? h->value_len : 0;
    if (c->target != REST_UNKNOWN && method_ok(c, req->method))
        return auth_check(app->auth, v, n, c->account,
                          c->target == REST_NS_COLLECTION ? NULL : c->ns, is_write(c, req->method),
                          NULL);
    return auth_check(app->auth, v, n, NULL, NULL, false, NULL);
}

/* A body is read only when the token passes head_auth; a refused request
 * accepts none and is answered by rest_too_large as its head arrives. */
uint64_t rest_body_limit(node_app_t *app, http_req_t *req)
{
    rest_call_t c;
    uint64_t lim = KV_HTTP_SMALL_BODY_MAX_BYTES;
    parse_call(req, &c);
    if (app_announces_body(req) && head_auth(app, req, &c) != AUTH_OK)
        lim = 0;
    else if (c.target == REST_VALUES && req->method == HTTP_M_PUT)
        lim = KV_HTTP_VALUE_BODY_MAX_BYTES;
    else if (c.target == REST_BULK || c.target == REST_BULK_DELETE)
        lim = KV_HTTP_BODY_MAX_BYTES;
    kv_free(c.key);
    return lim;
}

void rest_too_large(node_app_t *app, http_req_t *req, uint64_t len)
{
    rest_call_t c;
    kvop_err_t e;
    int64_t exp;
    auth_result_t ar;
    parse_call(req, &c);
    if ((ar = head_auth(app, req, &c)) != AUTH_OK) {
        app_rest_error(app, req, c.route, ar == AUTH_UNAUTHENTICATED ? 401 : 403, KVOP_CODE_AUTH,
                       "Authentication error");
    } else if (c.target == REST_VALUES && req->method == HTTP_M_PUT) {
        if (rest_check_put_params(app, req, &c, &exp, &e) == 0)
            kvops_check_value_len(len, &e);
        rest_fail_err(app, req, &c, &e);
    } else {
        /* The gateway refuses oversized bulk bodies with a bare 413. */
        http_response_t r = {.status = 413,
                             .content_type = "text/plain",
                             .body = "Payload Too Large\n",
                             .body_len = 18};
        app_respond(app, req, c.route, &r);
    }
    kv_free(c.key);
}

static void dispatch(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    http_method_t m = req->method;
    switch (c->target) {
    case REST_NS_COLLECTION:
        m == HTTP_M_GET ? ns_list(app, req, c) : rest_ns_write(app, req, c);
        return;
    case REST_NS:
        m == HTTP_M_GET ? ns_get(app, req, c) : rest_ns_write(app, req, c);
        return;
    case REST_VALUES:
        if (m == HTTP_M_PUT)
            rest_value_put(app, req, c);
        else if (m == HTTP_M_DELETE)
            rest_value_delete(app, req, c);
        else
            value_get(app, req, c);
        return;
    case REST_METADATA:
        metadata_get(app, req, c);
        return;
    case REST_KEYS:
        keys_list(app, req, c);
        return;
    case REST_BULK:
        m == HTTP_M_PUT ? rest_bulk_put(app, req, c) : rest_bulk_delete(app, req, c);
        return;
    case REST_BULK_DELETE:
        rest_bulk_delete(app, req, c);
        return;
    case REST_BULK_GET:
        bulk_get(app, req, c);
        return;
    default:
        return;
    }
}

/* ---- token and account endpoints ------------------------------------------------------ */

/* What wrangler and the SDK ask about the token itself: /user/tokens/verify
 * (wrangler calls it after an authentication error to describe the token),
 * /accounts and /memberships (account discovery when CLOUDFLARE_ACCOUNT_ID
 * is not set), /user (an API token has no user: 403 code 9109, as on
 * Cloudflare for tokens without user permissions). */
static int user_routes(node_app_t *app, http_req_t *req)
{
    const http_header_t *h = http_req_header(req, "Authorization");
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1] = "";
    auth_result_t ar;
    bool verify = path_eq(req, "/client/v4/user/tokens/verify");
    bool accounts = path_eq(req, "/client/v4/accounts");
    bool members = path_eq(req, "/client/v4/memberships");
    bool user = path_eq(req, "/client/v4/user");

    if (!(verify || accounts || members || user) || req->method != HTTP_M_GET)
        return 0;
    ar = auth_check(app->auth, h ? h->value : NULL, h ? h->value_len : 0, NULL, NULL, false,
                    account);
    if (ar == AUTH_UNAUTHENTICATED) {
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 401, verify ? 1000 : KVOP_CODE_AUTH,
                       verify ? "Invalid API Token" : "Authentication error");
    } else if (verify) {
        app_rest_ok(app, req, METRICS_ROUTE_OTHER,
                    json_pack("{s:s, s:s}", "id", account, "status", "active"), NULL);
    } else if (user) {
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 403, 9109,
                       "Unauthorized to access requested resource");
    } else {
        char name[KV_ACCOUNT_ID_MAX_BYTES + 32];
        snprintf(name, sizeof name, "edgekv account %s", account);
        json_t *acct = json_pack("{s:s, s:s}", "id", account, "name", name);
        json_t *item = accounts ? acct
                                : json_pack("{s:s, s:o, s:s}", "id", account, "account", acct,
                                            "status", "accepted");
        app_rest_ok(app, req, METRICS_ROUTE_OTHER, json_pack("[o]", item),
                    json_pack("{s:i, s:i, s:i, s:i}", "page", 1, "per_page", 20, "count", 1,
                              "total_count", 1));
    }
    return 1;
}

void rest_handle(node_app_t *app, http_req_t *req)
{
    rest_call_t c;
    if (user_routes(app, req) || tokens_route(app, req))
        return;
    parse_call(req, &c);
    if (c.target == REST_UNKNOWN) {
        app_rest_error(app, req, c.route, 404, KVOP_CODE_NO_ROUTE, "No route for the URI");
    } else if (!method_ok(&c, req->method)) {
        app_rest_error(app, req, c.route, 405, KVOP_CODE_METHOD, "Method not allowed");
    } else if (admit(app, req, &c) == 0) {
        dispatch(app, req, &c); /* writes take c.key and leave NULL */
    }
    kv_free(c.key);
}
