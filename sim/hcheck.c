/*
 * hcheck.c - the history checker's records: the history format (the one
 * writer hc_format and the one reader hc_parse, with jansson), loading a
 * history file, and the indexes the checks use (keys, the write of every
 * value, sessions). The checks are in hcheck_run.c; the format is described
 * in hcheck.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hcheck_int.h"

static const char *const violation_names[] = {
#define HC_X(id, name) name,
    HC_VIOLATIONS(HC_X)
#undef HC_X
};

const char *hc_violation_name(hc_violation_t v)
{
    return v < HC_V_COUNT ? violation_names[v] : "?";
}

static const char *const op_names[] = {"put", "delete", "get", "final"};
static const char *const outcome_names[] = {"ok", "fail", "unknown"};

const char *hc_op_name(hc_op_t op)
{
    return (unsigned)op < 4 ? op_names[op] : "?";
}

const char *hc_outcome_name(hc_outcome_t o)
{
    return (unsigned)o < 3 ? outcome_names[o] : "?";
}

int hc_format(const hc_record_t *r, char *buf, size_t cap)
{
    json_t *j = json_object();
    if (!j)
        return -ENOMEM;
    int bad = json_object_set_new(j, "op", json_string(hc_op_name(r->op)));
    bad |= json_object_set_new(j, "node", json_string(r->node));
    if (r->session)
        bad |= json_object_set_new(j, "session", json_string(r->session));
    bad |= json_object_set_new(j, "key", json_string(r->key));
    bad |= json_object_set_new(j, "value", r->value ? json_string(r->value) : json_null());
    if (r->has_version)
        bad |= json_object_set_new(j, "version", json_integer((json_int_t)r->version));
    bad |= json_object_set_new(j, "t0", json_integer(r->t0_us));
    bad |= json_object_set_new(j, "t1", json_integer(r->t1_us));
    bad |= json_object_set_new(j, "outcome", json_string(hc_outcome_name(r->outcome)));
    bad |= json_object_set_new(j, "code", json_integer(r->code));
    bad |= json_object_set_new(j, "stale_ms", json_integer(r->stale_ms));
    size_t n =
        bad ? 0 : json_dumpb(j, buf, cap > 0 ? cap - 1 : 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (bad)
        return -ENOMEM;
    if (n == 0 || n + 2 > cap)
        return -ENOSPC;
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return (int)n + 1;
}

static int kind_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int hc_parse(const char *line, hc_record_t *r, void **json)
{
    *json = NULL;
    json_t *j = json_loads(line, 0, NULL);
    const char *op, *outcome;
    json_int_t t0, t1, code = 0, stale = -1;
    json_t *jv = NULL, *js = NULL, *jver = NULL;
    memset(r, 0, sizeof *r);
    if (!j || json_unpack(j, "{s:s, s:s, s:s, s:I, s:I, s:s, s?o, s?o, s?o, s?I, s?I}", "op", &op,
                          "node", &r->node, "key", &r->key, "t0", &t0, "t1", &t1, "outcome",
                          &outcome, "value", &jv, "session", &js, "version", &jver, "code", &code,
                          "stale_ms", &stale) != 0) {
        json_decref(j);
        return -EINVAL;
    }
    int k = kind_of(op, op_names, 4), o = kind_of(outcome, outcome_names, 3);
    if (k < 0 || o < 0 || (jv && !json_is_string(jv) && !json_is_null(jv)) ||
        (js && !json_is_string(js) && !json_is_null(js)) || (jver && !json_is_integer(jver))) {
        json_decref(j);
        return -EINVAL;
    }
    r->op = (hc_op_t)k;
    r->outcome = (hc_outcome_t)o;
    r->value = json_string_value(jv);
    r->session = json_string_value(js);
    r->has_version = jver != NULL;
    r->version = jver ? (uint64_t)json_integer_value(jver) : 0;
    r->t0_us = t0;
    r->t1_us = t1;
    r->code = (long)code;
    r->stale_ms = (long)stale;
    *json = j;
    return 0;
}

void hc_parsed_free(void *json)
{
    json_decref(json);
}

void hc_options_default(hc_options_t *o)
{
    *o = (hc_options_t){.bound_ms = HC_DEFAULT_BOUND_MS,
                        .slack_ms = HC_DEFAULT_SLACK_MS,
                        .origin = "origin",
                        .max_report = HC_DEFAULT_MAX_REPORT};
}

int hc__grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * sz);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

hc_t *hc_new(const hc_options_t *opt)
{
    hc_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->opt = *opt;
    h->key_index = json_object();
    h->value_index = json_object();
    h->session_index = json_object();
    if (!h->key_index || !h->value_index || !h->session_index) {
        hc_free(h);
        return NULL;
    }
    return h;
}

static void op_free(hc_opx_t *o)
{
    if (!o)
        return;
    free((char *)o->r.node);
    free((char *)o->r.session);
    free((char *)o->r.value);
    free(o->text);
    free(o);
}

void hc_free(hc_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nkeys; i++) {
        hc_key_t *k = &h->keys[i];
        for (size_t j = 0; j < k->nw; j++)
            op_free(k->w[j].op);
        for (size_t j = 0; j < k->nr; j++)
            op_free(k->r[j]);
        free(k->w);
        free(k->r);
        free(k->obs);
        free(k->name);
    }
    for (size_t i = 0; i < h->nsessions; i++)
        free(h->sessions[i].ops);
    free(h->sessions);
    free(h->keys);
    json_decref(h->key_index);
    json_decref(h->value_index);
    json_decref(h->session_index);
    free(h);
}

/* The index of key name, numbering it (with its start) when new; -1 on
 * allocation failure. */
static long key_of(hc_t *h, const char *name)
{
    json_t *i = json_object_get(h->key_index, name);
    if (i)
        return (long)json_integer_value(i);
    if (hc__grow((void **)&h->keys, &h->capkeys, h->nkeys, sizeof *h->keys) != 0)
        return -1;
    hc_key_t *k = &h->keys[h->nkeys];
    *k = (hc_key_t){.name = strdup(name), .obs_session = -1};
    if (!k->name || hc__grow((void **)&k->w, &k->capw, 0, sizeof *k->w) != 0 ||
        json_object_set_new(h->key_index, name, json_integer((json_int_t)h->nkeys)) != 0) {
        free(k->name);
        free(k->w);
        return -1;
    }
    k->w[k->nw++] = (hc_write_t){
        .t0 = HC_T_START, .t1 = HC_T_START, .acked = true, .absent = true, .has_version = true};
    return (long)h->nkeys++;
}

static int32_t session_of(hc_t *h, const char *name)
{
    json_t *i = json_object_get(h->session_index, name);
    if (i)
        return (int32_t)json_integer_value(i);
    if (hc__grow((void **)&h->sessions, &h->capsessions, h->nsessions, sizeof *h->sessions) != 0)
        return -1;
    if (json_object_set_new(h->session_index, name, json_integer((json_int_t)h->nsessions)) != 0)
        return -1;
    h->sessions[h->nsessions] = (hc_session_t){0};
    return (int32_t)h->nsessions++;
}

hc_write_t *hc__value_write(const hc_t *h, const hc_key_t *k, const char *value)
{
    json_t *p = json_object_get(h->value_index, value);
    if (!p)
        return NULL;
    json_int_t packed = json_integer_value(p);
    if ((size_t)(packed >> 32) != (size_t)(k - h->keys))
        return NULL; /* another key's value */
    return &k->w[packed & 0xffffffff];
}

static hc_opx_t *op_copy(const hc_record_t *r, const char *text)
{
    hc_opx_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->r = *r;
    o->r.node = strdup(r->node);
    o->r.session = r->session ? strdup(r->session) : NULL;
    o->r.value = r->value ? strdup(r->value) : NULL;
    if (text) {
        size_t len = strlen(text);
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        o->text = strndup(text, len);
    } else {
        char line[HC_LINE_MAX];
        int n = hc_format(r, line, sizeof line);
        o->text = n > 0 ? strndup(line, (size_t)n - 1) : strdup("(a record too long to print)");
    }
    if (!o->r.node || (r->session && !o->r.session) || (r->value && !o->r.value) || !o->text) {
        op_free(o);
        return NULL;
    }
    return o;
}

static void count(hc_stats_t *st, const hc_record_t *r)
{
    st->ops++;
    bool ok = r->outcome == HC_OUT_OK, fail = r->outcome == HC_OUT_FAIL;
    switch (r->op) {
    case HC_OP_PUT:
        ok ? st->put_ok++ : fail ? st->put_fail++ : st->put_unknown++;
        break;
    case HC_OP_DELETE:
        ok ? st->del_ok++ : fail ? st->del_fail++ : st->del_unknown++;
        break;
    case HC_OP_GET:
        st->reads++;
        if (!ok)
            st->reads_failed++;
        else if (r->stale_ms >= 0)
            st->reads_stale++;
        if (r->session)
            st->reads_in_session++;
        break;
    case HC_OP_FINAL:
        st->finals++;
        st->finals_failed += !ok;
        break;
    }
}

static int add_write(hc_t *h, hc_key_t *k, hc_opx_t *o)
{
    const hc_record_t *r = &o->r;
    if (hc__grow((void **)&k->w, &k->capw, k->nw, sizeof *k->w) != 0)
        return -ENOMEM;
    if (r->op == HC_OP_PUT) {
        json_int_t packed = (json_int_t)((uint64_t)(k - h->keys) << 32 | k->nw);
        if (json_object_set_new(h->value_index, r->value, json_integer(packed)) != 0)
            return -ENOMEM;
    }
    o->write = (uint32_t)k->nw;
    k->w[k->nw++] = (hc_write_t){.op = o,
                                 .t0 = r->t0_us,
                                 .t1 = r->outcome == HC_OUT_OK ? r->t1_us : HC_T_NEVER,
                                 .acked = r->outcome == HC_OUT_OK,
                                 .failed = r->outcome == HC_OUT_FAIL,
                                 .absent = r->op == HC_OP_DELETE,
                                 .has_version = r->has_version,
                                 .version = r->version};
    return 0;
}

int hc_add(hc_t *h, const hc_record_t *r, const char *text)
{
    if (!r->node || !r->key || (r->op == HC_OP_PUT && !r->value))
        return -EINVAL;
    if (r->op == HC_OP_PUT && json_object_get(h->value_index, r->value))
        return -EINVAL; /* values name writes */
    long ki = key_of(h, r->key);
    if (ki < 0)
        return -ENOMEM;
    int32_t si = r->session ? session_of(h, r->session) : -1;
    if (r->session && si < 0)
        return -ENOMEM;
    hc_key_t *k = &h->keys[ki];
    hc_opx_t *o = op_copy(r, text);
    if (!o)
        return -ENOMEM;
    o->r.key = k->name;
    o->key = (uint32_t)ki;
    o->session = si;
    if (o->r.op == HC_OP_DELETE) {
        free((char *)o->r.value);
        o->r.value = NULL;
    }
    int rc;
    if (r->op == HC_OP_PUT || r->op == HC_OP_DELETE)
        rc = add_write(h, k, o);
    else if ((rc = hc__grow((void **)&k->r, &k->capr, k->nr, sizeof *k->r)) == 0)
        k->r[k->nr++] = o;
    if (rc != 0) {
        op_free(o); /* not filed */
        return rc;
    }
    if (si >= 0) {
        hc_session_t *s = &h->sessions[si];
        if (hc__grow((void **)&s->ops, &s->cap, s->n, sizeof *s->ops) != 0)
            return -ENOMEM; /* o is filed: hc_free frees it */
        s->ops[s->n++] = o;
    }
    count(&h->st, &o->r);
    return 0;
}

int hc_load(hc_t *h, const char *path, FILE *diag)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        hc_record_t r;
        void *json = NULL;
        if (len > HC_LINE_MAX || hc_parse(line, &r, &json) != 0) {
            /* A line cut short by a kill of the client is its last line. */
            fprintf(diag, "edgekv-check: %s:%d: not a history line, skipped: %.80s\n", path, lineno,
                    line);
            continue;
        }
        rc = hc_add(h, &r, line);
        if (rc == -EINVAL)
            fprintf(diag, "edgekv-check: %s:%d: %s\n", path, lineno,
                    r.op == HC_OP_PUT && r.value ? "a value written twice (values name writes)"
                                                 : "a put without a value");
        hc_parsed_free(json);
    }
    free(line);
    fclose(f);
    return rc;
}

const hc_stats_t *hc_stats(const hc_t *h)
{
    return &h->st;
}
