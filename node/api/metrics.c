/* metrics.c - per-loop counters of metrics.h and their Prometheus text. */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kv_mem.h"

/* Statuses counted individually; anything else falls into the last slot. */
static const int k_statuses[] = {200, 201, 204, 400, 401, 403, 404, 405, 408,
                                 409, 413, 414, 429, 431, 500, 503, 0};
#define N_STATUS (sizeof k_statuses / sizeof k_statuses[0])

/* Histogram upper bounds in seconds (Prometheus `le`), then +Inf. */
static const double k_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};
#define N_BOUNDS (sizeof k_bounds / sizeof k_bounds[0])

static const char *const k_route_labels[] = {
#define METRICS__ROUTE_LABEL(id, label) label,
    METRICS_ROUTE_MAP(METRICS__ROUTE_LABEL)
#undef METRICS__ROUTE_LABEL
};

typedef struct {
    atomic_uint_fast64_t by_status[METRICS_ROUTE_COUNT][N_STATUS];
    atomic_uint_fast64_t buckets[METRICS_ROUTE_COUNT][N_BOUNDS + 1];
    atomic_uint_fast64_t sum_ns[METRICS_ROUTE_COUNT];
} slot_t;

struct metrics {
    unsigned nslots;
    slot_t *slots;
};

int metrics_create(unsigned slots, metrics_t **out)
{
    metrics_t *m = kv_calloc(1, sizeof *m);
    if (!m || !(m->slots = kv_calloc(slots, sizeof(slot_t)))) {
        kv_free(m);
        return -ENOMEM;
    }
    m->nslots = slots;
    *out = m;
    return 0;
}

void metrics_destroy(metrics_t *m)
{
    if (!m)
        return;
    kv_free(m->slots);
    kv_free(m);
}

static size_t status_index(int status)
{
    size_t i;
    for (i = 0; i + 1 < N_STATUS; i++)
        if (k_statuses[i] == status)
            return i;
    return N_STATUS - 1;
}

void metrics_request(metrics_t *m, unsigned slot, metrics_route_t route, int status,
                     uint64_t latency_ns)
{
    slot_t *s = &m->slots[slot % m->nslots];
    double secs = (double)latency_ns / 1e9;
    size_t b = 0;
    while (b < N_BOUNDS && secs > k_bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->by_status[route][status_index(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->buckets[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns[route], latency_ns, memory_order_relaxed);
}

void metrics_buf_printf(metrics_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *d = kv_realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
}

void metrics_buf_free(metrics_buf_t *b)
{
    kv_free(b->data);
    memset(b, 0, sizeof *b);
}

void metrics_buf_family(metrics_buf_t *b, const char *type, const char *name, const char *help)
{
    metrics_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_buf_value(metrics_buf_t *b, const char *type, const char *name, const char *help,
                       uint64_t val)
{
    metrics_buf_family(b, type, name, help);
    metrics_buf_printf(b, "%s %llu\n", name, (unsigned long long)val);
}

static uint64_t sum_status(metrics_t *m, int r, size_t st)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < m->nslots; i++)
        v += atomic_load_explicit(&m->slots[i].by_status[r][st], memory_order_relaxed);
    return v;
}

uint64_t metrics_route_total(metrics_t *m, metrics_route_t route)
{
    uint64_t v = 0;
    for (size_t st = 0; st < N_STATUS; st++)
        v += sum_status(m, route, st);
    return v;
}

static void render_histogram(metrics_t *m, metrics_buf_t *b, int r)
{
    uint64_t cum = 0, sum = 0;
    for (size_t k = 0; k <= N_BOUNDS; k++) {
        for (unsigned i = 0; i < m->nslots; i++)
            cum += atomic_load_explicit(&m->slots[i].buckets[r][k], memory_order_relaxed);
        if (k < N_BOUNDS)
            metrics_buf_printf(b,
                               "edgekv_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                               " %llu\n",
                               k_route_labels[r], k_bounds[k], (unsigned long long)cum);
        else
            metrics_buf_printf(
                b,
                "edgekv_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}"
                " %llu\n",
                k_route_labels[r], (unsigned long long)cum);
    }
    for (unsigned i = 0; i < m->nslots; i++)
        sum += atomic_load_explicit(&m->slots[i].sum_ns[r], memory_order_relaxed);
    metrics_buf_printf(b, "edgekv_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n",
                       k_route_labels[r], (double)sum / 1e9);
    metrics_buf_printf(b, "edgekv_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       k_route_labels[r], (unsigned long long)cum);
}

void metrics_render(metrics_t *m, metrics_buf_t *b)
{
    metrics_buf_family(b, "counter", "edgekv_http_requests_total",
                       "Requests answered, by route and status.");
    for (int r = 0; r < METRICS_ROUTE_COUNT; r++)
        for (size_t st = 0; st < N_STATUS; st++) {
            uint64_t v = sum_status(m, r, st);
            if (!v)
                continue;
            if (k_statuses[st])
                metrics_buf_printf(b,
                                   "edgekv_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                                   k_route_labels[r], k_statuses[st], (unsigned long long)v);
            else
                metrics_buf_printf(
                    b, "edgekv_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                    k_route_labels[r], (unsigned long long)v);
        }
    metrics_buf_family(b, "histogram", "edgekv_http_request_duration_seconds",
                       "Request latency from the first byte to the response.");
    for (int r = 0; r < METRICS_ROUTE_COUNT; r++)
        if (metrics_route_total(m, r))
            render_histogram(m, b, r);
}
