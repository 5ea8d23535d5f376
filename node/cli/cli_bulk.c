/*
 * cli_bulk.c - `edgekv kv bulk put|get|delete FILE`, with wrangler's file
 * formats:
 *   put:        [{"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}]
 *   get/delete: ["key", ...] or [{"name": "key"}, ...]
 *
 * Writes and deletes go in requests of CLI_BULK_BATCH_ITEMS (and never
 * more than the API's body limit); reads in requests of
 * KV_BULK_GET_MAX_KEYS, the API's limit, which wrangler does not respect
 * (it sends a whole file in one request). The input is validated whole
 * before the first request, so a malformed file changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* Input errors listed before giving up (wrangler lists 12 as well). */
#define BULK_MAX_ERRORS 12
#define BAR_WIDTH       30

typedef struct {
    bool on;
    bool tty; /* redraw in place; else one line per step (readable in logs) */
    const char *verb;
    size_t done, total;
} progress_t;

static void progress_init(progress_t *p, const cli_t *c, const char *verb, size_t total,
                          size_t per_request)
{
    p->tty = isatty(STDERR_FILENO);
    p->on = total > per_request && (c->progress || p->tty);
    p->verb = verb;
    p->done = 0;
    p->total = total;
}

static void progress_add(progress_t *p, size_t n)
{
    static const char full[] = "##############################";
    static const char empty[] = "..............................";
    _Static_assert(sizeof full == BAR_WIDTH + 1 && sizeof empty == BAR_WIDTH + 1, "bar width");
    int filled;
    p->done += n;
    if (!p->on || p->total == 0)
        return;
    filled = (int)(p->done * BAR_WIDTH / p->total);
    fprintf(stderr, "%s%s [%.*s%.*s] %3d%% %zu/%zu keys", p->tty ? "\r" : "", p->verb, filled, full,
            BAR_WIDTH - filled, empty, (int)(p->done * 100 / p->total), p->done, p->total);
    if (!p->tty || p->done >= p->total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void progress_abort(progress_t *p)
{
    if (p->on && p->tty && p->done < p->total)
        fputc('\n', stderr);
}

/* Reads FILE as a JSON array. */
static int load_array(const char *path, json_t **out)
{
    char *buf;
    size_t len;
    json_error_t err;
    int rc = cli__read_file(path, CLI_BULK_FILE_MAX_BYTES, &buf, &len);
    if (rc != 0)
        return rc;
    *out = json_loadb(buf, len, 0, &err);
    kv_free(buf);
    if (!*out) {
        fprintf(stderr, "edgekv kv: %s is not JSON: %s (line %d, column %d)\n", path, err.text,
                err.line, err.column);
        return CLI_EXIT_USAGE;
    }
    if (!json_is_array(*out)) {
        fprintf(stderr, "edgekv kv: %s: expected a JSON array\n", path);
        json_decref(*out);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static void item_error(int *nerr, size_t index, const char *what)
{
    if (++*nerr <= BULK_MAX_ERRORS)
        fprintf(stderr, "edgekv kv: item %zu: %s\n", index, what);
}

/* wrangler's rules for a bulk put item; unknown fields are warned about. */
static void check_put_item(json_t *it, size_t i, int *nerr, int *nwarn)
{
    const char *k;
    json_t *v;
    if (!json_is_object(it)) {
        item_error(nerr, i, "not an object with \"key\" and \"value\"");
        return;
    }
    if (!json_is_string(json_object_get(it, "key")))
        item_error(nerr, i, "\"key\" must be a string");
    if (!json_is_string(json_object_get(it, "value")))
        item_error(nerr, i, "\"value\" must be a string");
    json_object_foreach(it, k, v)
    {
        bool num = strcmp(k, "expiration") == 0 || strcmp(k, "expiration_ttl") == 0;
        if (num && !json_is_number(v))
            item_error(nerr, i, "\"expiration\" and \"expiration_ttl\" must be numbers");
        else if (strcmp(k, "base64") == 0 && !json_is_boolean(v))
            item_error(nerr, i, "\"base64\" must be true or false");
        else if (!num && strcmp(k, "key") && strcmp(k, "value") && strcmp(k, "metadata") &&
                 strcmp(k, "base64") && ++*nwarn <= BULK_MAX_ERRORS)
            fprintf(stderr, "edgekv kv: warning: item %zu: unexpected field \"%s\" (ignored)\n", i,
                    k);
    }
}

/* A get/delete file: strings or {"name": string}; a new array of strings. */
static int load_keys(const char *path, json_t **keys)
{
    json_t *in, *it;
    size_t i;
    int nerr = 0, rc = load_array(path, &in);
    if (rc != 0)
        return rc;
    *keys = json_array();
    json_array_foreach(in, i, it)
    {
        json_t *k = json_is_string(it) ? it : json_object_get(it, "name");
        if (json_is_string(k))
            json_array_append(*keys, k);
        else
            item_error(&nerr, i, "expected a string or an object with a string \"name\"");
    }
    json_decref(in);
    if (nerr) {
        fprintf(stderr, "edgekv kv: %s: %d bad item%s; nothing was sent\n", path, nerr,
                nerr == 1 ? "" : "s");
        json_decref(*keys);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* "/<ns>/<what>", kv_malloc'd. */
static char *bulk_path(const cli_t *c, const char *what)
{
    char *ns = cli_pct(c->ns_id, strlen(c->ns_id)), *p = ns ? cli_fmt("/%s/%s", ns, what) : NULL;
    kv_free(ns);
    return p;
}

/* Sends items [from, from+n) as one JSON array; adds the result counts. */
static int send_batch(cli_t *c, const char *method, const char *path, json_t *items, size_t from,
                      size_t n, size_t *ok, json_t *failed)
{
    json_t *batch = json_array(), *doc, *res;
    char *body;
    size_t i;
    int rc;
    for (i = from; i < from + n; i++)
        json_array_append(batch, json_array_get(items, i));
    body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    if (!body)
        return CLI_EXIT_API;
    cli_req_t rq = {.method = method,
                    .path = path,
                    .content_type = "application/json",
                    .body = body,
                    .body_len = strlen(body)};
    rc = cli_call(c, &rq, &doc, &res, NULL);
    free(body);
    if (rc != 0)
        return rc;
    json_t *cnt = json_object_get(res, "successful_key_count");
    *ok += json_is_integer(cnt) ? (size_t)json_integer_value(cnt) : n;
    json_array_extend(failed, json_object_get(res, "unsuccessful_keys"));
    json_decref(doc);
    return 0;
}

/* How many items from `from` fit in one request: at most
 * CLI_BULK_BATCH_ITEMS, and a body under the API's limit (one oversized
 * item still goes alone, for the server to refuse). */
static size_t batch_len(json_t *items, size_t from)
{
    size_t n = 0, bytes = 2, total = json_array_size(items);
    while (from + n < total && n < CLI_BULK_BATCH_ITEMS) {
        json_t *v = json_object_get(json_array_get(items, from + n), "value");
        size_t item = json_string_length(v) * 6 / 5 + 1024; /* escapes, other fields */
        if (n > 0 && bytes + item > KV_BULK_BODY_MAX_BYTES)
            break;
        bytes += item;
        n++;
    }
    return n;
}

static int report(cli_t *c, const char *verb, size_t ok, json_t *failed)
{
    size_t i;
    json_t *k;
    if (c->json) {
        json_t *o = json_pack("{s:I, s:O}", "successful_key_count", (json_int_t)ok,
                              "unsuccessful_keys", failed);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%s %zu key%s\n", verb, ok, ok == 1 ? "" : "s");
    }
    json_array_foreach(failed, i, k)
    {
        fprintf(stderr, "edgekv kv: not %s: %s\n", strcmp(verb, "Wrote") ? "deleted" : "written",
                json_string_value(k));
    }
    return json_array_size(failed) ? CLI_EXIT_API : 0;
}

/* Runs the batches of a put or delete. */
static int run_batches(cli_t *c, const char *method, const char *verb, json_t *items, bool by_size)
{
    size_t from = 0, ok = 0, total = json_array_size(items);
    json_t *failed = json_array();
    char *path = bulk_path(c, "bulk");
    progress_t p;
    int rc = path && failed ? 0 : CLI_EXIT_API;
    progress_init(&p, c, strcmp(method, "PUT") ? "deleting" : "writing", total,
                  CLI_BULK_BATCH_ITEMS);
    while (rc == 0 && from < total) {
        size_t n = by_size ? batch_len(items, from) : total - from;
        if (n > CLI_BULK_BATCH_ITEMS)
            n = CLI_BULK_BATCH_ITEMS;
        rc = send_batch(c, method, path, items, from, n, &ok, failed);
        if (rc == 0)
            progress_add(&p, n);
        from += n;
    }
    if (rc != 0) {
        progress_abort(&p);
        fprintf(stderr, "edgekv kv: stopped: %zu of %zu keys were %s before the error\n", ok, total,
                strcmp(method, "PUT") ? "deleted" : "written");
    } else {
        rc = report(c, verb, ok, failed);
    }
    json_decref(failed);
    kv_free(path);
    return rc;
}

int cli_bulk_put(cli_t *c)
{
    json_t *items, *it;
    size_t i;
    int nerr = 0, nwarn = 0;
    int rc = cli_need_ns(c);
    if (rc == 0)
        rc = load_array(c->pos[0], &items);
    if (rc != 0)
        return rc;
    json_array_foreach(items, i, it)
    {
        check_put_item(it, i, &nerr, &nwarn);
    }
    if (nerr) {
        fprintf(stderr, "edgekv kv: %s: %d error%s; nothing was written\n", c->pos[0], nerr,
                nerr == 1 ? "" : "s");
        json_decref(items);
        return CLI_EXIT_USAGE;
    }
    rc = run_batches(c, "PUT", "Wrote", items, true);
    json_decref(items);
    return rc;
}

int cli_bulk_delete(cli_t *c)
{
    json_t *keys;
    int rc = cli_need_ns(c);
    if (rc == 0)
        rc = load_keys(c->pos[0], &keys);
    if (rc != 0)
        return rc;
    rc = run_batches(c, "DELETE", "Deleted", keys, false);
    json_decref(keys);
    return rc;
}

/* One bulk/get request for keys [from, from+n); merges result.values. */
static int get_batch(cli_t *c, const char *path, json_t *keys, size_t from, size_t n,
                     json_t *values)
{
    json_t *slice = json_array(), *body, *doc, *res;
    char *text;
    size_t i;
    int rc;
    for (i = from; i < from + n; i++)
        json_array_append(slice, json_array_get(keys, i));
    body = json_pack("{s:o}", "keys", slice);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return CLI_EXIT_API;
    cli_req_t rq = {.method = "POST",
                    .path = path,
                    .content_type = "application/json",
                    .body = text,
                    .body_len = strlen(text)};
    rc = cli_call(c, &rq, &doc, &res, NULL);
    free(text);
    if (rc != 0)
        return rc;
    json_object_update(values, json_object_get(res, "values"));
    json_decref(doc);
    return 0;
}

int cli_bulk_get(cli_t *c)
{
    json_t *keys, *values;
    size_t from, total;
    char *path;
    progress_t p;
    int rc = cli_need_ns(c);
    if (rc == 0)
        rc = load_keys(c->pos[0], &keys);
    if (rc != 0)
        return rc;
    total = json_array_size(keys);
    values = json_object();
    path = bulk_path(c, "bulk/get");
    rc = path && values ? 0 : CLI_EXIT_API;
    progress_init(&p, c, "reading", total, KV_BULK_GET_MAX_KEYS);
    for (from = 0; rc == 0 && from < total; from += KV_BULK_GET_MAX_KEYS) {
        size_t n = total - from < KV_BULK_GET_MAX_KEYS ? total - from : KV_BULK_GET_MAX_KEYS;
        rc = get_batch(c, path, keys, from, n, values);
        if (rc == 0)
            progress_add(&p, n);
    }
    if (rc == 0)
        cli_print_json(values);
    else
        progress_abort(&p);
    json_decref(values);
    json_decref(keys);
    kv_free(path);
    return rc;
}
