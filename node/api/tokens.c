/* tokens.c - stored API tokens: the REST endpoints and the reload. The
 * records are TokenRecords (state.h encodes and decodes them). */
#include "tokens.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kv_rand.h"
#include "state.h"
#include "text.h"

#define TOKEN_ID_HEX     16
#define TOKEN_SECRET_HEX 64
#define TOKENS_PATH      "/client/v4/accounts/"
/* Code of a missing token (Cloudflare's "Invalid token id" family). */
#define TOKENS_CODE_NOT_FOUND 1001
#define TOKENS_STR_(x)        #x
#define TOKENS_STR(x)         TOKENS_STR_(x)
/* KV_ELIMIT from the judge: KV_TOKENS_PER_ACCOUNT_MAX live tokens. */
#define TOKENS_LIMIT_MSG                                                                           \
    "the account has reached its limit of " TOKENS_STR(KV_TOKENS_PER_ACCOUNT_MAX) " API tokens"

typedef struct {
    auth_stored_t *items;
    state_token_t *recs; /* the decoded records the items point into */
    size_t n, cap;
} reload_t;

static int collect(void *arg, const char *name, size_t name_len, const char *val, size_t len)
{
    static const char *const none[1] = {NULL};
    reload_t *r = arg;
    state_token_t *rec;
    int rc;
    if (len == 0)
        return 0; /* revoked */
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        auth_stored_t *it = kv_realloc(r->items, cap * sizeof *it);
        state_token_t *d = it ? kv_realloc(r->recs, cap * sizeof *d) : NULL;
        if (it)
            r->items = it;
        if (!d)
            return -ENOMEM;
        r->recs = d;
        r->cap = cap;
    }
    rec = &r->recs[r->n];
    if ((rc = state_token_decode(val, len, rec)) != 0) {
        if (rc == -ENOMEM)
            return rc;
        KV_LOG_WARN("tokens", "skipping unreadable token record %.*s", (int)name_len, name);
        return 0;
    }
    r->items[r->n++] = (auth_stored_t){
        .id = rec->id,
        .name = rec->name,
        .account = rec->account,
        .sha256_hex = rec->sha256_hex,
        .namespaces = rec->scoped ? (rec->namespaces ? rec->namespaces : none) : NULL,
        .namespace_count = rec->scoped ? rec->namespace_count : 0,
        .write = rec->write};
    return 0;
}

int tokens_reload(stor_t *s, auth_t *a)
{
    reload_t r = {0};
    int rc = stor_state_scan(s, STATE_TOKEN_PREFIX, collect, &r);
    if (rc == 0)
        rc = auth_set_stored(a, r.items, r.n);
    if (rc != 0)
        KV_LOG_ERROR("tokens", "reloading stored tokens: %s", kv_strerror(rc));
    for (size_t i = 0; i < r.n; i++)
        state_token_free(&r.recs[i]);
    kv_free(r.items);
    kv_free(r.recs);
    return rc;
}

/* ---- REST ------------------------------------------------------------------------ */

typedef struct {
    node_app_t *app;
    http_req_t *req;
    char id[TOKEN_ID_HEX + 1];
    char auth_id[AUTH_ID_BYTES]; /* the caller's token, named to the origin */
    uint8_t *record;             /* a TokenRecord (kv_malloc'd), or NULL: revoke */
    size_t record_len;
    json_t *answer;
    int rc;
} tok_job_t;

static void tok_work(void *arg)
{
    tok_job_t *j = arg;
    j->rc = j->record ? kvops_token_put(j->app->ops, j->auth_id, j->id, (const char *)j->record,
                                        j->record_len)
                      : kvops_token_delete(j->app->ops, j->auth_id, j->id);
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
    } else if (j->rc == KV_ELIMIT) {
        /* The origin's judge counted the account's live tokens. */
        json_decref(j->answer);
        app_rest_error(j->app, j->req, METRICS_ROUTE_OTHER, 400, KVOP_CODE_LIMIT, TOKENS_LIMIT_MSG);
    } else {
        kvop_err_t e;
        kvops_internal(j->rc, "token write", &e);
        json_decref(j->answer);
        app_rest_error(j->app, j->req, METRICS_ROUTE_OTHER, e.status, e.code, e.msg);
    }
    kv_free(j->record);
    kv_free(j);
}

static void tok_start(node_app_t *app, http_req_t *req, const char *id, uint8_t *record,
                      size_t record_len, json_t *answer)
{
    const http_header_t *h = http_req_header(req, "Authorization");
    tok_job_t *j = kv_calloc(1, sizeof *j);
    if (!j) {
        kv_free(record);
        json_decref(answer);
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 500, KVOP_CODE_INTERNAL,
                       "Internal Server Error");
        return;
    }
    *j = (tok_job_t){
        .app = app, .req = req, .record = record, .record_len = record_len, .answer = answer};
    snprintf(j->id, sizeof j->id, "%s", id);
    /* tokens_route admitted the token: the same check again, for its id. */
    (void)auth_check_id(app->auth, h ? h->value : NULL, h ? h->value_len : 0, NULL, NULL, true,
                        NULL, j->auth_id);
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
    json_t *answer;

    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > KV_TOKEN_NAME_MAX_CHARS ||
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
    if (kv_random_hex(id, TOKEN_ID_HEX) != 0 || kv_random_hex(secret, TOKEN_SECRET_HEX) != 0) {
        json_decref(body);
        return bad(app, req, "no randomness");
    }
    auth_digest_hex(secret, TOKEN_SECRET_HEX, digest);
    size_t count = ns ? json_array_size(ns) : 0, len = 0;
    const char **list = kv_calloc(count ? count : 1, sizeof *list);
    uint8_t *rec = NULL;
    int rc = list ? 0 : -ENOMEM;
    for (size_t i = 0; list && i < count; i++)
        list[i] = json_string_value(json_array_get(ns, i));
    if (rc == 0) {
        state_token_t t = {.id = id,
                           .name = json_string_value(name),
                           .account = account,
                           .sha256_hex = digest,
                           .write = write,
                           .scoped = ns != NULL,
                           .namespaces = list,
                           .namespace_count = count};
        rc = state_token_encode(&t, &rec, &len);
    }
    kv_free(list);
    if (rc != 0) {
        json_decref(body);
        if (rc == KV_ETOOBIG)
            return bad(app, req, "too many namespaces for one token");
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 500, KVOP_CODE_INTERNAL,
                       "Internal Server Error");
        return 1;
    }
    answer = json_pack("{s:s, s:O, s:s, s:s, s:s}", "id", id, "name", name, "value", secret,
                       "access", write ? "write" : "read", "status", "active");
    if (ns)
        json_object_set(answer, "namespaces", ns);
    json_decref(body);
    tok_start(app, req, id, rec, len, answer);
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
    state_token_t t;
    int rc = state_token_decode(rec, len, &t);
    if (rc != 0)
        return rc == -ENOMEM ? rc : 0; /* unreadable: not listed (the reload skips it too) */
    if (strcmp(t.account, l->account) == 0) {
        if (l->want && strlen(l->want) == id_len && memcmp(l->want, id, id_len) == 0)
            l->found = true;
        if (l->list) {
            json_t *item = json_pack("{s:s%, s:s, s:s, s:s}", "id", id, id_len, "name", t.name,
                                     "access", t.write ? "write" : "read", "status", "active");
            if (item && t.scoped) {
                json_t *ns = json_array();
                for (size_t i = 0; i < t.namespace_count; i++)
                    json_array_append_new(ns, json_string(t.namespaces[i]));
                json_object_set_new(item, "namespaces", ns);
            }
            json_array_append_new(l->list, item);
        }
    }
    state_token_free(&t);
    return 0;
}

static int tok_list(node_app_t *app, http_req_t *req, const char *account)
{
    list_t l = {.account = account, .list = json_array()};
    state_tokens_each(kvops_store(app->ops), list_cb, &l);
    app_rest_ok(app, req, METRICS_ROUTE_OTHER, l.list, NULL);
    return 1;
}

static int tok_delete(node_app_t *app, http_req_t *req, const char *account, const char *id)
{
    list_t l = {.account = account, .want = id};
    state_tokens_each(kvops_store(app->ops), list_cb, &l);
    if (!l.found || strlen(id) != TOKEN_ID_HEX) {
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 404, TOKENS_CODE_NOT_FOUND,
                       "Invalid token id: no such token");
        return 1;
    }
    tok_start(app, req, id, NULL, 0, json_pack("{s:s}", "id", id));
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
