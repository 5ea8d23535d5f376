/* client.c - the recording workload client: writers, readers and sessions
 * against the nodes of a cluster over the REST API, each operation recorded
 * as one line of a history (the format of sim/hcheck.h, written by its
 * hc_format), which edgekv-check judges.
 *
 * Writers put unique values ("v<thread>.<n>") and delete, on keys k0..kK-1,
 * at a node picked at random (the origin, or an edge that forwards the write
 * to it); readers read random keys at random nodes. A session ("s<i>",
 * --sessions) is one client pinned to one edge (session i to the i-th edge,
 * round robin; the first --node is the origin), running one operation after
 * another in a cycle that reads its own writes: put a random key, read it,
 * delete it, read it, read another random key. The sessions' writes collide
 * with the writers' on the same keys. Every operation is one line, written
 * (and flushed) when it completes:
 *   {"op":"put","node":"edge1","session":"s0","key":"k3","value":"v2.17",
 *    "t0":..,"t1":..,"outcome":"ok","code":200,"stale_ms":-1}
 * t0/t1: invoke and complete times, microseconds on CLOCK_MONOTONIC (one
 * clock for the whole history). outcome: "ok" (200; for a read, 404 is ok
 * too: the key is absent), "fail" (the operation certainly did not happen:
 * a 4xx, or the connection was refused), "unknown" (a timeout, a reset
 * connection, a 5xx: a write may or may not have happened). stale_ms: the
 * X-EdgeKV-Stale-Ms header of a read, -1 without it. No "version": the REST
 * API does not expose a value's version.
 *
 * With --final it instead reads every key once at every node and writes
 * "final" lines (the state the checker holds every node to), then exits.
 *
 * What it is not: a load generator (it paces itself), or a checker
 * (edgekv-check, sim/hcheck.h, judges the history).
 *
 * Usage: nemesis_client --ledger FILE --token T --node NAME=BASE ...
 *   [--keys K] [--writers W] [--readers R] [--sessions S] [--seconds S]
 *   [--stop FILE] [--pause-ms P] [--timeout-ms T] [--seed N] [--final]
 * BASE: http://HOST:PORT/client/v4/accounts/ACCT/storage/kv/namespaces/NS */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hcheck.h"

#define NODES_MAX   16
#define THREADS_MAX 64
/* A value read back: the workload's values are short. */
#define BODY_MAX 256

typedef struct {
    const char *name;
    const char *base;
} node_t;

static node_t nodes[NODES_MAX];
static int nnodes;
static const char *token, *stop_file;
static int nkeys = 32, nwriters = 4, nreaders = 4, nsessions = 0, seconds = 60, pause_ms = 20,
           timeout_ms = 3000;
static unsigned seed = 1;
static FILE *ledger;
static pthread_mutex_t ledger_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t t_end;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct {
    char body[BODY_MAX];
    size_t len;
    bool truncated;
    long stale_ms;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t len = sz * n, room = sizeof r->body - 1 - r->len;
    if (len > room) {
        r->truncated = true;
        len = room;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    resp_t *r = arg;
    static const char h[] = "x-edgekv-stale-ms:";
    size_t len = sz * n;
    if (len > sizeof h - 1 && strncasecmp(p, h, sizeof h - 1) == 0)
        r->stale_ms = strtol(p + sizeof h - 1, NULL, 10);
    return len;
}

typedef struct {
    const char *op; /* put, delete, get, final */
    int node, key;
    int session; /* -1: none */
    char value[48];
    int64_t t0, t1;
    const char *outcome;
    long code;
    long stale_ms;
} rec_t;

static void record(const rec_t *r)
{
    char key[16], session[16], line[HC_LINE_MAX];
    snprintf(key, sizeof key, "k%d", r->key);
    snprintf(session, sizeof session, "s%d", r->session);
    hc_record_t h = {.op = strcmp(r->op, "put") == 0      ? HC_OP_PUT
                           : strcmp(r->op, "delete") == 0 ? HC_OP_DELETE
                           : strcmp(r->op, "final") == 0  ? HC_OP_FINAL
                                                          : HC_OP_GET,
                     .outcome = strcmp(r->outcome, "ok") == 0     ? HC_OUT_OK
                                : strcmp(r->outcome, "fail") == 0 ? HC_OUT_FAIL
                                                                  : HC_OUT_UNKNOWN,
                     .node = nodes[r->node].name,
                     .session = r->session >= 0 ? session : NULL,
                     .key = key,
                     .value = r->value[0] ? r->value : NULL,
                     .t0_us = r->t0,
                     .t1_us = r->t1,
                     .code = r->code,
                     .stale_ms = r->stale_ms};
    int n = hc_format(&h, line, sizeof line);
    if (n < 0) {
        fprintf(stderr, "nemesis_client: a record does not fit a history line\n");
        exit(1);
    }
    pthread_mutex_lock(&ledger_mu);
    fwrite(line, 1, (size_t)n, ledger);
    fflush(ledger);
    pthread_mutex_unlock(&ledger_mu);
}

/* One request; fills outcome, code, stale_ms, and for a read the value. */
static void run_op(CURL *c, rec_t *r)
{
    char url[512];
    resp_t resp = {.stale_ms = -1};
    snprintf(url, sizeof url, "%s/values/k%d", nodes[r->node].base, r->key);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* A new connection per operation: on a reused connection that dies
     * curl silently resends the request on a new one, and a refused resend
     * would hide that the first copy may have reached the node. */
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hs = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    bool write = strcmp(r->op, "put") == 0 || strcmp(r->op, "delete") == 0;
    if (strcmp(r->op, "put") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->value);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->value));
    } else if (strcmp(r->op, "delete") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    r->t0 = now_us();
    CURLcode rc = curl_easy_perform(c);
    r->t1 = now_us();
    curl_slist_free_all(hs);
    r->code = 0;
    r->stale_ms = resp.stale_ms;
    if (rc == CURLE_COULDNT_CONNECT) {
        r->outcome = "fail"; /* refused: the request was never sent */
        return;
    }
    if (rc != CURLE_OK) {
        r->outcome = "unknown";
        return;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    if (r->code == 200 || (!write && r->code == 404)) {
        r->outcome = "ok";
        if (!write) {
            if (r->code == 200 && !resp.truncated && resp.len > 0 && resp.len < sizeof r->value &&
                strspn(resp.body, "v0123456789.") == resp.len)
                memcpy(r->value, resp.body, resp.len + 1);
            else if (r->code == 200)
                snprintf(r->value, sizeof r->value, "<unexpected body>");
        }
    } else if (r->code >= 400 && r->code < 500) {
        r->outcome = "fail";
    } else {
        r->outcome = "unknown";
    }
}

static bool stopping(void)
{
    return now_us() >= t_end || (stop_file && access(stop_file, F_OK) == 0);
}

typedef enum { W_WRITER, W_READER, W_SESSION } wkind_t;

typedef struct {
    int id;
    wkind_t kind;
    int session; /* W_SESSION: its number; its node is an edge */
    pthread_t th;
} worker_t;

/* The session cycle (see the header): what its n-th operation does. */
enum { CYC_PUT, CYC_READ_PUT, CYC_DELETE, CYC_READ_DELETE, CYC_READ_OTHER, CYC_LEN };

static void pause_a_little(unsigned *rs)
{
    if (pause_ms > 0)
        usleep((useconds_t)(rand_r(rs) % (unsigned)(2 * pause_ms)) * 1000);
}

/* One session: one edge, one operation after another. */
static void session_loop(worker_t *w, CURL *c, unsigned *rs)
{
    int node = nnodes > 1 ? 1 + w->session % (nnodes - 1) : 0, key = 0;
    for (uint64_t n = 0; !stopping(); n++) {
        int step = (int)(n % CYC_LEN);
        if (step == CYC_PUT || step == CYC_READ_OTHER)
            key = (int)(rand_r(rs) % (unsigned)nkeys);
        rec_t r = {.node = node, .key = key, .session = w->session};
        if (step == CYC_PUT) {
            r.op = "put";
            snprintf(r.value, sizeof r.value, "v%d.%" PRIu64, w->id, n);
        } else {
            r.op = step == CYC_DELETE ? "delete" : "get";
        }
        run_op(c, &r);
        if (strcmp(r.op, "delete") == 0)
            r.value[0] = '\0';
        record(&r);
        pause_a_little(rs);
    }
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    unsigned rs = seed * 7919u + (unsigned)w->id * 104729u;
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    if (w->kind == W_SESSION) {
        session_loop(w, c, &rs);
        curl_easy_cleanup(c);
        return NULL;
    }
    bool writer = w->kind == W_WRITER;
    for (uint64_t n = 0; !stopping(); n++) {
        rec_t r = {.node = (int)(rand_r(&rs) % (unsigned)nnodes),
                   .key = (int)(rand_r(&rs) % (unsigned)nkeys),
                   .session = -1};
        if (writer && rand_r(&rs) % 5 == 0) {
            r.op = "delete";
        } else if (writer) {
            r.op = "put";
            snprintf(r.value, sizeof r.value, "v%d.%" PRIu64, w->id, n);
        } else {
            r.op = "get";
        }
        run_op(c, &r);
        if (strcmp(r.op, "delete") == 0)
            r.value[0] = '\0';
        record(&r);
        pause_a_little(&rs);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int final_reads(void)
{
    CURL *c = curl_easy_init();
    int bad = 0;
    for (int n = 0; n < nnodes; n++)
        for (int k = 0; k < nkeys; k++) {
            rec_t r = {.op = "get", .node = n, .key = k, .session = -1};
            run_op(c, &r);
            r.op = "final";
            record(&r);
            if (strcmp(r.outcome, "ok") != 0)
                bad++;
        }
    curl_easy_cleanup(c);
    if (bad)
        fprintf(stderr, "nemesis_client: %d final reads failed\n", bad);
    return bad ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: nemesis_client --ledger FILE --token T --node NAME=BASE ... "
            "[--keys K] [--writers W] [--readers R] [--sessions S] [--seconds S] [--stop FILE] "
            "[--pause-ms P] [--timeout-ms T] [--seed N] [--final]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *ledger_path = NULL;
    bool final = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--final") == 0) {
            final = true;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--ledger") == 0)
            ledger_path = v;
        else if (strcmp(a, "--token") == 0)
            token = v;
        else if (strcmp(a, "--stop") == 0)
            stop_file = v;
        else if (strcmp(a, "--keys") == 0)
            nkeys = atoi(v);
        else if (strcmp(a, "--writers") == 0)
            nwriters = atoi(v);
        else if (strcmp(a, "--readers") == 0)
            nreaders = atoi(v);
        else if (strcmp(a, "--sessions") == 0)
            nsessions = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            seconds = atoi(v);
        else if (strcmp(a, "--pause-ms") == 0)
            pause_ms = atoi(v);
        else if (strcmp(a, "--timeout-ms") == 0)
            timeout_ms = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            seed = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--node") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || nnodes == NODES_MAX)
                return usage();
            nodes[nnodes].name = strndup(v, (size_t)(eq - v));
            nodes[nnodes].base = eq + 1;
            nnodes++;
        } else
            return usage();
    }
    if (!ledger_path || !token || nnodes == 0 || nkeys < 1 || nwriters < 0 || nreaders < 0 ||
        nsessions < 0 || nwriters + nreaders + nsessions > THREADS_MAX ||
        nwriters + nreaders + nsessions == 0 || pause_ms < 0 || timeout_ms < 1)
        return usage();
    ledger = fopen(ledger_path, "a");
    if (!ledger) {
        fprintf(stderr, "nemesis_client: %s: %s\n", ledger_path, strerror(errno));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    int rc = 0;
    if (final) {
        rc = final_reads();
    } else {
        worker_t ws[THREADS_MAX];
        int nw = nwriters + nreaders + nsessions;
        t_end = now_us() + (int64_t)seconds * 1000000;
        for (int i = 0; i < nw; i++) {
            ws[i] = (worker_t){.id = i,
                               .kind = i < nwriters              ? W_WRITER
                                       : i < nwriters + nreaders ? W_READER
                                                                 : W_SESSION,
                               .session = i - nwriters - nreaders};
            if (pthread_create(&ws[i].th, NULL, worker, &ws[i]) != 0) {
                fprintf(stderr, "nemesis_client: cannot start thread %d\n", i);
                return 1;
            }
        }
        for (int i = 0; i < nw; i++)
            pthread_join(ws[i].th, NULL);
    }
    fclose(ledger);
    for (int i = 0; i < nnodes; i++)
        free((char *)nodes[i].name);
    curl_global_cleanup();
    return rc;
}
