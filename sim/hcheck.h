/*
 * hcheck.h - the history checker: one record type for a client's operation,
 * the one writer and reader of the history format (JSON lines), and the
 * checks, shared by the command-line checker `edgekv-check` (hcheck_main.c,
 * for histories recorded on a real cluster by tests/nemesis/client.c) and
 * the simulator (`edgekv-sim --history FILE`, whose simulated clients are
 * checked in-process by the same code).
 *
 * The history format: one JSON object per line, one line per operation,
 * written when the operation completes:
 *   {"op":"put","node":"edge2","session":"s3","key":"k17","value":"v3.1042",
 *    "version":111412894105600,"t0":1234567,"t1":1236012,"outcome":"ok",
 *    "code":200,"stale_ms":-1}
 *   op       put, delete, get, or final (a read after the cluster was
 *            quiet and converged: the state every node is held to);
 *   node     the node that took the operation (the origin's name is
 *            --origin, "origin" by default; every other node is an edge);
 *   session  optional: a client session pinned to one node, whose
 *            operations run one after another;
 *   key      the user key;
 *   value    the put's value, the value a read returned, or null (a delete;
 *            a read that found nothing); every put of a history writes a
 *            value of its own, so a value names its write;
 *   version  optional: the value's last-writer-wins version (the HLC
 *            timestamp, (wall_ms << 16) | logical, replication/hlc.h; one
 *            origin stamps every version, so its node id adds nothing). The
 *            REST and binding APIs do not expose versions, so histories of
 *            real clusters have none and the checker orders writes by real
 *            time; the simulator knows them;
 *   t0, t1   invoke and completion times in microseconds, on one monotonic
 *            clock for the whole history;
 *   outcome  ok (2xx; a read's 404 too: absent), fail (certainly did not
 *            happen: a 4xx, a refused connection), unknown (a timeout, a
 *            reset, a 5xx: a write may or may not have happened);
 *   code     the HTTP status (0: none);
 *   stale_ms the read's X-EdgeKV-Stale-Ms header (the edge marked itself
 *            stale), -1 without one.
 *
 * Write W precedes write W2 (every correct last-writer-wins order puts W2
 * after W) when both have versions and W's is older, or else when W was
 * acknowledged before W2 was invoked (W.t1 < W2.t0): the origin's HLC
 * respects real time. A write with an unknown outcome may take effect at
 * any time after its invoke and precedes nothing; a failed one never
 * happened. W is overwritten by time t when an acknowledged write that W
 * precedes completed before t. A returned value (absent: the key's start,
 * or a delete) is allowed at t when a write that returns it was invoked
 * before the read completed and is not overwritten by t. The checks, each
 * printed with the fewest history lines that show it:
 *   lost-ack          a node's final value was overwritten by an
 *                     acknowledged write (an acknowledged write was lost);
 *   resurrected       a node's final value is a put overwritten by an
 *                     acknowledged delete (a deleted key came back);
 *   diverged          two nodes end with different values (no convergence);
 *   final-read-failed a final read got no answer;
 *   origin-read       a read at the origin returned a value overwritten
 *                     before it began (the origin is linearizable);
 *   stale-read        a read at an edge, not marked stale, returned a value
 *                     overwritten more than the propagation bound plus a
 *                     slack before it began;
 *   read-your-writes  a session read a value its own acknowledged write
 *                     (completed before the read began) follows;
 *   monotonic-read    a session read a value that a value it read earlier
 *                     follows (it went back in time);
 *   lww-order         two acknowledged writes with versions, the first
 *                     acknowledged before the second was invoked, whose
 *                     versions say otherwise;
 *   version-mismatch  a read's version is not the version of the write of
 *                     the value it returned;
 *   phantom           a read returned a value no write of the key wrote,
 *                     or only a failed write;
 *   future            a read returned a value whose write was invoked after
 *                     the read completed.
 * A session's reads are checked whether or not they were marked stale: an
 * edge may lag, never go back.
 *
 * What it is not: a digest compare (tests/nemesis/run.sh does that), or a
 * search for a linearization of concurrent operations (Knossos, Porcupine):
 * it checks the order real time and versions force, which is linear in the
 * history.
 *
 * Not thread-safe. Every function that allocates returns -ENOMEM (or NULL)
 * on allocation failure and leaves the checker usable for hc_free().
 */
#ifndef SIM_HCHECK_H
#define SIM_HCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A history line longer than this is not a line of ours: values of the
 * workloads are short (a put's value names its write). */
#define HC_LINE_MAX 4096
/* Default propagation bound: the nodes' propagation_bound_ms default. */
#define HC_DEFAULT_BOUND_MS 1000
/* Default slack on top of the bound for an edge's read: scheduling between
 * a client's clock readings and the node's on a loaded machine. */
#define HC_DEFAULT_SLACK_MS 1000
/* Violations of each kind printed in full by default (all are counted). */
#define HC_DEFAULT_MAX_REPORT 5

typedef enum { HC_OP_PUT, HC_OP_DELETE, HC_OP_GET, HC_OP_FINAL } hc_op_t;
typedef enum { HC_OUT_OK, HC_OUT_FAIL, HC_OUT_UNKNOWN } hc_outcome_t;

/* One operation. Strings are borrowed for the call they are passed to. */
typedef struct {
    hc_op_t op;
    hc_outcome_t outcome;
    const char *node;
    const char *session; /* NULL: none */
    const char *key;
    const char *value; /* NULL: absent */
    bool has_version;
    uint64_t version;
    int64_t t0_us, t1_us;
    long code;
    long stale_ms; /* -1: not marked stale */
} hc_record_t;

/* The violations, in the order the summary prints them. */
#define HC_VIOLATIONS(X)                                                                           \
    X(LOST, "lost-ack")                                                                            \
    X(RESURRECTED, "resurrected")                                                                  \
    X(DIVERGED, "diverged")                                                                        \
    X(FINAL_FAILED, "final-read-failed")                                                           \
    X(ORIGIN_READ, "origin-read")                                                                  \
    X(STALE_READ, "stale-read")                                                                    \
    X(RYW, "read-your-writes")                                                                     \
    X(MONOTONIC, "monotonic-read")                                                                 \
    X(LWW_ORDER, "lww-order")                                                                      \
    X(VERSION, "version-mismatch")                                                                 \
    X(PHANTOM, "phantom")                                                                          \
    X(FUTURE, "future")

typedef enum {
#define HC_X(id, name) HC_V_##id,
    HC_VIOLATIONS(HC_X)
#undef HC_X
        HC_V_COUNT
} hc_violation_t;

const char *hc_violation_name(hc_violation_t v);
const char *hc_op_name(hc_op_t op);
const char *hc_outcome_name(hc_outcome_t o);

/* The one writer of the format: r as one line with its newline, into buf
 * (cap bytes). Returns the length, or -ENOSPC when it does not fit. */
int hc_format(const hc_record_t *r, char *buf, size_t cap);
/* The one reader: one line (without its newline) into *r, whose strings
 * point into *json (free with hc_parsed_free). -EINVAL: not a history line. */
int hc_parse(const char *line, hc_record_t *r, void **json);
void hc_parsed_free(void *json);

typedef struct {
    int64_t bound_ms;       /* the edges' propagation bound */
    int64_t slack_ms;       /* added to the bound for an edge's read */
    const char *origin;     /* the origin's node name (borrowed) */
    int max_report;         /* violations of each kind printed in full */
    bool allow_stale_reads; /* stale-read violations do not fail alone */
} hc_options_t;

void hc_options_default(hc_options_t *o);

typedef struct {
    uint64_t ops, keys, sessions;
    uint64_t put_ok, put_unknown, put_fail;
    uint64_t del_ok, del_unknown, del_fail;
    uint64_t reads, reads_stale, reads_failed, reads_in_session;
    uint64_t finals, finals_failed;
    uint64_t violations[HC_V_COUNT];
    uint64_t failing; /* violations that fail the history */
} hc_stats_t;

typedef struct hc hc_t;

/* opt is copied (its origin string is borrowed for hc_t's life). */
hc_t *hc_new(const hc_options_t *opt);
void hc_free(hc_t *h);
/* Adds one operation; text is the history line to print in
 * counterexamples (NULL: r rendered by hc_format). -EINVAL: a put without a
 * value, or a value written twice (values name writes). */
int hc_add(hc_t *h, const hc_record_t *r, const char *text);
/* Adds every line of a history file; a line that is not a history line
 * (a client killed mid-line) is reported on diag and skipped. -errno when
 * the file cannot be read, -EINVAL as hc_add. */
int hc_load(hc_t *h, const char *path, FILE *diag);
/* Runs every check once, printing violations (at most max_report of each
 * kind in full) and the summary on out. Returns the number of failing violations. */
uint64_t hc_check(hc_t *h, FILE *out);
/* The figures of the last hc_check. */
const hc_stats_t *hc_stats(const hc_t *h);

#endif
