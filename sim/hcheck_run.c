/*
 * hcheck_run.c - the history checker's checks (hcheck.h lists them): per
 * key, when each write is overwritten (its death), the LWW order of
 * versioned writes, every read and final against what was allowed then;
 * per session, read-your-writes and monotonic reads. Each violation prints
 * the few history lines that show it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hcheck_int.h"

/* Whether every correct LWW order puts b after a (hcheck.h). */
static bool precedes(const hc_write_t *a, const hc_write_t *b)
{
    if (a == b || !b->op)
        return false;
    if (!a->op)
        return true; /* the start precedes every write */
    if (a->has_version && b->has_version)
        return a->version < b->version;
    return a->acked && a->t1 < b->t0;
}

/* Counts a violation; prints it with its lines (label, op pairs ending with
 * a NULL label; a NULL op is the key's start) while fewer than max_report
 * of its kind were printed. */
static void violation(hc_t *h, FILE *out, hc_violation_t v, const hc_key_t *k, const char *why, ...)
{
    h->st.violations[v]++;
    if (h->reported[v] >= h->opt.max_report)
        return;
    h->reported[v]++;
    fprintf(out, "VIOLATION %s on key %s: %s\n", hc_violation_name(v), k->name, why);
    va_list ap;
    va_start(ap, why);
    const char *label;
    while ((label = va_arg(ap, const char *)) != NULL) {
        const hc_opx_t *o = va_arg(ap, const hc_opx_t *);
        fprintf(out, "    %-10s %s\n", label, o ? o->text : "(the key's start: absent)");
    }
    va_end(ap);
}

static int cmp_t0(const void *a, const void *b)
{
    const hc_write_t *x = *(hc_write_t *const *)a, *y = *(hc_write_t *const *)b;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static int cmp_t1(const void *a, const void *b)
{
    const hc_write_t *x = *(hc_write_t *const *)a, *y = *(hc_write_t *const *)b;
    return x->t1 < y->t1 ? -1 : x->t1 > y->t1;
}

static int cmp_version(const void *a, const void *b)
{
    const hc_write_t *x = *(hc_write_t *const *)a, *y = *(hc_write_t *const *)b;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* Each write's death: the earliest completion among the acknowledged writes
 * it precedes. With every write versioned those are the newer versions,
 * else the writes invoked after it completed. acked: scratch of nw. */
static void deaths(hc_key_t *k, hc_write_t **acked, int64_t *sufmin, size_t *sufarg)
{
    bool versions = true;
    size_t na = 0;
    for (size_t i = 1; i < k->nw; i++) {
        versions &= k->w[i].has_version || !k->w[i].acked;
        if (k->w[i].acked)
            acked[na++] = &k->w[i];
    }
    qsort(acked, na, sizeof *acked, versions ? cmp_version : cmp_t0);
    sufmin[na] = HC_T_NEVER;
    for (size_t i = na; i-- > 0;) {
        bool take = acked[i]->t1 <= sufmin[i + 1];
        sufmin[i] = take ? acked[i]->t1 : sufmin[i + 1];
        sufarg[i] = take ? i : sufarg[i + 1];
    }
    for (size_t i = 0; i < k->nw; i++) {
        hc_write_t *w = &k->w[i];
        w->death = HC_T_NEVER;
        w->killer = NULL;
        if (!versions && w->t1 == HC_T_NEVER)
            continue; /* an unacknowledged write precedes nothing in real time */
        if (versions && !w->has_version)
            continue;           /* an unversioned unacknowledged write: placed nowhere */
        size_t lo = 0, hi = na; /* the first acked write w precedes */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            bool after = !w->op     ? true
                         : versions ? acked[mid]->version > w->version
                                    : acked[mid]->t0 > w->t1;
            if (after)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo < na) {
            w->death = sufmin[lo];
            w->killer = acked[sufarg[lo]]->op;
        }
    }
}

/* lww-order: acknowledged versioned writes sorted by invoke (by_t0) and by
 * completion (by_t1); a write must be newer than every one acknowledged
 * before it was invoked. */
static void lww_order(hc_t *h, FILE *out, hc_key_t *k, hc_write_t **by_t0, hc_write_t **by_t1)
{
    size_t n = 0;
    for (size_t i = 1; i < k->nw; i++)
        if (k->w[i].acked && k->w[i].has_version)
            by_t0[n] = by_t1[n] = &k->w[i], n++;
    qsort(by_t0, n, sizeof *by_t0, cmp_t0);
    qsort(by_t1, n, sizeof *by_t1, cmp_t1);
    const hc_write_t *max = NULL;
    for (size_t i = 0, j = 0; i < n; i++) {
        for (; j < n && by_t1[j]->t1 < by_t0[i]->t0; j++)
            if (!max || by_t1[j]->version > max->version)
                max = by_t1[j];
        if (max && max->version >= by_t0[i]->version)
            violation(h, out, HC_V_LWW_ORDER, k,
                      "a write acknowledged before another was invoked has a version not older",
                      "first", max->op, "then", by_t0[i]->op, NULL);
    }
}

/* The write that produced o's value, the candidate whose value lived
 * longest for an absent one; NULL with *v set when none could. */
static hc_write_t *source(hc_t *h, hc_key_t *k, const hc_opx_t *o, hc_violation_t *v,
                          const char **why)
{
    if (o->r.value) {
        hc_write_t *w = hc__value_write(h, k, o->r.value);
        *v = HC_V_PHANTOM;
        if (!w)
            *why = "returned a value no write of this key wrote";
        else if (w->failed)
            *why = "returned the value of a write that failed";
        else if (w->t0 > o->r.t1_us)
            *v = HC_V_FUTURE, *why = "returned a value written only after the read completed";
        else
            return w;
        return NULL;
    }
    hc_write_t *best = NULL;
    for (size_t i = 0; i < k->nw; i++) {
        hc_write_t *w = &k->w[i];
        if (w->absent && !w->failed && w->t0 <= o->r.t1_us && (!best || w->death > best->death))
            best = w;
    }
    return best; /* the start at least */
}

static const hc_opx_t *first_final(hc_t *h, FILE *out, hc_key_t *k, const hc_opx_t *first,
                                   const hc_opx_t *o, hc_write_t *src)
{
    if (first && ((first->r.value == NULL) != (o->r.value == NULL) ||
                  (o->r.value && strcmp(first->r.value, o->r.value) != 0)))
        violation(h, out, HC_V_DIVERGED, k, "nodes end with different values", "final", o, "other",
                  first, NULL);
    if (src->death != HC_T_NEVER) {
        bool del = src->killer && !src->absent && src->killer->r.op == HC_OP_DELETE;
        violation(h, out, del ? HC_V_RESURRECTED : HC_V_LOST, k,
                  del ? "a key deleted (acknowledged) after this put came back"
                      : "the final value was overwritten by an acknowledged write",
                  "final", o, "returned", src->op, "overwrote", src->killer, NULL);
    }
    return first ? first : o;
}

static void check_reads(hc_t *h, FILE *out, hc_key_t *k)
{
    const hc_opx_t *first = NULL;
    for (size_t i = 0; i < k->nr; i++) {
        hc_opx_t *o = k->r[i];
        bool final = o->r.op == HC_OP_FINAL;
        if (o->r.outcome != HC_OUT_OK) {
            if (final)
                violation(h, out, HC_V_FINAL_FAILED, k, "a final read got no answer", "final", o,
                          NULL);
            continue;
        }
        hc_violation_t v = HC_V_PHANTOM;
        const char *why = "";
        hc_write_t *src = source(h, k, o, &v, &why);
        if (!src) {
            violation(h, out, v, k, why, final ? "final" : "read", o, NULL);
            continue;
        }
        if (o->r.has_version && src->op && src->has_version && src->version != o->r.version)
            violation(h, out, HC_V_VERSION, k, "the read's version is not its value's write's",
                      "read", o, "write", src->op, NULL);
        if (final) {
            first = first_final(h, out, k, first, o, src);
            continue;
        }
        bool edge = strcmp(o->r.node, h->opt.origin) != 0;
        if (edge && o->r.stale_ms >= 0)
            continue; /* marked stale: any value written by then */
        int64_t horizon =
            edge ? o->r.t0_us - (h->opt.bound_ms + h->opt.slack_ms) * 1000 : o->r.t0_us;
        if (src->death < horizon) {
            char why_buf[160];
            snprintf(why_buf, sizeof why_buf,
                     "the value was overwritten %.3f ms before the read began%s",
                     (double)(o->r.t0_us - src->death) / 1e3,
                     edge ? ", and the edge did not mark it stale" : "");
            violation(h, out, edge ? HC_V_STALE_READ : HC_V_ORIGIN_READ, k, why_buf, "read", o,
                      "returned", src->op, "overwrote", src->killer, NULL);
        }
    }
}

/* Sessions. --------------------------------------------------------------- */

static hc_key_t *session_key(hc_t *h, const hc_opx_t *o, int32_t s)
{
    hc_key_t *k = &h->keys[o->key];
    if (k->obs_session != s) {
        k->obs_session = s;
        k->nobs = 0;
    }
    return k;
}

/* The session saw (or wrote) w: keep the writes none of which precedes
 * another. */
static int observe(hc_t *h, const hc_opx_t *by, hc_write_t *w, int32_t s)
{
    hc_key_t *k = session_key(h, by, s);
    size_t j = 0;
    for (size_t i = 0; i < k->nobs; i++) {
        if (k->obs[i].w == w || precedes(w, k->obs[i].w))
            return 0; /* nothing new */
        if (!precedes(k->obs[i].w, w))
            k->obs[j++] = k->obs[i];
    }
    k->nobs = j;
    if (hc__grow((void **)&k->obs, &k->capobs, k->nobs, sizeof *k->obs) != 0)
        return -ENOMEM;
    k->obs[k->nobs++] = (hc_obs_t){.w = w, .by = by};
    return 0;
}

/* Whether every write that could have produced the absent read o precedes
 * w. */
static bool absent_older(const hc_key_t *k, const hc_opx_t *o, const hc_write_t *w)
{
    for (size_t i = 0; i < k->nw; i++) {
        const hc_write_t *c = &k->w[i];
        if (c->absent && !c->failed && c->t0 <= o->r.t1_us && !precedes(c, w))
            return false;
    }
    return true;
}

/* A session's read against what the session saw before it began. */
static void session_read(hc_t *h, FILE *out, const hc_opx_t *o, int32_t s)
{
    hc_key_t *k = session_key(h, o, s);
    hc_write_t *src = o->r.value ? hc__value_write(h, k, o->r.value) : NULL;
    if (o->r.value && (!src || src->failed))
        return; /* a phantom, reported as such */
    for (size_t i = 0; i < k->nobs; i++) {
        const hc_obs_t *ob = &k->obs[i];
        bool older = src ? precedes(src, ob->w) : absent_older(k, o, ob->w);
        if (!older)
            continue;
        bool own = ob->by->r.op != HC_OP_GET;
        violation(h, out, own ? HC_V_RYW : HC_V_MONOTONIC, k,
                  own ? "the session read a value older than its own acknowledged write"
                      : "the session read a value older than one it had read",
                  "read", o, "returned", src ? src->op : NULL, own ? "wrote" : "had read", ob->by,
                  own ? NULL : "which was", own ? NULL : ob->w->op, NULL);
        return;
    }
}

static int cmp_op_t0(const void *a, const void *b)
{
    const hc_opx_t *x = *(hc_opx_t *const *)a, *y = *(hc_opx_t *const *)b;
    return x->r.t0_us < y->r.t0_us ? -1 : x->r.t0_us > y->r.t0_us;
}

static int cmp_op_t1(const void *a, const void *b)
{
    const hc_opx_t *x = *(hc_opx_t *const *)a, *y = *(hc_opx_t *const *)b;
    return x->r.t1_us < y->r.t1_us ? -1 : x->r.t1_us > y->r.t1_us;
}

/* An operation the session learnt something from once it completed. */
static hc_write_t *learnt(hc_t *h, const hc_opx_t *o)
{
    if (o->r.outcome != HC_OUT_OK)
        return NULL;
    hc_key_t *k = &h->keys[o->key];
    if (o->r.op == HC_OP_PUT || o->r.op == HC_OP_DELETE)
        return &k->w[o->write];
    if (o->r.op != HC_OP_GET || !o->r.value)
        return NULL; /* an absent read names no one write */
    hc_write_t *w = hc__value_write(h, k, o->r.value);
    return w && !w->failed ? w : NULL;
}

/* Sweeps a session's reads by invoke time; before each, what the session's
 * operations completed strictly before it began taught it. */
static int check_session(hc_t *h, FILE *out, int32_t s)
{
    hc_session_t *ss = &h->sessions[s];
    hc_opx_t **by_t1 = malloc((ss->n ? ss->n : 1) * sizeof *by_t1);
    if (!by_t1)
        return -ENOMEM;
    memcpy(by_t1, ss->ops, ss->n * sizeof *by_t1);
    qsort(ss->ops, ss->n, sizeof *ss->ops, cmp_op_t0);
    qsort(by_t1, ss->n, sizeof *by_t1, cmp_op_t1);
    int rc = 0;
    for (size_t i = 0, j = 0; i < ss->n && rc == 0; i++) {
        const hc_opx_t *o = ss->ops[i];
        for (; j < ss->n && by_t1[j]->r.t1_us < o->r.t0_us && rc == 0; j++) {
            hc_write_t *w = learnt(h, by_t1[j]);
            if (w)
                rc = observe(h, by_t1[j], w, s);
        }
        if (o->r.op == HC_OP_GET && o->r.outcome == HC_OUT_OK)
            session_read(h, out, o, s);
    }
    free(by_t1);
    return rc;
}

static void summary(hc_t *h, FILE *out)
{
    hc_stats_t *st = &h->st;
    fprintf(out,
            "edgekv-check: keys=%" PRIu64 " sessions=%" PRIu64 " ops=%" PRIu64 " puts ok=%" PRIu64
            " unknown=%" PRIu64 " fail=%" PRIu64 " deletes ok=%" PRIu64 " unknown=%" PRIu64
            " fail=%" PRIu64 " reads=%" PRIu64 " (in sessions %" PRIu64 ", marked stale %" PRIu64
            ", failed %" PRIu64 ") finals=%" PRIu64 "\n",
            st->keys, st->sessions, st->ops, st->put_ok, st->put_unknown, st->put_fail, st->del_ok,
            st->del_unknown, st->del_fail, st->reads, st->reads_in_session, st->reads_stale,
            st->reads_failed, st->finals);
    fprintf(out, "edgekv-check:");
    for (int v = 0; v < HC_V_COUNT; v++)
        fprintf(out, " %s=%" PRIu64, hc_violation_name((hc_violation_t)v), st->violations[v]);
    fprintf(out, " -> %s\n", st->failing ? "FAIL" : "PASS");
}

uint64_t hc_check(hc_t *h, FILE *out)
{
    memset(h->st.violations, 0, sizeof h->st.violations);
    memset(h->reported, 0, sizeof h->reported);
    h->st.keys = h->nkeys;
    h->st.sessions = h->nsessions;
    size_t maxw = 1;
    for (size_t i = 0; i < h->nkeys; i++)
        maxw = h->keys[i].nw > maxw ? h->keys[i].nw : maxw;
    hc_write_t **a = malloc(maxw * sizeof *a), **b = malloc(maxw * sizeof *b);
    int64_t *sufmin = malloc((maxw + 1) * sizeof *sufmin);
    size_t *sufarg = malloc((maxw + 1) * sizeof *sufarg);
    bool oom = !a || !b || !sufmin || !sufarg;
    for (size_t i = 0; i < h->nkeys && !oom; i++) {
        hc_key_t *k = &h->keys[i];
        deaths(k, a, sufmin, sufarg);
        lww_order(h, out, k, a, b);
        check_reads(h, out, k);
        k->obs_session = -1;
    }
    free(a);
    free(b);
    free(sufmin);
    free(sufarg);
    for (size_t s = 0; s < h->nsessions && !oom; s++)
        oom = check_session(h, out, (int32_t)s) != 0;
    if (oom)
        fprintf(out, "edgekv-check: out of memory: the checks did not finish\n");
    uint64_t failing = oom;
    for (int v = 0; v < HC_V_COUNT; v++)
        if (v != HC_V_STALE_READ || !h->opt.allow_stale_reads)
            failing += h->st.violations[v];
    h->st.failing = failing;
    summary(h, out);
    return failing;
}
