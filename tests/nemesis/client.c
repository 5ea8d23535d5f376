/* client.c - the nemesis workload: writers and readers against every node of
 * a cluster over the REST API, each operation recorded in a ledger.
 *
 * Writers put unique values ("v<thread>.<n>") and delete, on keys k0..kK-1,
 * at a node picked at random (the origin, or an edge that forwards the write
 * to it); readers read random keys at random nodes. Every operation is one
 * JSON line of the ledger, written (and flushed) when it completes:
 *   {"op":"put","node":"edge1","key":"k3","value":"v2.17","t0":..,"t1":..,
 *    "outcome":"ok","code":200,"stale_ms":-1}
 * t0/t1: invoke and complete times, microseconds on CLOCK_MONOTONIC (one
 * clock for the whole ledger). outcome: "ok" (200; for a read, 404 is ok
 * too: the key is absent), "fail" (the operation certainly did not happen:
 * a 4xx, or the connection was refused), "unknown" (a timeout, a reset
 * connection, a 5xx: a write may or may not have happened). stale_ms: the
 * X-EdgeKV-Stale-Ms header of a read, -1 without it.
 *
 * With --final it instead reads every key once at every node and writes
 * "final" lines (the state the checker holds every node to), then exits.
 *
 * What it is not: a load generator (it paces itself), or a checker
 * (edgekv-check, sim/hcheck.h, judges the ledger).
 *
 * Usage: nemesis_client --ledger FILE --token T --node NAME=BASE ...
 *   [--keys K] [--writers W] [--readers R] [--seconds S] [--stop FILE]
 *   [--pause-ms P] [--timeout-ms T] [--seed N] [--final]
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
static int nkeys = 32, nwriters = 4, nreaders = 4, seconds = 60, pause_ms = 20, timeout_ms = 3000;
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
    char value[48];
    int64_t t0, t1;
    const char *outcome;
    long code;
    long stale_ms;
} rec_t;

static void record(const rec_t *r)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"op\":\"%s\",\"node\":\"%s\",\"key\":\"k%d\",\"value\":%s%s%s,"
                     "\"t0\":%" PRId64 ",\"t1\":%" PRId64 ",\"outcome\":\"%s\",\"code\":%ld,"
                     "\"stale_ms\":%ld}\n",
                     r->op, nodes[r->node].name, r->key, r->value[0] ? "\"" : "",
                     r->value[0] ? r->value : "null", r->value[0] ? "\"" : "", r->t0, r->t1,
                     r->outcome, r->code, r->stale_ms);
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

typedef struct {
    int id;
    bool writer;
    pthread_t th;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    unsigned rs = seed * 7919u + (unsigned)w->id * 104729u;
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    for (uint64_t n = 0; !stopping(); n++) {
        rec_t r = {.node = (int)(rand_r(&rs) % (unsigned)nnodes),
                   .key = (int)(rand_r(&rs) % (unsigned)nkeys)};
        if (w->writer && rand_r(&rs) % 5 == 0) {
            r.op = "delete";
        } else if (w->writer) {
            r.op = "put";
            snprintf(r.value, sizeof r.value, "v%d.%" PRIu64, w->id, n);
        } else {
            r.op = "get";
        }
        run_op(c, &r);
        if (strcmp(r.op, "delete") == 0)
            r.value[0] = '\0';
        record(&r);
        if (pause_ms > 0)
            usleep((useconds_t)(rand_r(&rs) % (unsigned)(2 * pause_ms)) * 1000);
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
            rec_t r = {.op = "get", .node = n, .key = k};
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
    fprintf(stderr, "usage: nemesis_client --ledger FILE --token T --node NAME=BASE ... "
                    "[--keys K] [--writers W] [--readers R] [--seconds S] [--stop FILE] "
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
        nwriters + nreaders > THREADS_MAX || nwriters + nreaders == 0 || pause_ms < 0 ||
        timeout_ms < 1)
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
        int nw = nwriters + nreaders;
        t_end = now_us() + (int64_t)seconds * 1000000;
        for (int i = 0; i < nw; i++) {
            ws[i] = (worker_t){.id = i, .writer = i < nwriters};
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
