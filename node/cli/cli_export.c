/*
 * cli_export.c - `edgekv kv export`: every key of a namespace (or of all of
 * them) as JSON lines (the format is in cli_line.c), through the public
 * REST API only, so it reads Cloudflare itself as well as an edgekv node.
 *
 * Per namespace it lists keys a page at a time (cursor paging, which also
 * gives each key's metadata and expiration), then reads the values of a
 * page in bulk gets of KV_BULK_GET_MAX_KEYS with withMetadata. A bulk get
 * carries text only ("Keys must contain text-based values", 400) and at
 * most 25 MB (413): a refused request is split in halves down to single
 * keys, and a single key is read with a plain GET, byte for byte (its
 * metadata then comes from the listing).
 *
 * Resumable: after each page the output is flushed and fsync'd, then
 * FILE.state (namespaces, the current one, the next cursor, count, the
 * output's length) is replaced atomically. --resume cuts the output back to
 * that length (dropping a half-written page) and continues from the cursor,
 * so every key is in the file exactly once. It is not a snapshot: keys
 * written during an export may or may not be in it, as with any listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* A namespace whose listing never ends (a server handing back the same
 * cursor) is cut off after this many pages: far beyond any real namespace
 * at 1000 keys a page. */
#define EXPORT_MAX_PAGES 1000000
/* The state file's format tag: a file of another format is refused. */
#define EXPORT_STATE_FORMAT "edgekv-export-state-1"

typedef struct {
    cli_t *c;
    FILE *out;            /* the output file, or stdout */
    const char *out_path; /* NULL: stdout (no state, no resume) */
    char *state_path;     /* "<out>.state", kv_malloc'd */
    json_t *state;        /* {format, namespaces:[{id,title}], ns_index, cursor, keys, offset} */
    const char *ns_id, *ns_title; /* the namespace being exported (borrowed from state) */
    char *ns_pct;                 /* its id percent-encoded */
    cli_meter_t m;
    unsigned long long gone; /* listed keys gone (deleted, expired) before their value was read */
    unsigned long long one_by_one; /* values read with a plain GET (binary, or too large) */
} export_t;

/* ---- one record --------------------------------------------------------------------- */

static int emit(export_t *e, const char *key, size_t key_len, const void *val, size_t val_len,
                json_t *meta, int64_t expiration)
{
    cli_rec_t r = {.ns_id = e->ns_id,
                   .ns_title = e->ns_title,
                   .key = key,
                   .key_len = key_len,
                   .value = val,
                   .value_len = val_len,
                   .metadata = json_is_null(meta) ? NULL : meta,
                   .expiration = expiration};
    size_t len;
    char *line = cli_rec_encode(&r, &len);
    if (!line) {
        fputs("edgekv kv: out of memory\n", stderr);
        return CLI_EXIT_API;
    }
    bool ok = fwrite(line, 1, len, e->out) == len && fputc('\n', e->out) != EOF;
    free(line);
    if (!ok) {
        fprintf(stderr, "edgekv kv: cannot write %s: %s\n", e->out_path ? e->out_path : "stdout",
                strerror(errno));
        return CLI_EXIT_API;
    }
    e->m.keys++;
    e->m.bytes += len + 1;
    cli_meter_draw(&e->m, false);
    return 0;
}

static int64_t int_of(json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* One key read with GET values/{key}: any bytes. The metadata is the
 * listing's (GET values carries none), the expiration the answer's header,
 * else the listing's. */
static int get_one(export_t *e, json_t *listed)
{
    json_t *name = json_object_get(listed, "name");
    char *k = cli_pct(json_string_value(name), json_string_length(name));
    char *path = k ? cli_fmt("/%s/values/%s", e->ns_pct, k) : NULL;
    cli_resp_t r;
    int rc = CLI_EXIT_API;
    kv_free(k);
    if (path) {
        cli_req_t rq = {.method = "GET", .path = path};
        rc = cli_http(e->c, &rq, &r);
        kv_free(path);
    }
    if (rc != 0)
        return rc;
    e->one_by_one++;
    if (r.status == 200) {
        int64_t exp =
            r.expiration[0] ? strtoll(r.expiration, NULL, 10) : int_of(listed, "expiration");
        rc = emit(e, json_string_value(name), json_string_length(name), r.body ? r.body : "", r.len,
                  json_object_get(listed, "metadata"), exp);
    } else if (r.status == 404) {
        e->gone++;
    } else {
        json_t *doc, *res;
        rc = cli_envelope(&r, &doc, &res, NULL);
        if (rc == 0) {
            json_decref(doc);
            fprintf(stderr, "edgekv kv: unexpected HTTP %ld for a value\n", r.status);
            rc = CLI_EXIT_API;
        }
    }
    cli_resp_free(&r);
    return rc;
}

/* The records of one bulk get answer, in the listing's order. */
static int emit_values(export_t *e, json_t *keys, size_t from, size_t n, json_t *values)
{
    size_t i;
    int rc = 0;
    for (i = from; rc == 0 && i < from + n; i++) {
        json_t *listed = json_array_get(keys, i), *name = json_object_get(listed, "name");
        json_t *v = json_object_getn(values, json_string_value(name), json_string_length(name));
        json_t *val = json_is_object(v) ? json_object_get(v, "value") : v;
        json_t *meta = json_is_object(v) ? json_object_get(v, "metadata")
                                         : json_object_get(listed, "metadata");
        int64_t exp = json_is_object(v) && json_object_get(v, "expiration")
                          ? int_of(v, "expiration")
                          : int_of(listed, "expiration");
        if (!v || json_is_null(v))
            e->gone++; /* deleted or expired since it was listed */
        else if (!json_is_string(val))
            rc = get_one(e, listed); /* not text as we asked: read it whole */
        else
            rc = emit(e, json_string_value(name), json_string_length(name), json_string_value(val),
                      json_string_length(val), meta, exp);
    }
    return rc;
}

/* Keys [from, from+n) of a listed page: one bulk get; a refusal (400: a
 * value that is not text; 413: more than 25 MB) splits it, down to single
 * keys read with get_one. */
static int fetch(export_t *e, json_t *keys, size_t from, size_t n)
{
    json_t *names = json_array(), *body, *doc, *res;
    char *text, *path = cli_fmt("/%s/bulk/get", e->ns_pct);
    cli_resp_t r;
    size_t i;
    int rc = CLI_EXIT_API;
    for (i = from; names && i < from + n; i++)
        json_array_append(names, json_object_get(json_array_get(keys, i), "name"));
    body = names ? json_pack("{s:o, s:s, s:b}", "keys", names, "type", "text", "withMetadata", 1)
                 : NULL;
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text && path) {
        cli_req_t rq = {.method = "POST",
                        .path = path,
                        .content_type = "application/json",
                        .body = text,
                        .body_len = strlen(text)};
        rc = cli_http(e->c, &rq, &r);
    }
    free(text);
    kv_free(path);
    if (rc != 0)
        return rc;
    if (r.status == 400 || r.status == 413) {
        cli_resp_free(&r);
        if (n == 1)
            return get_one(e, json_array_get(keys, from));
        rc = fetch(e, keys, from, n / 2);
        return rc ? rc : fetch(e, keys, from + n / 2, n - n / 2);
    }
    rc = cli_envelope(&r, &doc, &res, NULL);
    cli_resp_free(&r);
    if (rc != 0)
        return rc;
    rc = emit_values(e, keys, from, n, json_object_get(res, "values"));
    json_decref(doc);
    return rc;
}

/* ---- pages and namespaces ----------------------------------------------------------- */

/* One listed page; *next is its cursor (kv_malloc'd), NULL at the end. */
static int page(export_t *e, const char *cursor, char **next)
{
    char *cur = cursor && cursor[0] ? cli_pct(cursor, strlen(cursor)) : NULL;
    char *path = cli_fmt("/%s/keys?limit=%d%s%s", e->ns_pct, KV_LIST_MAX_KEYS,
                         cur ? "&cursor=" : "", cur ? cur : "");
    json_t *doc, *res, *info;
    size_t from, n;
    int rc = CLI_EXIT_API;
    kv_free(cur);
    *next = NULL;
    if (path) {
        cli_req_t rq = {.method = "GET", .path = path};
        rc = cli_call(e->c, &rq, &doc, &res, &info);
        kv_free(path);
    }
    if (rc != 0)
        return rc;
    n = json_array_size(res);
    for (from = 0; rc == 0 && from < n; from += KV_BULK_GET_MAX_KEYS)
        rc = fetch(e, res, from, n - from < KV_BULK_GET_MAX_KEYS ? n - from : KV_BULK_GET_MAX_KEYS);
    /* Only an empty cursor ends a listing: a page may be empty and not the
     * last (tombstones), as in wrangler. */
    const char *nc = json_string_value(json_object_get(info, "cursor"));
    if (rc == 0 && nc && nc[0] && !(*next = kv_strndup(nc, strlen(nc))))
        rc = CLI_EXIT_API;
    json_decref(doc);
    return rc;
}

/* After a page: the output on disk, then the state that points past it. */
static int checkpoint(export_t *e, size_t ns_index, const char *cursor)
{
    if (fflush(e->out) != 0) {
        fprintf(stderr, "edgekv kv: cannot write %s: %s\n", e->out_path ? e->out_path : "stdout",
                strerror(errno));
        return CLI_EXIT_API;
    }
    if (!e->out_path)
        return 0;
    if (fsync(fileno(e->out)) != 0) {
        fprintf(stderr, "edgekv kv: cannot sync %s: %s\n", e->out_path, strerror(errno));
        return CLI_EXIT_API;
    }
    json_object_set_new(e->state, "ns_index", json_integer((json_int_t)ns_index));
    json_object_set_new(e->state, "cursor", json_string(cursor ? cursor : ""));
    json_object_set_new(e->state, "keys", json_integer((json_int_t)e->m.keys));
    json_object_set_new(e->state, "offset", json_integer((json_int_t)ftello(e->out)));
    return cli_state_save(e->state_path, e->state) == 0 ? 0 : CLI_EXIT_API;
}

static int export_ns(export_t *e, size_t index, const char *cursor)
{
    json_t *ns = json_array_get(json_object_get(e->state, "namespaces"), index);
    char *cur = cursor && cursor[0] ? kv_strndup(cursor, strlen(cursor)) : NULL, *next = NULL;
    long pages = 0;
    int rc = 0;
    e->ns_id = json_string_value(json_object_get(ns, "id"));
    e->ns_title = json_string_value(json_object_get(ns, "title"));
    if (!e->ns_id || !e->ns_title) {
        fprintf(stderr, "edgekv kv: %s: namespace %zu has no id or title\n", e->state_path, index);
        kv_free(cur);
        return CLI_EXIT_USAGE;
    }
    kv_free(e->ns_pct);
    if (!(e->ns_pct = cli_pct(e->ns_id, strlen(e->ns_id))))
        rc = CLI_EXIT_API;
    do {
        if (rc == 0)
            rc = page(e, cur, &next);
        kv_free(cur);
        cur = next;
        if (rc == 0)
            rc = checkpoint(e, next ? index : index + 1, next);
    } while (rc == 0 && cur && ++pages < EXPORT_MAX_PAGES);
    kv_free(cur);
    return rc;
}

/* ---- start or resume ---------------------------------------------------------------- */

/* The namespaces to export: {id, title} of --namespace-id, or of all. */
static int namespaces(cli_t *c, json_t **out)
{
    json_t *all, *ns, *doc, *res;
    size_t i;
    int rc;
    if (c->all) {
        if ((rc = cli__ns_list_all(c, &all)) != 0)
            return rc;
        *out = json_array();
        json_array_foreach(all, i, ns)
        {
            json_array_append_new(*out, json_pack("{s:O, s:O}", "id", json_object_get(ns, "id"),
                                                  "title", json_object_get(ns, "title")));
        }
        json_decref(all);
        return 0;
    }
    char *id = cli_pct(c->ns_id, strlen(c->ns_id)), *path = id ? cli_fmt("/%s", id) : NULL;
    kv_free(id);
    if (!path)
        return CLI_EXIT_API;
    cli_req_t rq = {.method = "GET", .path = path};
    rc = cli_call(c, &rq, &doc, &res, NULL);
    kv_free(path);
    if (rc != 0)
        return rc;
    const char *title = json_string_value(json_object_get(res, "title"));
    *out = json_pack("[{s:s, s:s}]", "id", c->ns_id, "title", title ? title : "");
    json_decref(doc);
    return *out ? 0 : CLI_EXIT_API;
}

/* Opens the output at offset (cut back to it), creating it if allowed. */
static int open_out(export_t *e, long long offset, bool fresh)
{
    int fd = open(e->out_path, O_WRONLY | O_CREAT | (fresh ? O_EXCL : 0), 0644);
    if (fd < 0 || ftruncate(fd, (off_t)offset) != 0 || lseek(fd, (off_t)offset, SEEK_SET) < 0 ||
        !(e->out = fdopen(fd, "w"))) {
        fprintf(stderr, "edgekv kv: cannot open %s: %s\n", e->out_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int start(export_t *e)
{
    cli_t *c = e->c;
    struct stat st;
    json_t *nss;
    int rc;
    if (e->out_path && stat(e->out_path, &st) == 0) {
        fprintf(stderr,
                "edgekv kv: %s exists; pass --resume to continue an interrupted export into it, "
                "or choose another file\n",
                e->out_path);
        return CLI_EXIT_USAGE;
    }
    if (e->out_path && stat(e->state_path, &st) == 0) {
        fprintf(stderr,
                "edgekv kv: %s exists (the state of an interrupted export); pass --resume "
                "or remove it\n",
                e->state_path);
        return CLI_EXIT_USAGE;
    }
    if ((rc = namespaces(c, &nss)) != 0)
        return rc;
    e->state = json_pack("{s:s, s:o, s:i, s:s, s:i, s:i}", "format", EXPORT_STATE_FORMAT,
                         "namespaces", nss, "ns_index", 0, "cursor", "", "keys", 0, "offset", 0);
    if (!e->state)
        return CLI_EXIT_API;
    if (!e->out_path) {
        e->out = stdout;
        return 0;
    }
    if (cli_state_save(e->state_path, e->state) != 0)
        return CLI_EXIT_API;
    return open_out(e, 0, true);
}

static const char *str_or_empty(json_t *s)
{
    return json_is_string(s) ? json_string_value(s) : "";
}

static int resume(export_t *e)
{
    json_int_t offset;
    int rc = cli_state_load(e->state_path, &e->state);
    if (rc != 0)
        return rc;
    offset = json_integer_value(json_object_get(e->state, "offset"));
    if (strcmp(str_or_empty(json_object_get(e->state, "format")), EXPORT_STATE_FORMAT) ||
        !json_is_array(json_object_get(e->state, "namespaces")) || offset < 0) {
        fprintf(stderr, "edgekv kv: %s is not the state of an export\n", e->state_path);
        return CLI_EXIT_USAGE;
    }
    e->m.keys = (unsigned long long)json_integer_value(json_object_get(e->state, "keys"));
    e->m.bytes = (unsigned long long)offset;
    e->m.keys0 = e->m.keys;
    return open_out(e, offset, false);
}

static int check_args(const cli_t *c)
{
    if ((c->ns_id != NULL) == c->all)
        return cli_usage_error("give --namespace-id ID or --all (one of them)"), CLI_EXIT_USAGE;
    if (c->resume && !c->out)
        return cli_usage_error("--resume needs --out FILE (its FILE.state)"), CLI_EXIT_USAGE;
    if (c->ns_id && !c->ns_id[0])
        return cli_usage_error("bad --namespace-id ''"), CLI_EXIT_USAGE;
    return 0;
}

int cli_kv_export(cli_t *c)
{
    export_t e = {.c = c, .out_path = c->out};
    size_t i, n;
    int rc = check_args(c);
    if (rc != 0)
        return rc;
    cli_meter_init(&e.m, c, "exporting");
    if (c->out && !(e.state_path = cli_fmt("%s.state", c->out)))
        return CLI_EXIT_API;
    rc = c->resume ? resume(&e) : start(&e);
    n = json_array_size(json_object_get(e.state, "namespaces"));
    i = (size_t)json_integer_value(json_object_get(e.state, "ns_index"));
    if (rc == 0 && i < n)
        rc = export_ns(&e, i, json_string_value(json_object_get(e.state, "cursor")));
    for (i++; rc == 0 && i < n; i++)
        rc = export_ns(&e, i, NULL);
    if (rc == 0 && e.out_path && unlink(e.state_path) != 0)
        fprintf(stderr, "edgekv kv: warning: cannot remove %s: %s\n", e.state_path,
                strerror(errno));
    if (e.m.keys)
        cli_meter_draw(&e.m, true);
    if (rc == 0) {
        fprintf(stderr, "Exported %llu keys (%.1f MB) of %zu namespace%s to %s in %.1f s", e.m.keys,
                (double)e.m.bytes / 1e6, n, n == 1 ? "" : "s", e.out_path ? e.out_path : "stdout",
                cli_meter_elapsed(&e.m));
        if (c->resume)
            fprintf(stderr, " (resumed after %llu)", e.m.keys0);
        fputc('\n', stderr);
    } else if (e.out_path && e.out) {
        fprintf(stderr, "edgekv kv: export stopped after %llu keys; --resume continues from %s\n",
                e.m.keys, e.state_path);
    }
    if (rc == 0 && e.gone)
        fprintf(stderr,
                "edgekv kv: %llu listed keys were deleted or expired before they were read\n",
                e.gone);
    if (e.out && e.out != stdout)
        fclose(e.out);
    else if (e.out)
        fflush(stdout);
    json_decref(e.state);
    kv_free(e.state_path);
    kv_free(e.ns_pct);
    return rc;
}
