/*
 * ha_etcd.c - etcd v3 over its JSON gateway: request bodies, the decoding
 * of answers, and the walk over the members within a request's budget
 * (ha_etcd.h says what a failure is and which failures move on).
 *
 * Bodies are printed with snprintf: they hold only decimal numbers and
 * base64, which need no JSON escaping. Answers are read with jansson; base64
 * is OpenSSL's (EVP_EncodeBlock / EVP_DecodeBlock), already a dependency of
 * the node.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ha_etcd.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* gRPC status code NotFound (etcd: "requested lease not found"). */
#define GRPC_CODE_NOT_FOUND 5
#define HTTP_OK             200
#define HTTP_CLIENT_ERROR   400
#define HTTP_SERVER_ERROR   500

typedef enum { OP_GRANT, OP_KEEPALIVE, OP_REVOKE, OP_TTL, OP_GET, OP_PUT_ABSENT } op_t;

static const char *const op_path[] = {
    [OP_GRANT] = "/v3/lease/grant",   [OP_KEEPALIVE] = "/v3/lease/keepalive",
    [OP_REVOKE] = "/v3/lease/revoke", [OP_TTL] = "/v3/lease/timetolive",
    [OP_GET] = "/v3/kv/range",        [OP_PUT_ABSENT] = "/v3/kv/txn",
};

typedef struct call call_t;
struct call {
    call_t *prev, *next; /* c->calls */
    ha_etcd_t *c;
    op_t op;
    uint64_t id;      /* the caller's name for it */
    uint64_t http_id; /* the attempt in flight; 0: none */
    char *body;
    size_t body_len;
    uint64_t deadline_ms;
    size_t first, tried, cur; /* members: where it started, how many tried, the current one */
    bool timed_out;           /* an attempt ran out of time */
    ha_etcd_cb cb;
    void *arg;
};

struct ha_etcd {
    char **endpoints;
    size_t endpoint_count;
    size_t preferred; /* the member that answered last */
    uint64_t attempt_timeout_ms;
    ha_now_fn now;
    void *now_arg;
    ha_http_t http;
    call_t *calls;
    uint64_t next_id;
};

/* ---- base64 and JSON ---------------------------------------------------------------- */

/* Standard base64 of s[0..len) into a kv_malloc'd string. */
static char *b64_encode(const char *s, size_t len)
{
    char *out = kv_malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    return out;
}

/* Decodes base64 text into a kv_malloc'd, NUL-terminated buffer. */
static int b64_decode(const char *s, char **out, size_t *out_len)
{
    size_t len = strlen(s), pad = 0;
    int n;
    char *buf;
    if (len % 4 != 0)
        return -EPROTO;
    if (!(buf = kv_malloc(3 * (len / 4) + 1)))
        return -ENOMEM;
    n = len ? EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)len) : 0;
    if (n < 0) {
        kv_free(buf);
        return -EPROTO;
    }
    while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
        pad++;
    *out_len = (size_t)n - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    buf[*out_len] = '\0';
    *out = buf;
    return 0;
}

/* An int64 of the gateway: a JSON string of digits, or a number; absent is
 * 0 (proto3 leaves zero values out). */
static int64_t j_i64(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return (int64_t)strtoll(json_string_value(v), NULL, 10);
    return 0;
}

/* kvs[0] of a range answer into r->kv; the value is decoded into *value. */
static int read_kv(json_t *range, ha_etcd_result_t *r, char **value)
{
    json_t *kv = json_array_get(json_object_get(range, "kvs"), 0);
    const char *v64;
    if (!kv)
        return 0; /* absent: found stays false */
    r->kv.found = true;
    r->kv.create_revision = j_i64(kv, "create_revision");
    r->kv.mod_revision = j_i64(kv, "mod_revision");
    r->kv.lease = j_i64(kv, "lease");
    v64 = json_string_value(json_object_get(kv, "value"));
    if (b64_decode(v64 ? v64 : "", value, &r->kv.value_len) != 0)
        return -EPROTO;
    r->kv.value = *value;
    return 0;
}

/* A 200 answer of op into r. -EPROTO: not an answer of etcd. */
static int decode_ok(op_t op, json_t *root, ha_etcd_result_t *r, char **value)
{
    json_t *o = root;
    if (!json_is_object(root))
        return -EPROTO;
    if (op == OP_KEEPALIVE) { /* a stream: {"result": {...}} or {"error": {...}} */
        if (!json_is_object(o = json_object_get(root, "result")))
            return -EPROTO;
    }
    if (!json_is_object(json_object_get(o, "header")))
        return -EPROTO;
    r->revision = j_i64(json_object_get(o, "header"), "revision");
    switch (op) {
    case OP_GRANT:
        r->lease = j_i64(o, "ID");
        r->ttl_s = j_i64(o, "TTL");
        return r->lease && r->ttl_s > 0 ? 0 : -EPROTO;
    case OP_KEEPALIVE:
    case OP_TTL:
        r->ttl_s = j_i64(o, "TTL");
        if (r->ttl_s < 0) /* timetolive of an unknown lease: -1 */
            r->ttl_s = 0;
        return 0;
    case OP_REVOKE:
        return 0;
    case OP_GET:
        return read_kv(o, r, value);
    case OP_PUT_ABSENT:
        r->created = json_is_true(json_object_get(o, "succeeded"));
        if (r->created)
            return 0;
        return read_kv(
            json_object_get(json_array_get(json_object_get(o, "responses"), 0), "response_range"),
            r, value);
    }
    return -EPROTO;
}

/* ---- the walk over the members ------------------------------------------------------- */

static void call_free(ha_etcd_t *c, call_t *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    kv_free(k->body);
    kv_free(k);
}

static void finish(call_t *k, ha_etcd_result_t *r)
{
    ha_etcd_cb cb = k->cb;
    void *arg = k->arg;
    call_free(k->c, k);
    cb(arg, r);
}

static void on_http(void *arg, int err, const ha_http_resp_t *resp);

/* Posts k to the next member not yet tried, within the budget. 0: under
 * way; else no member is left (or the budget is spent) and nothing is. */
static int attempt(call_t *k)
{
    ha_etcd_t *c = k->c;
    char url[KV_HA_URL_MAX_BYTES + 32];
    int rc = KV_EUNAVAILABLE;
    while (k->tried < c->endpoint_count) {
        uint64_t now = c->now(c->now_arg), left, t;
        if (now >= k->deadline_ms) {
            k->timed_out = true;
            break;
        }
        left = k->deadline_ms - now;
        t = left < c->attempt_timeout_ms ? left : c->attempt_timeout_ms;
        k->cur = (k->first + k->tried++) % c->endpoint_count;
        snprintf(url, sizeof url, "%s%s", c->endpoints[k->cur], op_path[k->op]);
        rc = c->http.ops->post(c->http.impl, url, k->body, k->body_len, t, on_http, k, &k->http_id);
        if (rc == 0)
            return 0;
        if (rc == -ENOMEM)
            return rc;
    }
    return k->timed_out ? KV_ETIMEDOUT : KV_EUNAVAILABLE;
}

static void fail_over(call_t *k)
{
    ha_etcd_result_t r = {0};
    if ((r.err = attempt(k)) == 0)
        return;
    r.endpoint = k->cur;
    finish(k, &r);
}

/* An etcd error answer: {"error": "...", "code": N}. */
static int decode_error(json_t *root)
{
    json_t *code = json_object_get(root, "code");
    if (!json_is_integer(code))
        return -EPROTO;
    return json_integer_value(code) == GRPC_CODE_NOT_FOUND ? KV_ENOTFOUND : KV_EINVAL;
}

static void on_http(void *arg, int err, const ha_http_resp_t *resp)
{
    call_t *k = arg;
    ha_etcd_result_t r = {0};
    char *value = NULL;
    json_t *root = NULL;
    k->http_id = 0;
    if (err == -ETIMEDOUT)
        k->timed_out = true;
    if (err || resp->status >= HTTP_SERVER_ERROR || resp->status < HTTP_OK) {
        fail_over(k);
        return;
    }
    /* The first JSON value; a gRPC trailer or a stream's next line may follow. */
    root = json_loadb(resp->body, resp->body_len, JSON_DISABLE_EOF_CHECK, NULL);
    if (resp->status == HTTP_OK)
        r.err = decode_ok(k->op, root, &r, &value);
    else if (resp->status >= HTTP_CLIENT_ERROR)
        r.err = decode_error(root);
    else
        r.err = -EPROTO;
    json_decref(root);
    if (r.err == -EPROTO) { /* not etcd speaking: ask another member */
        kv_free(value);
        fail_over(k);
        return;
    }
    r.endpoint = k->cur;
    k->c->preferred = k->cur;
    finish(k, &r);
    kv_free(value);
}

/* Takes body (kv_malloc'd) and starts the call. */
static int start(ha_etcd_t *c, op_t op, char *body, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                 uint64_t *id)
{
    call_t *k;
    int rc;
    if (!body)
        return -ENOMEM;
    if (!(k = kv_calloc(1, sizeof *k))) {
        kv_free(body);
        return -ENOMEM;
    }
    k->c = c;
    k->op = op;
    k->body = body;
    k->body_len = strlen(body);
    k->deadline_ms = c->now(c->now_arg) + budget_ms;
    k->first = c->preferred;
    k->cb = cb;
    k->arg = arg;
    k->id = ++c->next_id;
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    if ((rc = attempt(k)) != 0) { /* never a callback from inside the call */
        call_free(c, k);
        return rc == -ENOMEM ? rc : KV_EUNAVAILABLE;
    }
    if (id)
        *id = k->id;
    return 0;
}

/* ---- requests ------------------------------------------------------------------------ */

static char *printed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printed(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = kv_malloc((size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int ha_etcd_grant(ha_etcd_t *c, int64_t ttl_s, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                  uint64_t *id)
{
    if (ttl_s <= 0)
        return KV_EINVAL;
    return start(c, OP_GRANT, printed("{\"TTL\":\"%" PRId64 "\"}", ttl_s), budget_ms, cb, arg, id);
}

static int lease_call(ha_etcd_t *c, op_t op, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb,
                      void *arg, uint64_t *id)
{
    if (lease == 0)
        return KV_EINVAL;
    return start(c, op, printed("{\"ID\":\"%" PRId64 "\"}", lease), budget_ms, cb, arg, id);
}

int ha_etcd_keepalive(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                      uint64_t *id)
{
    return lease_call(c, OP_KEEPALIVE, lease, budget_ms, cb, arg, id);
}

int ha_etcd_revoke(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                   uint64_t *id)
{
    return lease_call(c, OP_REVOKE, lease, budget_ms, cb, arg, id);
}

int ha_etcd_ttl(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                uint64_t *id)
{
    return lease_call(c, OP_TTL, lease, budget_ms, cb, arg, id);
}

int ha_etcd_get(ha_etcd_t *c, const char *key, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                uint64_t *id)
{
    char *k64 = b64_encode(key, strlen(key));
    int rc;
    if (!k64)
        return -ENOMEM;
    rc = start(c, OP_GET, printed("{\"key\":\"%s\"}", k64), budget_ms, cb, arg, id);
    kv_free(k64);
    return rc;
}

int ha_etcd_put_absent(ha_etcd_t *c, const char *key, const char *value, int64_t lease,
                       const char *guard_key, int64_t guard_mod, uint64_t budget_ms, ha_etcd_cb cb,
                       void *arg, uint64_t *id)
{
    char *k64 = b64_encode(key, strlen(key)), *v64 = b64_encode(value, strlen(value));
    char *g64 = guard_key ? b64_encode(guard_key, strlen(guard_key)) : NULL;
    char *guard = NULL; /* the guard's compare, when there is one */
    int rc = -ENOMEM;
    if (g64)
        guard = printed(",{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":\"MOD\","
                        "\"mod_revision\":\"%" PRId64 "\"}",
                        g64, guard_mod);
    if (k64 && v64 && (guard || !guard_key))
        rc = start(c, OP_PUT_ABSENT,
                   printed("{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":"
                           "\"CREATE\",\"create_revision\":\"0\"}%s],"
                           "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\","
                           "\"lease\":\"%" PRId64 "\"}}],"
                           "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                           k64, guard ? guard : "", k64, v64, lease, k64),
                   budget_ms, cb, arg, id);
    kv_free(guard);
    kv_free(g64);
    kv_free(k64);
    kv_free(v64);
    return rc;
}

int ha_etcd_put_if(ha_etcd_t *c, const char *key, const char *value, const char *if_key,
                   int64_t if_create, uint64_t budget_ms, ha_etcd_cb cb, void *arg, uint64_t *id)
{
    char *k64 = b64_encode(key, strlen(key)), *v64 = b64_encode(value, strlen(value));
    char *i64 = b64_encode(if_key, strlen(if_key));
    int rc = -ENOMEM;
    if (k64 && v64 && i64)
        rc = start(c, OP_PUT_ABSENT, /* the same answer: succeeded, or the range */
                   printed("{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":"
                           "\"CREATE\",\"create_revision\":\"%" PRId64 "\"}],"
                           "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}],"
                           "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                           i64, if_create, k64, v64, i64),
                   budget_ms, cb, arg, id);
    kv_free(i64);
    kv_free(k64);
    kv_free(v64);
    return rc;
}

void ha_etcd_cancel(ha_etcd_t *c, uint64_t id)
{
    call_t *k;
    for (k = c->calls; k; k = k->next) {
        if (k->id == id) {
            if (k->http_id)
                c->http.ops->cancel(c->http.impl, k->http_id);
            call_free(c, k);
            return;
        }
    }
}

/* ---- the client ---------------------------------------------------------------------- */

static bool endpoint_ok(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n > KV_HA_URL_MAX_BYTES)
        return false;
    return strncmp(e, "http://", 7) == 0 || strncmp(e, "https://", 8) == 0;
}

int ha_etcd_create(const ha_etcd_config_t *cfg, ha_http_t http, ha_etcd_t **out)
{
    ha_etcd_t *c;
    size_t i;
    if (cfg->endpoint_count == 0 || cfg->endpoint_count > KV_HA_ENDPOINTS_MAX || !cfg->now)
        return KV_EINVAL;
    for (i = 0; i < cfg->endpoint_count; i++)
        if (!endpoint_ok(cfg->endpoints[i]))
            return KV_EINVAL;
    if (!(c = kv_calloc(1, sizeof *c)))
        return -ENOMEM;
    if (!(c->endpoints = kv_calloc(cfg->endpoint_count, sizeof *c->endpoints))) {
        kv_free(c);
        return -ENOMEM;
    }
    c->endpoint_count = cfg->endpoint_count;
    for (i = 0; i < cfg->endpoint_count; i++) {
        size_t n = strlen(cfg->endpoints[i]);
        while (n > 0 && cfg->endpoints[i][n - 1] == '/') /* "http://h:2379/" */
            n--;
        if (!(c->endpoints[i] = kv_strndup(cfg->endpoints[i], n))) {
            ha_etcd_free(c);
            return -ENOMEM;
        }
    }
    c->attempt_timeout_ms = cfg->attempt_timeout_ms;
    c->now = cfg->now;
    c->now_arg = cfg->now_arg;
    c->http = http;
    *out = c;
    return 0;
}

void ha_etcd_free(ha_etcd_t *c)
{
    size_t i;
    if (!c)
        return;
    while (c->calls)
        ha_etcd_cancel(c, c->calls->id);
    for (i = 0; i < c->endpoint_count; i++)
        kv_free(c->endpoints[i]);
    kv_free(c->endpoints);
    kv_free(c);
}

const char *ha_etcd_endpoint(const ha_etcd_t *c, size_t i)
{
    return i < c->endpoint_count ? c->endpoints[i] : NULL;
}
