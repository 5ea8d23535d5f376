/*
 * rest_write.c - the REST API's writes: values (raw or multipart), bulk
 * put/delete, and namespace create/rename/delete.
 *
 * Validation runs in KV-SPEC order before anything is written; the durable
 * write is submitted from the loop (app_write: no thread waits for it) and
 * the answer is sent from the loop when the commit is reported. A bulk body
 * (up to 100 MB) is never parsed on the loop: it is scanned (one pass,
 * nothing allocated: item and value counts) and then read and validated
 * on the threadpool, and its write is submitted when that is done. The
 * usual shape of a body is read directly (bulk_scan.h: keys and values are
 * decoded in place, no tree is built); any other goes to jansson, which
 * then judges the whole body as before. A bulk request is one atomic
 * RocksDB batch: it is applied whole or not at all, so unsuccessful_keys is always empty on
 * success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "bulk_scan.h"
#include "kv_mem.h"
#include "multipart.h"
#include "rest_int.h"
#include "text.h"

typedef struct rest_job rest_job_t;

struct rest_job {
    node_app_t *app;
    http_req_t *req;
    rest_call_t call;
    kvops_write_t *writes;
    size_t nwrites;
    json_t *doc;    /* parsed body; writes may point into it */
    uint8_t **bufs; /* decoded base64 values and dumped metadata */
    size_t nbufs;
    char *title;
    int (*work)(rest_job_t *j);
    bool write_after; /* work parsed the writes: submit them when it is done */
    int rc;
    json_t *result;
    kvop_err_t err; /* rc == JOB_INVALID: the request's validation failure */
};

/* A job's rc when the request itself was refused (err says why). */
#define JOB_INVALID 1

static void job_free(rest_job_t *j)
{
    size_t i;
    for (i = 0; i < j->nbufs; i++)
        free(j->bufs[i]); /* from malloc (base64) or json_dumps */
    kv_free(j->bufs);
    kv_free(j->writes);
    kv_free(j->call.key);
    kv_free(j->title);
    json_decref(j->doc);
    json_decref(j->result);
    kv_free(j);
}

static rest_job_t *job_new(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    rest_job_t *j = kv_calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->app = app;
    j->req = req;
    j->call = *c;
    c->key = NULL; /* ownership moved */
    return j;
}

static void job_work(void *arg)
{
    rest_job_t *j = arg;
    j->rc = j->work(j);
}

static void job_done(void *arg)
{
    rest_job_t *j = arg;
    switch (j->rc) {
    case 0:
        app_rest_ok(j->app, j->req, j->call.route, json_incref(j->result), NULL);
        break;
    case JOB_INVALID:
        rest_fail_err(j->app, j->req, &j->call, &j->err);
        break;
    case KV_ENOTFOUND:
        rest_fail(j->app, j->req, &j->call, 404, KVOP_CODE_NS_NOT_FOUND, "namespace not found");
        break;
    case KV_EEXISTS:
        rest_fail(j->app, j->req, &j->call, 400, KVOP_CODE_NS_TITLE_EXISTS,
                  "a namespace with this account ID and title already exists");
        break;
    case KV_ELIMIT:
        rest_fail(j->app, j->req, &j->call, 400, KVOP_CODE_NS_LIMIT,
                  "the account has reached its limit of 1000 namespaces");
        break;
    case KV_EUNAUTH:
    case KV_EFORBIDDEN:
        /* The origin's re-check refused the token (node/replica/judge.h):
         * the answer of the local check (rest.c, admit). */
        app_rest_error(j->app, j->req, j->call.route, j->rc == KV_EUNAUTH ? 401 : 403,
                       KVOP_CODE_AUTH, "Authentication error");
        break;
    default: {
        kvop_err_t e;
        kvops_internal(j->rc, j->call.op, &e);
        rest_fail_err(j->app, j->req, &j->call, &e);
    }
    }
    job_free(j);
}

/* The job's writes were committed (or refused): answer. */
static void job_written(void *arg, int rc)
{
    rest_job_t *j = arg;
    if (rc == 0 && j->call.route != METRICS_ROUTE_REST_VALUE_PUT &&
        j->call.route != METRICS_ROUTE_REST_VALUE_DELETE &&
        !(j->result = json_pack("{s:I, s:[]}", "successful_key_count", (json_int_t)j->nwrites,
                                "unsuccessful_keys")))
        rc = -ENOMEM;
    j->rc = rc == KV_ENOTFOUND ? -EIO : rc;
    job_done(j);
}

/* Submit the job's writes; the answer follows from the loop. */
static void job_write(rest_job_t *j)
{
    if (app_write(j->app, j->req, j->call.auth_id, j->call.ns, j->writes, j->nwrites, job_written,
                  j) != 0) {
        j->rc = -ENOMEM;
        job_done(j);
    }
}

static void job_offloaded(void *arg)
{
    rest_job_t *j = arg;
    if (j->write_after && j->rc == 0)
        job_write(j);
    else
        job_done(j);
}

/* Queue the job; on failure answer 500 and free it. */
static void job_start(rest_job_t *j)
{
    if (app_offload(j->req, job_work, job_offloaded, j) != 0) {
        j->rc = -ENOMEM;
        job_done(j);
    }
}

/* ---- single values ------------------------------------------------------------------ */

/* A numeric query option: text that is no number reads as 0 (the rule for
 * the smallest value answers it); a number beyond the int32 range reads as
 * one (text_parse_num saturates), so rule 11 answers it, never a wrap. */
static void query_int(http_req_t *req, const char *name, bool *has, int64_t *v)
{
    const char *s;
    size_t n;
    *has = text_query_get(req->query, req->query_len, name, &s, &n);
    *v = 0;
    if (*has)
        text_parse_num(s, n, v);
}

int rest_check_put_params(node_app_t *app, http_req_t *req, const rest_call_t *c, int64_t *exp_abs,
                          kvop_err_t *e)
{
    bool has_ttl, has_exp;
    int64_t ttl, exp;
    if (kvops_check_key(c->key, c->key_len, e) != 0)
        return -1;
    query_int(req, "expiration_ttl", &has_ttl, &ttl);
    query_int(req, "expiration", &has_exp, &exp);
    return kvops_check_expiry(has_ttl, ttl, has_exp, exp, kvops_now_s(app->ops), exp_abs, e);
}

/* Fill w from a multipart body: a `value` part and an optional `metadata`
 * part holding a JSON string. Bracketed fields (metadata[foo]) are ignored,
 * as Cloudflare ignores them. */
static int multipart_value(http_req_t *req, const http_header_t *ct, kvops_write_t *w,
                           kvop_err_t *e)
{
    mp_part_t parts[MP_MAX_PARTS];
    const mp_part_t *v, *m;
    size_t n;
    e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
    if (mp_parse(ct->value, ct->value_len, req->body, req->body_len, parts, MP_MAX_PARTS, &n) != 0)
        return snprintf(e->msg, sizeof e->msg, "could not parse multipart body"), -1;
    v = mp_find(parts, n, "value");
    m = mp_find(parts, n, "metadata");
    if (!v)
        return snprintf(e->msg, sizeof e->msg,
                        "multipart put request does not contain required form field 'value'"),
               -1;
    w->value = v->data;
    w->value_len = v->len;
    if (m && m->len) {
        if (kvops_check_metadata((const char *)m->data, m->len, e) != 0)
            return -1;
        w->metadata = (const char *)m->data;
        w->metadata_len = m->len;
    }
    return 0;
}

void rest_value_put(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    const http_header_t *ct = http_req_header(req, "Content-Type");
    kvops_write_t w = {.key = c->key, .key_len = c->key_len};
    rest_job_t *j;
    kvop_err_t e;

    if (rest_check_put_params(app, req, c, &w.expiration, &e) != 0)
        goto fail;
    if (ct && mp_is_multipart(ct->value, ct->value_len)) {
        if (multipart_value(req, ct, &w, &e) != 0)
            goto fail;
    } else {
        w.value = req->body;
        w.value_len = req->body_len;
    }
    if (kvops_check_value_len(w.value_len, &e) != 0)
        goto fail;
    if (!(j = job_new(app, req, c)))
        goto oom;
    if (!(j->writes = kv_malloc(sizeof w))) {
        j->rc = -ENOMEM;
        job_done(j);
        return;
    }
    w.key = j->call.key;
    j->writes[0] = w;
    j->nwrites = 1;
    job_write(j);
    return;
oom:
    kvops_internal(-ENOMEM, "put", &e);
fail:
    rest_fail_err(app, req, c, &e);
}

void rest_value_delete(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    kvop_err_t e;
    rest_job_t *j;
    if (kvops_check_key(c->key, c->key_len, &e) != 0) {
        rest_fail_err(app, req, c, &e);
        return;
    }
    if (!(j = job_new(app, req, c))) {
        kvops_internal(-ENOMEM, "remove key", &e);
        rest_fail_err(app, req, c, &e);
        return;
    }
    if (!(j->writes = kv_calloc(1, sizeof *j->writes))) {
        j->rc = -ENOMEM;
        job_done(j);
        return;
    }
    j->writes[0] =
        (kvops_write_t){.key = j->call.key, .key_len = j->call.key_len, .tombstone = true};
    j->nwrites = 1;
    job_write(j);
}

/* ---- bulk ----------------------------------------------------------------------------- */

static int keep_buf(rest_job_t *j, void *p)
{
    uint8_t **n = kv_realloc(j->bufs, (j->nbufs + 1) * sizeof *n);
    if (!n) {
        free(p);
        return -1;
    }
    j->bufs = n;
    j->bufs[j->nbufs++] = p;
    return 0;
}

/* A numeric field of a bulk item, read as query_int reads a query option:
 * a JSON integer as it is, a real or a string by text.h's int32 rule (1e300
 * is out of range, never cast), anything else as 0. */
static bool num_field(json_t *o, const char *name, int64_t *v)
{
    json_t *f = json_object_get(o, name);
    *v = 0;
    if (!f || json_is_null(f))
        return false;
    if (json_is_integer(f))
        *v = (int64_t)json_integer_value(f);
    else if (json_is_real(f))
        text_num_real(json_real_value(f), v);
    else if (json_is_string(f))
        text_parse_num(json_string_value(f), json_string_length(f), v);
    return true;
}

static int bulk_metadata(rest_job_t *j, json_t *m, kvops_write_t *w, kvop_err_t *e)
{
    char *text;
    if (!m || json_is_null(m))
        return 0;
    text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text || keep_buf(j, text) != 0) {
        kvops_internal(-ENOMEM, "bulk put", e);
        return -1;
    }
    w->metadata = text;
    w->metadata_len = strlen(text);
    return kvops_check_metadata(w->metadata, w->metadata_len, e);
}

static int bulk_value(rest_job_t *j, const bulk_scan_item_t *f, kvops_write_t *w, kvop_err_t *e)
{
    size_t len = f->value_len, pos;
    uint8_t *buf;
    long n;
    if (!f->value) {
        e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
        snprintf(e->msg, sizeof e->msg, "value for key \"%.*s\" must be a string", (int)w->key_len,
                 w->key);
        return -1;
    }
    w->value = f->value;
    w->value_len = len;
    if (!f->base64)
        return kvops_check_value_len(len, e);
    if (!(buf = malloc(len / 4 * 3 + 3)) || keep_buf(j, buf) != 0) {
        kvops_internal(-ENOMEM, "bulk put", e);
        return -1;
    }
    n = text_b64_decode((const char *)f->value, len, buf, &pos);
    if (n < 0) {
        e->status = 400, e->code = KVOP_CODE_BASE64;
        snprintf(e->msg, sizeof e->msg,
                 "could not base64 decode value for key: \"%.*s\", err: 'illegal base64 data at "
                 "input byte %zu'",
                 (int)w->key_len, w->key, pos);
        return -1;
    }
    w->value = buf;
    w->value_len = (size_t)n;
    return kvops_check_value_len(w->value_len, e);
}

/* One item of a bulk put in the validation order of a single put: its
 * fields f, read by bulk_scan.h or taken from jansson's tree (bulk_item),
 * and its metadata m (NULL when absent). */
static int bulk_item_check(rest_job_t *j, const bulk_scan_item_t *f, json_t *m, kvops_write_t *w,
                           kvop_err_t *e)
{
    e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
    w->key = (const char *)f->key;
    w->key_len = f->key_len;
    if (kvops_check_key(w->key, w->key_len, e) != 0)
        return -1;
    if (kvops_check_expiry(f->has_expiration_ttl, f->expiration_ttl, f->has_expiration,
                           f->expiration, kvops_now_s(j->app->ops), &w->expiration, e) != 0)
        return -1;
    if (bulk_metadata(j, m, w, e) != 0)
        return -1;
    return bulk_value(j, f, w, e);
}

/* One item of jansson's tree: its fields as bulk_item_check takes them. */
static int bulk_item(rest_job_t *j, json_t *item, kvops_write_t *w, kvop_err_t *e)
{
    json_t *k = json_object_get(item, "key"), *v = json_object_get(item, "value");
    bulk_scan_item_t f = {0};
    e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
    if (!json_is_object(item) || !json_is_string(k))
        return snprintf(e->msg, sizeof e->msg, "each item needs a string \"key\""), -1;
    f.key = (uint8_t *)json_string_value(k);
    f.key_len = json_string_length(k);
    f.value = (uint8_t *)json_string_value(v); /* NULL unless a string */
    f.value_len = json_string_length(v);
    f.has_expiration_ttl = num_field(item, "expiration_ttl", &f.expiration_ttl);
    f.has_expiration = num_field(item, "expiration", &f.expiration);
    f.base64 = json_is_true(json_object_get(item, "base64"));
    return bulk_item_check(j, &f, json_object_get(item, "metadata"), w, e);
}

/* What a bulk body holds, counted in one pass without allocating: the
 * elements of the top-level array and the JSON values in all (commas and
 * containers: every value but the first of a container follows a comma).
 * Only an upper bound for the parse: jansson still judges the syntax. */
static void json_counts(const uint8_t *s, size_t n, size_t *top, size_t *values)
{
    size_t depth = 0, i;
    bool in_str = false, top_any = false;
    *top = 0;
    *values = 1;
    for (i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            depth++;
            (*values)++;
        } else if (c == ']' || c == '}') {
            depth -= depth > 0;
        } else if (c == ',') {
            (*values)++;
            *top += depth == 1;
        }
        if (depth == 1 && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '[')
            top_any = true;
        else if (depth == 2 && (c == '[' || c == '{'))
            top_any = true;
    }
    *top += top_any;
}

/* The checks of the one-pass count (json_counts), before any parse: *top
 * is then the most items the body can hold. */
static int bulk_counts(rest_job_t *j, size_t *top, kvop_err_t *e)
{
    size_t values;
    e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
    json_counts(j->req->body, j->req->body_len, top, &values);
    if (*top > KV_BULK_WRITE_MAX_ITEMS) {
        e->code = KVOP_CODE_TOO_MANY_ITEMS;
        return snprintf(e->msg, sizeof e->msg, "a bulk request may hold at most %d items",
                        KV_BULK_WRITE_MAX_ITEMS),
               -1;
    }
    if (values > KV_BULK_JSON_VALUES_MAX)
        return snprintf(e->msg, sizeof e->msg, "request body holds more than %u JSON values",
                        KV_BULK_JSON_VALUES_MAX),
               -1;
    return 0;
}

static int bulk_writes_alloc(rest_job_t *j, size_t n, kvop_err_t *e)
{
    j->nwrites = n;
    j->writes = kv_calloc(n ? n : 1, sizeof *j->writes);
    if (!j->writes) {
        kvops_internal(-ENOMEM, "bulk", e);
        return -1;
    }
    return 0;
}

/* Parse the JSON array body into j->doc with jansson and check its size. */
static int bulk_array(rest_job_t *j, kvop_err_t *e)
{
    json_error_t jerr;
    e->status = 400, e->code = KVOP_CODE_BAD_REQUEST;
    /* A value is bytes: "\u0000" in its text is one of them (lengths, never
     * C strings, carry keys and values from here on). */
    j->doc = json_loadb((const char *)j->req->body, j->req->body_len, JSON_ALLOW_NUL, &jerr);
    if (!json_is_array(j->doc))
        return snprintf(e->msg, sizeof e->msg, "request body must be a JSON array"), -1;
    if (json_array_size(j->doc) > KV_BULK_WRITE_MAX_ITEMS) {
        e->code = KVOP_CODE_TOO_MANY_ITEMS;
        return snprintf(e->msg, sizeof e->msg, "a bulk request may hold at most %d items",
                        KV_BULK_WRITE_MAX_ITEMS),
               -1;
    }
    return bulk_writes_alloc(j, json_array_size(j->doc), e);
}

/* A body read directly (bulk_scan.h): its items and their parsed metadata. */
typedef struct {
    bulk_scan_item_t *items;
    json_t **metas; /* per item, NULL when no item has metadata */
    size_t n;
} bulk_read_t;

static void bulk_read_free(bulk_read_t *r)
{
    for (size_t i = 0; r->metas && i < r->n; i++)
        json_decref(r->metas[i]);
    kv_free(r->metas);
    kv_free(r->items);
    *r = (bulk_read_t){0};
}

/* Read the body's usual shape directly, keys only for a delete. Returns
 * false when the body is not of that shape (or memory is short), and the
 * caller parses it with jansson, which then judges it whole. A metadata
 * text jansson refuses sends the body there too: nothing is decoded
 * before every item has been read. */
static bool bulk_read(rest_job_t *j, size_t top, bool keys, bulk_read_t *r)
{
    uint8_t *body = j->req->body;
    size_t len = j->req->body_len, i;
    *r = (bulk_read_t){0};
    if (!body || !(r->items = kv_malloc((top ? top : 1) * sizeof *r->items)))
        return false;
    r->n =
        keys ? bulk_scan_keys(body, len, r->items, top) : bulk_scan_put(body, len, r->items, top);
    for (i = 0; i < r->n; i++) {
        if (!r->items[i].metadata)
            continue;
        if (!r->metas && !(r->metas = kv_calloc(r->n, sizeof *r->metas)))
            break;
        r->metas[i] = json_loadb((const char *)r->items[i].metadata, r->items[i].metadata_len,
                                 JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!r->metas[i])
            break;
    }
    if (r->n == 0 || i < r->n) {
        bulk_read_free(r);
        return false;
    }
    bulk_scan_decode(r->items, r->n);
    return true;
}

/* Parse, validate in the order of a single put, then write. */
static int bulk_put_work(rest_job_t *j)
{
    bulk_read_t r;
    size_t top, i;
    int rc = bulk_counts(j, &top, &j->err);
    if (rc == 0 && bulk_read(j, top, false, &r)) {
        rc = bulk_writes_alloc(j, r.n, &j->err);
        for (i = 0; rc == 0 && i < r.n; i++)
            rc = bulk_item_check(j, &r.items[i], r.metas ? r.metas[i] : NULL, &j->writes[i],
                                 &j->err);
        bulk_read_free(&r);
        return rc != 0 ? JOB_INVALID : 0;
    }
    if (rc == 0)
        rc = bulk_array(j, &j->err);
    for (i = 0; rc == 0 && i < j->nwrites; i++)
        rc = bulk_item(j, json_array_get(j->doc, i), &j->writes[i], &j->err);
    return rc != 0 ? JOB_INVALID : 0;
}

static int bulk_delete_work(rest_job_t *j)
{
    kvop_err_t *e = &j->err;
    bulk_read_t r = {0};
    size_t top, i;
    int rc = bulk_counts(j, &top, e);
    bool read = rc == 0 && bulk_read(j, top, true, &r);
    if (rc == 0)
        rc = read ? bulk_writes_alloc(j, r.n, e) : bulk_array(j, e);
    for (i = 0; rc == 0 && i < j->nwrites; i++) {
        json_t *it = read ? NULL : json_array_get(j->doc, i), *k = it;
        if (read) {
            j->writes[i] = (kvops_write_t){.key = (const char *)r.items[i].key,
                                           .key_len = r.items[i].key_len,
                                           .tombstone = true};
        } else {
            /* Keys as strings; wrangler's file format also allows {"name": k}. */
            if (json_is_object(it))
                k = json_object_get(it, json_object_get(it, "name") ? "name" : "key");
            if (!json_is_string(k)) {
                rc = -1;
                snprintf(e->msg, sizeof e->msg, "keys must be strings");
                break;
            }
            j->writes[i] = (kvops_write_t){
                .key = json_string_value(k), .key_len = json_string_length(k), .tombstone = true};
        }
        rc = kvops_check_key(j->writes[i].key, j->writes[i].key_len, e);
    }
    bulk_read_free(&r);
    return rc != 0 ? JOB_INVALID : 0;
}

static void bulk_start(node_app_t *app, http_req_t *req, rest_call_t *c, int (*work)(rest_job_t *))
{
    rest_job_t *j = job_new(app, req, c);
    kvop_err_t e;
    if (!j) {
        kvops_internal(-ENOMEM, c->op, &e);
        rest_fail_err(app, req, c, &e);
        return;
    }
    j->work = work;
    j->write_after = true;
    job_start(j);
}

void rest_bulk_put(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    bulk_start(app, req, c, bulk_put_work);
}

void rest_bulk_delete(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    bulk_start(app, req, c, bulk_delete_work);
}

/* ---- namespaces ----------------------------------------------------------------------- */

static int ns_create_work(rest_job_t *j)
{
    stor_ns_t ns;
    int rc = kvops_ns_create(j->app->ops, j->call.auth_id, j->call.account, j->title, &ns);
    if (rc == 0)
        j->result = rest_ns_json(&ns);
    return rc;
}

static int ns_rename_work(rest_job_t *j)
{
    stor_ns_t ns;
    int rc = kvops_ns_rename(j->app->ops, j->call.auth_id, j->call.ns, j->title);
    if (rc == 0 && (rc = stor_ns_get(kvops_store(j->app->ops), j->call.ns, &ns)) == 0)
        j->result = rest_ns_json(&ns);
    return rc;
}

static int ns_delete_work(rest_job_t *j)
{
    return kvops_ns_delete(j->app->ops, j->call.auth_id, j->call.ns);
}

/* {"title": "..."}: 1..512 bytes of UTF-8. */
static int parse_title(rest_job_t *j, kvop_err_t *e)
{
    json_t *doc = json_loadb((const char *)j->req->body, j->req->body_len, 0, NULL);
    json_t *t = json_object_get(doc, "title");
    int rc = -1;
    e->status = 400, e->code = KVOP_CODE_NS_TITLE_INVALID;
    if (!json_is_string(t) || json_string_length(t) == 0)
        snprintf(e->msg, sizeof e->msg, "request body must be {\"title\": \"<non-empty title>\"}");
    else if (json_string_length(t) > KV_NS_TITLE_MAX_BYTES)
        snprintf(e->msg, sizeof e->msg, "title must be at most %d bytes", KV_NS_TITLE_MAX_BYTES);
    else if (!(j->title = kv_strndup(json_string_value(t), json_string_length(t))))
        kvops_internal(-ENOMEM, "namespace", e);
    else
        rc = 0;
    json_decref(doc);
    return rc;
}

void rest_ns_write(node_app_t *app, http_req_t *req, rest_call_t *c)
{
    rest_job_t *j = job_new(app, req, c);
    kvop_err_t e;
    if (!j) {
        kvops_internal(-ENOMEM, c->op, &e);
        rest_fail_err(app, req, c, &e);
        return;
    }
    if (c->route == METRICS_ROUTE_REST_NS_DELETE) {
        j->work = ns_delete_work;
    } else if (parse_title(j, &e) != 0) {
        rest_fail_err(app, req, c, &e);
        job_free(j);
        return;
    } else {
        j->work = c->route == METRICS_ROUTE_REST_NS_CREATE ? ns_create_work : ns_rename_work;
    }
    job_start(j);
}
