/*
 * cli_import.c - `edgekv kv import`: the JSON lines of `export` (format in
 * cli_line.c) written back with bulk puts, through the public REST API.
 *
 * Where a record goes: --namespace-id ID puts every record there; --by-title
 * puts each into the namespace of the target whose title is the record's
 * namespace_title, creating those that are missing (ids differ between
 * accounts and servers, titles are what a person chose).
 *
 * A batch is one namespace's consecutive records, at most
 * CLI_BULK_BATCH_ITEMS and a body under KV_BULK_BODY_MAX_BYTES. Metadata
 * and the absolute expiration travel as they were; a record that has
 * expired, or expires sooner than the API accepts (KV_EXPIRATION_MIN_TTL_S
 * plus IMPORT_EXPIRY_MARGIN_S), is skipped and counted.
 *
 * A file is validated whole before the first request (as `bulk put` does),
 * so a malformed line changes nothing; stdin ("-") is read once and stops
 * at the first bad line. Resumable: after each acknowledged batch
 * FILE.import-state holds the byte offset and line number after it;
 * --resume continues there. A batch acknowledged but not yet recorded is
 * written again, which leaves the same keys (a bulk put is idempotent).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* Seconds beyond the API's minimum expiration lead that a record must still
 * have: the server checks against its own clock when the batch arrives,
 * which may be a little ahead of ours or a few seconds later. */
#define IMPORT_EXPIRY_MARGIN_S 10
/* The state file's format tag. */
#define IMPORT_STATE_FORMAT "edgekv-import-state-1"
/* Errors listed by the validation pass before giving up (as bulk put). */
#define IMPORT_MAX_ERRORS 12

_Static_assert(CLI_BULK_BATCH_ITEMS <= KV_BULK_WRITE_MAX_ITEMS, "a batch the API accepts");

typedef struct {
    cli_t *c;
    const char *path;
    FILE *in;
    char *state_path;   /* NULL for stdin */
    const char *target; /* --namespace-id, or "" for --by-title (kept in the state) */
    json_t *titles;     /* --by-title: title -> id of the target's namespaces */
    /* the batch being built */
    char *body;
    size_t len, cap, items;
    char *batch_ns; /* kv_malloc'd id of the batch's namespace */
    /* what is done; the state saved after each batch */
    unsigned long long line, saved_line; /* lines consumed; as of the last state saved */
    long long offset;
    unsigned long long written, expired;
    json_t *failed;  /* unsuccessful_keys of every batch */
    json_t *created; /* titles created (--by-title) */
    json_t *touched; /* ids written to, for the summary */
    cli_meter_t m;
    bool started; /* the first state was saved: a failure can be resumed */
} import_t;

static int save_state(import_t *im)
{
    json_t *s;
    int rc;
    if (!im->state_path)
        return 0;
    s = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "format", IMPORT_STATE_FORMAT, "target",
                  im->target, "line", (json_int_t)im->line, "offset", (json_int_t)im->offset,
                  "written", (json_int_t)im->written, "expired", (json_int_t)im->expired);
    rc = s && cli_state_save(im->state_path, s) == 0 ? 0 : CLI_EXIT_API;
    json_decref(s);
    if (rc == 0)
        im->saved_line = im->line;
    return rc;
}

/* Sends the batch (if any), then records the position after it. */
static int flush(import_t *im)
{
    json_t *doc, *res, *cnt;
    char *ns, *path;
    int rc = CLI_EXIT_API;
    if (im->items == 0)
        return save_state(im);
    im->body[im->len++] = ']';
    ns = cli_pct(im->batch_ns, strlen(im->batch_ns));
    path = ns ? cli_fmt("/%s/bulk", ns) : NULL;
    kv_free(ns);
    if (path) {
        cli_req_t rq = {.method = "PUT",
                        .path = path,
                        .content_type = "application/json",
                        .body = im->body,
                        .body_len = im->len};
        rc = cli_call(im->c, &rq, &doc, &res, NULL);
        kv_free(path);
    }
    if (rc != 0)
        return rc;
    cnt = json_object_get(res, "successful_key_count");
    im->written += json_is_integer(cnt) ? (unsigned long long)json_integer_value(cnt) : im->items;
    json_array_extend(im->failed, json_object_get(res, "unsuccessful_keys"));
    json_decref(doc);
    im->m.keys += im->items;
    im->m.bytes += im->len;
    im->items = 0;
    im->len = 0;
    cli_meter_draw(&im->m, false);
    return save_state(im);
}

/* The bulk put item of a record: {key, value, base64?, metadata?, expiration?}.
 * Text with a NUL byte goes in base64 too: "\u0000" is valid JSON, but a
 * parser that keeps C strings (jansson by default, edgekv's own bulk put
 * among them) refuses it, and base64 is exact everywhere. */
static char *item_of(const cli_rec_t *r, size_t *len)
{
    json_t *o = json_object(), *v;
    char *s = NULL, *enc = NULL;
    bool b64 = r->binary || memchr(r->value, 0, r->value_len) != NULL;
    if (r->binary)
        v = json_stringn(r->value_b64, r->value_b64_len);
    else if (b64)
        v = (enc = cli_b64_encode(r->value, r->value_len)) ? json_string(enc) : NULL;
    else
        v = json_stringn((const char *)r->value, r->value_len);
    kv_free(enc);
    if (o && v && !json_object_set_new(o, "key", json_stringn(r->key, r->key_len)) &&
        !json_object_set_new(o, "value", v) &&
        (!b64 || !json_object_set_new(o, "base64", json_true())) &&
        (!r->metadata || !json_object_set(o, "metadata", r->metadata)) &&
        (!r->expiration ||
         !json_object_set_new(o, "expiration", json_integer((json_int_t)r->expiration))))
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static int append(import_t *im, const char *ns, const char *item, size_t n)
{
    bool other_ns = im->items && strcmp(ns, im->batch_ns) != 0;
    int rc;
    /* "[" + items + "," each + "]" must stay under the body limit. */
    if (other_ns || im->items == CLI_BULK_BATCH_ITEMS ||
        (im->items && im->len + n + 2 > KV_BULK_BODY_MAX_BYTES))
        if ((rc = flush(im)) != 0)
            return rc;
    if (im->len + n + 2 > im->cap) {
        size_t cap = im->cap ? im->cap : 64 * 1024;
        char *b;
        while (cap < im->len + n + 2)
            cap *= 2;
        if (!(b = kv_realloc(im->body, cap)))
            return CLI_EXIT_API;
        im->body = b, im->cap = cap;
    }
    if (im->items == 0) {
        kv_free(im->batch_ns);
        if (!(im->batch_ns = kv_strndup(ns, strlen(ns))))
            return CLI_EXIT_API;
    }
    im->body[im->len++] = im->items ? ',' : '[';
    memcpy(im->body + im->len, item, n);
    im->len += n;
    im->items++;
    return 0;
}

/* --by-title: the account's namespaces, title -> id, into im->titles. */
static int load_titles(import_t *im)
{
    json_t *all, *ns;
    size_t i;
    int rc = cli__ns_list_all(im->c, &all);
    if (rc != 0)
        return rc;
    json_array_foreach(all, i, ns)
    {
        json_t *t = json_object_get(ns, "title");
        if (json_is_string(t))
            json_object_set(im->titles, json_string_value(t), json_object_get(ns, "id"));
    }
    json_decref(all);
    return 0;
}

/* The target namespace of a record; --by-title creates a missing one. A
 * create refused because the title exists now (an interrupted import's
 * last request may still land after its --resume listed the titles) takes
 * the namespace that has it. */
static int target_of(import_t *im, const cli_rec_t *r, const char **id)
{
    json_t *known;
    char *made;
    int rc;
    if (!im->c->by_title) {
        *id = im->c->ns_id;
        return 0;
    }
    if ((known = json_object_get(im->titles, r->ns_title))) {
        *id = json_string_value(known);
        return 0;
    }
    if ((rc = cli__ns_create(im->c, r->ns_title, &made)) != 0) {
        if (rc != CLI_EXIT_API || load_titles(im) != 0 ||
            !(known = json_object_get(im->titles, r->ns_title)))
            return rc;
        fprintf(stderr,
                "edgekv kv: namespace \"%s\" exists after all (created meanwhile): "
                "importing into it\n",
                r->ns_title);
        *id = json_string_value(known);
        return 0;
    }
    json_object_set_new(im->titles, r->ns_title, json_string(made));
    json_array_append_new(im->created, json_string(r->ns_title));
    kv_free(made);
    *id = json_string_value(json_object_get(im->titles, r->ns_title));
    return 0;
}

/* A decoded record: skipped if expired, else added to the batch. */
static int take(import_t *im, const cli_rec_t *r)
{
    const char *ns;
    char *item;
    size_t n;
    int rc;
    if (r->expiration &&
        r->expiration < (int64_t)time(NULL) + KV_EXPIRATION_MIN_TTL_S + IMPORT_EXPIRY_MARGIN_S) {
        im->expired++;
        return 0;
    }
    if ((rc = target_of(im, r, &ns)) != 0)
        return rc;
    if (!json_object_get(im->touched, ns))
        json_object_set_new(im->touched, ns, json_true());
    if (!(item = item_of(r, &n)))
        return CLI_EXIT_API;
    rc = append(im, ns, item, n);
    free(item);
    return rc;
}

/* A line's own checks beyond the format: --by-title needs a title. */
static int check_rec(const import_t *im, const cli_rec_t *r, size_t lineno, char *err, size_t cap)
{
    if (im->c->by_title && (!r->ns_title || !r->ns_title[0])) {
        snprintf(err, cap, "line %zu: no \"namespace_title\" (--by-title needs one)", lineno);
        return -1;
    }
    return 0;
}

/* Reads the lines from the current position; with `send` false only
 * checks them (every error listed, up to IMPORT_MAX_ERRORS). */
static int pass(import_t *im, bool send)
{
    char *line = NULL, err[256];
    size_t cap = 0, lineno = im->line;
    ssize_t n;
    int rc = 0, nerr = 0;
    while (rc == 0 && (n = getline(&line, &cap, im->in)) > 0) {
        cli_rec_t r;
        size_t len = (size_t)n;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        bool blank = len == 0;
        if (!blank &&
            (cli_rec_decode(line, len, lineno, &r, err, sizeof err) != 0 ||
             (check_rec(im, &r, lineno, err, sizeof err) != 0 && (cli_rec_free(&r), 1)))) {
            if (++nerr <= IMPORT_MAX_ERRORS)
                fprintf(stderr, "edgekv kv: %s: %s\n", im->path, err);
            if (send)
                rc = CLI_EXIT_USAGE;
            continue;
        }
        if (!blank && send)
            rc = take(im, &r);
        if (!blank)
            cli_rec_free(&r);
        if (send && rc == 0) { /* consumed: in the batch, skipped, or blank */
            im->line = lineno;
            im->offset += n;
        }
    }
    free(line);
    if (rc == 0 && ferror(im->in)) {
        fprintf(stderr, "edgekv kv: cannot read %s: %s\n", im->path, strerror(errno));
        rc = CLI_EXIT_USAGE;
    }
    if (rc == 0 && nerr)
        rc = CLI_EXIT_USAGE;
    if (nerr)
        fprintf(stderr, "edgekv kv: %s: %d bad line%s; %s\n", im->path, nerr, nerr == 1 ? "" : "s",
                send ? "stopped there" : "nothing was written");
    return rc;
}

/* --resume: the position and counts of FILE.import-state. */
static int resume(import_t *im)
{
    json_t *s;
    int rc = cli_state_load(im->state_path, &s);
    if (rc != 0)
        return rc;
    const char *fmt = json_string_value(json_object_get(s, "format"));
    const char *target = json_string_value(json_object_get(s, "target"));
    im->offset = (long long)json_integer_value(json_object_get(s, "offset"));
    im->line = (unsigned long long)json_integer_value(json_object_get(s, "line"));
    im->written = (unsigned long long)json_integer_value(json_object_get(s, "written"));
    im->expired = (unsigned long long)json_integer_value(json_object_get(s, "expired"));
    if (!fmt || strcmp(fmt, IMPORT_STATE_FORMAT) != 0 || !target || im->offset < 0) {
        fprintf(stderr, "edgekv kv: %s is not the state of an import\n", im->state_path);
        rc = CLI_EXIT_USAGE;
    } else if (strcmp(target, im->target) != 0) {
        fprintf(stderr, "edgekv kv: %s is of an import %s%s; resume it the same way\n",
                im->state_path, target[0] ? "into --namespace-id " : "with --by-title", target);
        rc = CLI_EXIT_USAGE;
    } else if (fseeko(im->in, (off_t)im->offset, SEEK_SET) != 0) {
        fprintf(stderr, "edgekv kv: cannot seek in %s: %s\n", im->path, strerror(errno));
        rc = CLI_EXIT_USAGE;
    }
    im->m.keys = im->m.keys0 = im->written;
    json_decref(s);
    return rc;
}

static int open_input(import_t *im)
{
    struct stat st;
    cli_t *c = im->c;
    if ((c->ns_id != NULL) == c->by_title)
        return cli_usage_error("give --namespace-id ID or --by-title (one of them)"),
               CLI_EXIT_USAGE;
    if (c->ns_id && !c->ns_id[0])
        return cli_usage_error("bad --namespace-id ''"), CLI_EXIT_USAGE;
    im->target = c->ns_id ? c->ns_id : "";
    if (strcmp(im->path, "-") == 0) {
        if (c->resume)
            return cli_usage_error("--resume needs a file, not stdin"), CLI_EXIT_USAGE;
        im->in = stdin;
        return 0;
    }
    if (!(im->state_path = cli_fmt("%s.import-state", im->path)))
        return CLI_EXIT_API;
    if (!c->resume && stat(im->state_path, &st) == 0) {
        fprintf(stderr,
                "edgekv kv: %s exists (an interrupted import); pass --resume or remove it\n",
                im->state_path);
        return CLI_EXIT_USAGE;
    }
    if (!(im->in = fopen(im->path, "rb"))) {
        fprintf(stderr, "edgekv kv: cannot open %s: %s\n", im->path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return c->resume ? resume(im) : 0;
}

static int run_import(import_t *im)
{
    int rc = open_input(im);
    if (rc == 0 && im->in != stdin) { /* validate whole first: a bad line changes nothing */
        rc = pass(im, false);
        if (rc == 0 && fseeko(im->in, (off_t)im->offset, SEEK_SET) != 0)
            rc = CLI_EXIT_USAGE;
    }
    if (rc == 0 && im->c->by_title)
        rc = load_titles(im);
    if (rc == 0 && (rc = save_state(im)) == 0) /* from here on, --resume has a place to start */
        im->started = im->state_path != NULL;
    if (rc == 0)
        rc = pass(im, true);
    if (rc == 0)
        rc = flush(im);
    return rc;
}

static void summary(import_t *im)
{
    size_t i;
    json_t *k;
    if (im->c->json) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:O, s:O}", "written", (json_int_t)im->written,
                              "expired_skipped", (json_int_t)im->expired, "namespaces",
                              (json_int_t)json_object_size(im->touched), "created_namespaces",
                              im->created, "unsuccessful_keys", im->failed);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Imported %llu keys into %zu namespace%s from %s in %.1f s", im->written,
               json_object_size(im->touched), json_object_size(im->touched) == 1 ? "" : "s",
               im->path, cli_meter_elapsed(&im->m));
        if (json_array_size(im->created))
            printf(" (%zu created)", json_array_size(im->created));
        printf("; skipped %llu expired\n", im->expired);
    }
    json_array_foreach(im->failed, i, k)
    {
        fprintf(stderr, "edgekv kv: not written: %s\n", json_string_value(k));
    }
}

int cli_kv_import(cli_t *c)
{
    import_t im = {.c = c, .path = c->pos[0]};
    int rc;
    cli_meter_init(&im.m, c, "importing");
    im.failed = json_array(), im.titles = json_object(), im.created = json_array();
    im.touched = json_object();
    rc = im.failed && im.titles && im.created && im.touched ? run_import(&im) : CLI_EXIT_API;
    if (im.m.keys > im.m.keys0)
        cli_meter_draw(&im.m, true);
    if (rc == 0) {
        if (im.state_path && unlink(im.state_path) != 0 && errno != ENOENT)
            fprintf(stderr, "edgekv kv: warning: cannot remove %s: %s\n", im.state_path,
                    strerror(errno));
        summary(&im);
        rc = json_array_size(im.failed) ? CLI_EXIT_API : 0;
    } else if (im.started) {
        fprintf(stderr,
                "edgekv kv: import stopped; the lines up to %llu are in (%llu keys written); "
                "--resume continues from %s\n",
                im.saved_line, im.written, im.state_path);
    }
    if (im.in && im.in != stdin)
        fclose(im.in);
    json_decref(im.failed);
    json_decref(im.titles);
    json_decref(im.created);
    json_decref(im.touched);
    kv_free(im.body);
    kv_free(im.batch_ns);
    kv_free(im.state_path);
    return rc;
}
