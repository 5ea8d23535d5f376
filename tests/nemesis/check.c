/* check.c - the nemesis checker: judges a workload ledger (the JSON lines
 * tests/nemesis/client.c writes) against what a key-value register that
 * loses nothing may return.
 *
 * Per key, every write is a put of a unique value or a delete; the key
 * starts absent. A write with outcome "ok" is acknowledged; "unknown" may
 * have happened at any time after its invoke (its completion is taken as
 * never); "fail" never happened. Write W is overwritten by time t when an
 * acknowledged write W2 started after W completed (W.t1 < W2.t0: every
 * correct order puts W2 after W) and W2 completed before t. A returned
 * value (absent: the start or a delete) is allowed at time t when some write
 * that returns it was invoked before the read completed and is not
 * overwritten by t. Checks:
 *   final      every node's final value of every key is allowed at the end
 *              (no acknowledged write lost, no deleted key resurrected),
 *              and every node returns the same value (no divergence);
 *   origin     a read at the origin is allowed at its invoke time
 *              (linearizable);
 *   edge       a read at an edge that is not marked stale
 *              (X-EdgeKV-Stale-Ms) is allowed at its invoke time minus the
 *              propagation bound and a slack; a marked one only returns a
 *              value some write could have produced by then;
 *   phantom    no read returns a value no write (or only a failed write)
 *              wrote.
 * On a violation it prints the ledger lines that make the counterexample
 * (the read or final, the write it returned, the write that overwrote it)
 * and exits 1.
 *
 * What it is not: it does not compare digests (tests/nemesis/run.sh does),
 * and it does not check read-your-writes at an edge.
 *
 * Usage: nemesis_check [--bound-ms B] [--slack-ms S] [--origin NAME]
 *                      [--max-report N] [--allow-stale-reads] LEDGER...
 * --allow-stale-reads still counts and prints stale-read violations but
 * does not fail on them alone. */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_NEVER      INT64_MAX
#define T_START      INT64_MIN
#define LINE_MAX_LEN 4096

typedef enum { OP_PUT, OP_DELETE, OP_GET, OP_FINAL } op_kind_t;
typedef enum { OUT_OK, OUT_FAIL, OUT_UNKNOWN } outcome_t;

typedef struct {
    op_kind_t kind;
    outcome_t outcome;
    char *node, *value; /* value: NULL for absent / a delete */
    int64_t t0, t1;
    long stale_ms;
    char *text; /* the ledger line, for counterexamples */
} op_t;

typedef struct {
    op_t *op;       /* NULL: the key's start (absent) */
    int64_t t0, t1; /* t1: T_NEVER unless acknowledged */
    bool acked, failed, absent;
    int64_t death; /* when it is overwritten (T_NEVER: never) */
    op_t *killer;  /* the write that overwrote it */
} wr_t;

typedef struct {
    char *name;
    wr_t *w;
    size_t nw, capw;
    op_t **r; /* reads and finals */
    size_t nr, capr;
} key_t_;

static key_t_ *keys;
static size_t nkeys, capkeys;
static json_t *key_index;   /* key name -> index */
static json_t *value_index; /* value -> "key index:write index" packed as integer */
static const char *origin_name = "origin";
static int64_t bound_us = 1000 * 1000, slack_us = 1000 * 1000;
static int max_report = 5;
static bool allow_stale_reads;

static struct {
    uint64_t ops, put_ok, put_unknown, put_fail, del_ok, del_unknown, del_fail, reads, reads_stale,
        reads_failed, finals, finals_failed;
} st;
static struct {
    uint64_t lost, resurrected, diverged, origin_read, edge_read, phantom, future, final_missing;
} bad;
static int reported;

static void *grow(void *p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 16;
    void *q = realloc(p, *cap * sz);
    if (!q) {
        fprintf(stderr, "nemesis_check: out of memory\n");
        exit(2);
    }
    return q;
}

static key_t_ *key_of(const char *name)
{
    json_t *i = json_object_get(key_index, name);
    if (i)
        return &keys[json_integer_value(i)];
    keys = grow(keys, &capkeys, nkeys, sizeof *keys);
    key_t_ *k = &keys[nkeys];
    memset(k, 0, sizeof *k);
    k->name = strdup(name);
    json_object_set_new(key_index, name, json_integer((json_int_t)nkeys));
    nkeys++;
    /* The start: absent, before everything. */
    k->w = grow(k->w, &k->capw, k->nw, sizeof *k->w);
    k->w[k->nw++] = (wr_t){.t0 = T_START, .t1 = T_START, .acked = true, .absent = true};
    return k;
}

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[LINE_MAX_LEN];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (!len)
            continue;
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        const char *op, *node, *key, *outcome, *value = NULL;
        json_int_t t0, t1, stale = -1;
        json_t *jv = NULL;
        if (!j || json_unpack(j, "{s:s, s:s, s:s, s:I, s:I, s:s, s?o, s?I}", "op", &op, "node",
                              &node, "key", &key, "t0", &t0, "t1", &t1, "outcome", &outcome,
                              "value", &jv, "stale_ms", &stale) != 0) {
            /* A line cut short by a kill of the client is its last line. */
            fprintf(stderr, "nemesis_check: %s:%d: not a ledger line, skipped: %.80s\n", path,
                    lineno, line);
            json_decref(j);
            continue;
        }
        if (json_is_string(jv))
            value = json_string_value(jv);
        op_t *o = calloc(1, sizeof *o);
        o->kind = strcmp(op, "put") == 0      ? OP_PUT
                  : strcmp(op, "delete") == 0 ? OP_DELETE
                  : strcmp(op, "final") == 0  ? OP_FINAL
                                              : OP_GET;
        o->outcome = strcmp(outcome, "ok") == 0     ? OUT_OK
                     : strcmp(outcome, "fail") == 0 ? OUT_FAIL
                                                    : OUT_UNKNOWN;
        o->node = strdup(node);
        o->value = value ? strdup(value) : NULL;
        o->t0 = t0;
        o->t1 = t1;
        o->stale_ms = (long)stale;
        o->text = strdup(line);
        key_t_ *k = key_of(key);
        st.ops++;
        if (o->kind == OP_PUT || o->kind == OP_DELETE) {
            bool put = o->kind == OP_PUT;
            if (o->outcome == OUT_OK)
                put ? st.put_ok++ : st.del_ok++;
            else if (o->outcome == OUT_FAIL)
                put ? st.put_fail++ : st.del_fail++;
            else
                put ? st.put_unknown++ : st.del_unknown++;
            if (put && !o->value) {
                fprintf(stderr, "nemesis_check: %s:%d: a put without a value\n", path, lineno);
                json_decref(j);
                fclose(f);
                return -1;
            }
            k->w = grow(k->w, &k->capw, k->nw, sizeof *k->w);
            k->w[k->nw] = (wr_t){.op = o,
                                 .t0 = o->t0,
                                 .t1 = o->outcome == OUT_OK ? o->t1 : T_NEVER,
                                 .acked = o->outcome == OUT_OK,
                                 .failed = o->outcome == OUT_FAIL,
                                 .absent = !put};
            if (put) {
                if (json_object_get(value_index, o->value)) {
                    fprintf(stderr, "nemesis_check: %s:%d: value %s written twice\n", path, lineno,
                            o->value);
                    json_decref(j);
                    fclose(f);
                    return -1;
                }
                json_int_t packed = (json_int_t)((k - keys) * (1LL << 32) + (long long)k->nw);
                json_object_set_new(value_index, o->value, json_integer(packed));
            }
            k->nw++;
        } else {
            if (o->kind == OP_GET) {
                st.reads++;
                if (o->outcome != OUT_OK)
                    st.reads_failed++;
                else if (o->stale_ms >= 0)
                    st.reads_stale++;
            } else {
                st.finals++;
                if (o->outcome != OUT_OK)
                    st.finals_failed++;
            }
            k->r = grow(k->r, &k->capr, k->nr, sizeof *k->r);
            k->r[k->nr++] = o;
        }
        json_decref(j);
    }
    fclose(f);
    return 0;
}

static int cmp_t0(const void *a, const void *b)
{
    const wr_t *x = *(wr_t *const *)a, *y = *(wr_t *const *)b;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/* Each write's death: the earliest completion among the acknowledged writes
 * that started after it completed. */
static void deaths(key_t_ *k)
{
    wr_t **acked = calloc(k->nw, sizeof *acked);
    int64_t *sufmin = calloc(k->nw + 1, sizeof *sufmin);
    size_t *sufarg = calloc(k->nw + 1, sizeof *sufarg);
    size_t na = 0;
    for (size_t i = 0; i < k->nw; i++)
        if (k->w[i].acked && k->w[i].op)
            acked[na++] = &k->w[i];
    qsort(acked, na, sizeof *acked, cmp_t0);
    sufmin[na] = T_NEVER;
    for (size_t i = na; i-- > 0;) {
        bool take = acked[i]->t1 <= sufmin[i + 1];
        sufmin[i] = take ? acked[i]->t1 : sufmin[i + 1];
        sufarg[i] = take ? i : sufarg[i + 1];
    }
    for (size_t i = 0; i < k->nw; i++) {
        wr_t *w = &k->w[i];
        w->death = T_NEVER;
        w->killer = NULL;
        if (w->t1 == T_NEVER)
            continue;
        size_t lo = 0, hi = na; /* first acked with t0 > w->t1 */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (acked[mid]->t0 > w->t1)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo < na) {
            w->death = sufmin[lo];
            w->killer = acked[sufarg[lo]]->op;
        }
    }
    free(acked);
    free(sufmin);
    free(sufarg);
}

static void print_op(const char *what, const op_t *o)
{
    printf("    %-10s %s\n", what, o ? o->text : "(the key's start: absent)");
}

/* The writes that could have produced o's value; the best one (latest
 * death) in *best. Returns false for a value no write wrote. */
static bool best_source(key_t_ *k, const op_t *o, int64_t before, wr_t **best, bool *future,
                        bool *only_failed)
{
    *best = NULL;
    *future = false;
    *only_failed = false;
    if (o->value) {
        json_t *p = json_object_get(value_index, o->value);
        if (!p)
            return false;
        json_int_t packed = json_integer_value(p);
        if ((size_t)(packed >> 32) != (size_t)(k - keys))
            return false; /* another key's value */
        wr_t *w = &k->w[packed & 0xffffffff];
        if (w->failed) {
            *only_failed = true;
            return false;
        }
        if (w->t0 > before) {
            *future = true;
            return false;
        }
        *best = w;
        return true;
    }
    for (size_t i = 0; i < k->nw; i++) {
        wr_t *w = &k->w[i];
        if (!w->absent || w->failed || w->t0 > before)
            continue;
        if (!*best || w->death > (*best)->death)
            *best = w;
    }
    return *best != NULL;
}

/* Counts a violation and prints it while fewer than max_report were; returns
 * whether it was printed. */
static bool violation(uint64_t *counter, const char *kind, key_t_ *k, const op_t *o, wr_t *src,
                      const char *why)
{
    (*counter)++;
    if (reported >= max_report)
        return false;
    reported++;
    printf("VIOLATION %s on key %s: %s\n", kind, k->name, why);
    print_op(o->kind == OP_FINAL ? "final" : "read", o);
    if (src) {
        print_op("returned", src->op);
        if (src->killer)
            print_op("overwrote", src->killer);
    }
    return true;
}

static void check_key(key_t_ *k)
{
    deaths(k);
    const op_t *first_final = NULL;
    for (size_t i = 0; i < k->nr; i++) {
        op_t *o = k->r[i];
        if (o->outcome != OUT_OK) {
            if (o->kind == OP_FINAL)
                violation(&bad.final_missing, "final-read-failed", k, o, NULL,
                          "a final read got no answer");
            continue;
        }
        wr_t *src;
        bool future, only_failed;
        bool edge = strcmp(o->node, origin_name) != 0;
        if (!best_source(k, o, o->t1, &src, &future, &only_failed)) {
            violation(future ? &bad.future : &bad.phantom, future ? "future" : "phantom", k, o,
                      NULL,
                      future        ? "returned a value written only after the read completed"
                      : only_failed ? "returned the value of a write that failed"
                                    : "returned a value no write of this key wrote");
            continue;
        }
        if (o->kind == OP_FINAL) {
            if (first_final && ((first_final->value == NULL) != (o->value == NULL) ||
                                (o->value && strcmp(first_final->value, o->value) != 0))) {
                if (violation(&bad.diverged, "diverged", k, o, NULL,
                              "nodes end with different values"))
                    print_op("other", first_final);
            }
            if (!first_final)
                first_final = o;
            if (src->death != T_NEVER) {
                bool del = src->killer && !src->absent && src->killer->kind == OP_DELETE;
                violation(del ? &bad.resurrected : &bad.lost, del ? "resurrected" : "lost-ack", k,
                          o, src,
                          del ? "a key deleted (acknowledged) after this put came back"
                              : "the final value was overwritten by an acknowledged write");
            }
            continue;
        }
        if (edge && o->stale_ms >= 0)
            continue; /* marked stale: any value written by then */
        int64_t horizon = edge ? o->t0 - bound_us - slack_us : o->t0;
        if (src->death < horizon) {
            char why[160];
            snprintf(why, sizeof why, "the value was overwritten %.3f ms before the read began%s",
                     (double)(o->t0 - src->death) / 1e3,
                     edge ? ", and the edge did not mark it stale" : "");
            violation(edge ? &bad.edge_read : &bad.origin_read, edge ? "stale-read" : "origin-read",
                      k, o, src, why);
        }
    }
}

int main(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (strcmp(argv[first], "--allow-stale-reads") == 0) {
            allow_stale_reads = true;
            first--;
            continue;
        }
        if (first + 1 >= argc)
            break;
        const char *v = argv[first + 1];
        if (strcmp(argv[first], "--bound-ms") == 0)
            bound_us = atoll(v) * 1000;
        else if (strcmp(argv[first], "--slack-ms") == 0)
            slack_us = atoll(v) * 1000;
        else if (strcmp(argv[first], "--origin") == 0)
            origin_name = v;
        else if (strcmp(argv[first], "--max-report") == 0)
            max_report = atoi(v);
        else
            break;
    }
    if (first >= argc || strncmp(argv[first], "--", 2) == 0) {
        fprintf(stderr, "usage: nemesis_check [--bound-ms B] [--slack-ms S] [--origin NAME] "
                        "[--max-report N] [--allow-stale-reads] LEDGER...\n");
        return 2;
    }
    key_index = json_object();
    value_index = json_object();
    for (int i = first; i < argc; i++)
        if (load(argv[i]) < 0)
            return 2;
    for (size_t i = 0; i < nkeys; i++)
        check_key(&keys[i]);
    uint64_t total = bad.lost + bad.resurrected + bad.diverged + bad.origin_read +
                     (allow_stale_reads ? 0 : bad.edge_read) + bad.phantom + bad.future +
                     bad.final_missing;
    printf("nemesis-check: keys=%zu ops=%" PRIu64 " puts ok=%" PRIu64 " unknown=%" PRIu64
           " fail=%" PRIu64 " deletes ok=%" PRIu64 " unknown=%" PRIu64 " fail=%" PRIu64
           " reads=%" PRIu64 " (marked stale %" PRIu64 ", failed %" PRIu64 ") finals=%" PRIu64 "\n",
           nkeys, st.ops, st.put_ok, st.put_unknown, st.put_fail, st.del_ok, st.del_unknown,
           st.del_fail, st.reads, st.reads_stale, st.reads_failed, st.finals);
    printf("nemesis-check: lost=%" PRIu64 " resurrected=%" PRIu64 " diverged=%" PRIu64
           " origin_read=%" PRIu64 " stale_read=%" PRIu64 " phantom=%" PRIu64 " future=%" PRIu64
           " final_failed=%" PRIu64 " -> %s\n",
           bad.lost, bad.resurrected, bad.diverged, bad.origin_read, bad.edge_read, bad.phantom,
           bad.future, bad.final_missing, total ? "FAIL" : "PASS");
    /* Everything is freed by the exit. */
    return total ? 1 : 0;
}
