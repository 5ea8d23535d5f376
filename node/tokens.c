/* tokens.c - stored API tokens: the REST endpoints and the reload. */
#include "tokens.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "text.h"

#define TOKEN_PREFIX     "token:"
#define TOKEN_ID_HEX     16
#define TOKEN_SECRET_HEX 64
#define TOKENS_PATH      "/client/v4/accounts/"
/* Code of a missing token (Cloudflare's "Invalid token id" family). */
#define TOKENS_CODE_NOT_FOUND 1001

typedef struct {
    auth_stored_t *items;
    json_t **docs; /* the parsed records the items point into */
    const char ***ns;
    size_t n, cap;
} reload_t;

static int collect(void *arg, const char *name, size_t name_len, const char *val, size_t len)
{
    reload_t *r = arg;
    json_t *doc, *ns;
    (void)name, (void)name_len;
    if (len == 0)
        return 0; /* revoked */
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        auth_stored_t *it = kv_realloc(r->items, cap * sizeof *it);
        json_t **d = it ? kv_realloc(r->docs, cap * sizeof *d) : NULL;
        const char ***n = d ? kv_realloc(r->ns, cap * sizeof *n) : NULL;
        if (it)
            r->items = it;
        if (d)
            r->docs = d;
        if (!n)
            return -ENOMEM;
        r->ns = n;
        r->cap = cap;
    }
    if (!(doc = json_loadb(val, len, 0, NULL)))
        return 0; /* not ours: skip */
    ns = json_object_get(doc, "namespaces");
    r->ns[r->n] = NULL;
    auth_stored_t *t = &r->items[r->n];
    *t = (auth_stored_t){.id = json_string_value(json_object_get(doc, "id")),
                         .name = json_string_value(json_object_get(doc, "name")),
                         .account = json_string_value(json_object_get(doc, "account")),
                         .sha256_hex = json_string_value(json_object_get(doc, "sha256")),
                         .write = json_is_true(json_object_get(doc, "write"))};
    if (json_is_array(ns)) {
        size_t k = json_array_size(ns);
        r->ns[r->n] = kv_calloc(k ? k : 1, sizeof(char *));
        for (size_t i = 0; r->ns[r->n] && i < k; i++)
            r->ns[r->n][i] = json_string_value(json_array_get(ns, i));
        t->namespaces = r->ns[r->n];
        t->namespace_count = k;
    }
    r->docs[r->n++] = doc;
    return 0;
}

int tokens_reload(stor_t *s, auth_t *a)
{
    reload_t r = {0};
    int rc = stor_state_scan(s, TOKEN_PREFIX, collect, &r);
    if (rc == 0)
        rc = auth_set_stored(a, r.items, r.n);
    if (rc != 0)
        KV_LOG_ERROR("tokens", "reloading stored tokens: %s", kv_strerror(rc));
    for (size_t i = 0; i < r.n; i++) {
        json_decref(r.docs[i]);
        kv_free(r.ns[i]);
    }
    kv_free(r.items);
    kv_free(r.docs);
    kv_free(r.ns);
    return rc;
}

typedef struct {
    int (*cb)(void *arg, const char *id, size_t id_len, const char *rec, size_t rec_len);
    void *arg;
} each_t;

static int each_cb(void *arg, const char *name, size_t name_len, const char *val, size_t len)
{
    each_t *e = arg;
    size_t plen = sizeof TOKEN_PREFIX - 1;
    if (len == 0)
        return 0;
    return e->cb(e->arg, name + plen, name_len - plen, val, len);
}

int tokens_each(stor_t *s,
                int (*cb)(void *arg, const char *id, size_t id_len, const char *rec,
                          size_t rec_len),
                void *arg)
{
    each_t e = {cb, arg};
    return stor_state_scan(s, TOKEN_PREFIX, each_cb, &e);
}

/* ---- REST ------------------------------------------------------------------------ */

typedef struct {
    node_app_t *app;
    http_req_t *req;
    char id[TOKEN_ID_HEX + 1];
    char *record; /* NULL: revoke */
    json_t *answer;
    int rc;
} tok_job_t;

static void tok_work(void *arg)
{
    tok_job_t *j = arg;
    j->rc = j->record ? kvops_token_put(j->app->ops, j->id, j->record, strlen(j->record))
                      : kvops_token_delete(j->app->ops, j->id);
}

static void tok_done(void *arg)
{
    tok_job_t *j = arg;
    if (j->rc == 0) {
        app_rest_ok(j->app, j->req, METRICS_ROUTE_OTHER, j->answer, NULL);
    } else if (j->rc == KV_ENOTFOUND && !j->record) {
        /* Revoked meanwhile by another request (the origin's judge). */
        json_decref(j->answer);
        app_rest_error(j->app, j->req, METRICS_ROUTE_OTHER, 404, TOKENS_CODE_NOT_FOUND,
                       "Invalid token id: no such token");
    } else {
        kvop_err_t e;
        kvops_internal(j->rc, "token write", &e);
        json_decref(j->answer);
        app_rest_error(j->app, j->req, METRICS_ROUTE_OTHER, e.status, e.code, e.msg);
    }
    free(j->record); /* json_dumps */
    kv_free(j);
}

static void tok_start(node_app_t *app, http_req_t *req, const char *id, char *record,
                      json_t *answer)
{
    tok_job_t *j = kv_calloc(1, sizeof *j);
    if (!j) {
        free(record);
        json_decref(answer);
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 500, KVOP_CODE_INTERNAL,
                       "Internal Server Error");
        return;
    }
    *j = (tok_job_t){.app = app, .req = req, .record = record, .answer = answer};
    snprintf(j->id, sizeof j->id, "%s", id);
    if (app_offload(req, tok_work, tok_done, j) != 0) {
        j->rc = -ENOMEM;
        tok_done(j);
    }
}

static int bad(node_app_t *app, http_req_t *req, const char *msg)
{
    app_rest_error(app, req, METRICS_ROUTE_OTHER, 400, KVOP_CODE_BAD_REQUEST, msg);
    return 1;
}

/* {"name", "access"?, "namespaces"?} -> a new token; the secret is answered once. */
static int tok_create(node_app_t *app, http_req_t *req, const char *account)
{
    json_t *body = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    json_t *name = json_object_get(body, "name"), *ns = json_object_get(body, "namespaces");
    const char *access = json_string_value(json_object_get(body, "access"));
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1], digest[65];
    bool write = !access || strcmp(access, "write") == 0;
    json_t *rec, *answer;

    if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 128 ||
        (access && !write && strcmp(access, "read") != 0) || (ns && !json_is_array(ns))) {
        json_decref(body);
        return bad(app, req,
                   "body must be {\"name\": 1..128 chars, \"access\": \"read\"|\"write\", "
                   "\"namespaces\": [ids] (optional)}");
    }
    for (size_t i = 0; ns && i < json_array_size(ns); i++) {
        const char *v = json_string_value(json_array_get(ns, i));
        if (!v || strlen(v) != KV_NS_ID_LEN) {
            json_decref(body);
            return bad(app, req, "namespaces must be 32-character namespace ids");
        }
    }
    if (text_random_hex(id, TOKEN_ID_HEX) != 0 || text_random_hex(secret, TOKEN_SECRET_HEX) != 0) {
        json_decref(body);
        return bad(app, req, "no randomness");
    }
    auth_digest_hex(secret, TOKEN_SECRET_HEX, digest);
    rec = json_pack("{s:s, s:O, s:s, s:s, s:b}", "id", id, "name", name, "account", account,
                    "sha256", digest, "write", write);
    answer = json_pack("{s:s, s:O, s:s, s:s, s:s}", "id", id, "name", name, "value", secret,
                       "access", write ? "write" : "read", "status", "active");
    if (ns) {
        json_object_set(rec, "namespaces", ns);
        json_object_set(answer, "namespaces", ns);
    }
    json_decref(body);
    tok_start(app, req, id, json_dumps(rec, JSON_COMPACT), answer);
    json_decref(rec);
    return 1;
}

typedef struct {
    const char *account;
    json_t *list;
    const char *want; /* an id to find, or NULL: list all */
    bool found;
} list_t;

static int list_cb(void *arg, const char *id, size_t id_len, const char *rec, size_t len)
{
    list_t *l = arg;
    json_t *doc = json_loadb(rec, len, 0, NULL);
    const char *acct = json_string_value(json_object_get(doc, "account"));
    if (acct && strcmp(acct, l->account) == 0) {
        if (l->want && strlen(l->want) == id_len && memcmp(l->want, id, id_len) == 0)
            l->found = true;
        if (l->list) {
            json_t *ns = json_object_get(doc, "namespaces");
            json_t *item = json_pack("{s:s%, s:O, s:s, s:s}", "id", id, id_len, "name",
                                     json_object_get(doc, "name"), "access",
                                     json_is_true(json_object_get(doc, "write")) ? "write" : "read",
                                     "status", "active");
            if (ns)
                json_object_set(item, "namespaces", ns);
            json_array_append_new(l->list, item);
        }
    }
    json_decref(doc);
    return 0;
}

static int tok_list(node_app_t *app, http_req_t *req, const char *account)
{
    list_t l = {.account = account, .list = json_array()};
    tokens_each(kvops_store(app->ops), list_cb, &l);
    app_rest_ok(app, req, METRICS_ROUTE_OTHER, l.list, NULL);
    return 1;
}

static int tok_delete(node_app_t *app, http_req_t *req, const char *account, const char *id)
{
    list_t l = {.account = account, .want = id};
    tokens_each(kvops_store(app->ops), list_cb, &l);
    if (!l.found || strlen(id) != TOKEN_ID_HEX) {
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 404, TOKENS_CODE_NOT_FOUND,
                       "Invalid token id: no such token");
        return 1;
    }
    tok_start(app, req, id, NULL, json_pack("{s:s}", "id", id));
    return 1;
}

int tokens_route(node_app_t *app, http_req_t *req)
{
    const char *p = req->path, *end = req->path + req->path_len, *slash;
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1], id[TOKEN_ID_HEX + 2] = "";
    const http_header_t *h = http_req_header(req, "Authorization");
    size_t alen;
    bool verify;
    auth_result_t ar;

    if (req->path_len <= sizeof TOKENS_PATH - 1 || memcmp(p, TOKENS_PATH, sizeof TOKENS_PATH - 1))
        return 0;
    p += sizeof TOKENS_PATH - 1;
    if (!(slash = memchr(p, '/', (size_t)(end - p))) || (alen = (size_t)(slash - p)) == 0 ||
        alen > KV_ACCOUNT_ID_MAX_BYTES || (size_t)(end - slash) < 7 || memcmp(slash, "/tokens", 7))
        return 0;
    memcpy(account, p, alen);
    account[alen] = '\0';
    p = slash + 7;
    if (p < end && (*p != '/' || (size_t)(end - p - 1) > TOKEN_ID_HEX))
        return 0;
    if (p < end)
        snprintf(id, sizeof id, "%.*s", (int)(end - p - 1), p + 1);
    verify = strcmp(id, "verify") == 0;
    ar = auth_check(app->auth, h ? h->value : NULL, h ? h->value_len : 0, account, NULL, !verify,
                    NULL);
    if (ar != AUTH_OK) {
        app_rest_error(app, req, METRICS_ROUTE_OTHER, ar == AUTH_UNAUTHENTICATED ? 401 : 403,
                       KVOP_CODE_AUTH, "Authentication error");
        return 1;
    }
    if (verify && req->method == HTTP_M_GET) {
        app_rest_ok(app, req, METRICS_ROUTE_OTHER,
                    json_pack("{s:s, s:s}", "id", account, "status", "active"), NULL);
        return 1;
    }
    if (!id[0] && req->method == HTTP_M_POST)
        return tok_create(app, req, account);
    if (!id[0] && req->method == HTTP_M_GET)
        return tok_list(app, req, account);
    if (id[0] && req->method == HTTP_M_DELETE)
        return tok_delete(app, req, account, id);
    app_rest_error(app, req, METRICS_ROUTE_OTHER, 405, KVOP_CODE_METHOD, "Method not allowed");
    return 1;
}
