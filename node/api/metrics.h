/*
 * metrics.h - request counters and latency histograms, Prometheus text.
 *
 * Each event loop records into its own slot (relaxed atomics, no sharing on
 * the hot path); rendering sums the slots. Gauges owned by other modules
 * (cache, storage, HTTP server, replication) are appended by the caller
 * with metrics_buf_value while rendering.
 */
#ifndef NODE_METRICS_H
#define NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* XX(id, label) */
#define METRICS_ROUTE_MAP(XX)                                                                      \
    XX(HEALTHZ, "healthz")                                                                         \
    XX(METRICS, "metrics")                                                                         \
    XX(STATUS, "status")                                                                           \
    XX(BACKUP, "backup")                                                                           \
    XX(REST_NS_LIST, "rest_namespace_list")                                                        \
    XX(REST_NS_CREATE, "rest_namespace_create")                                                    \
    XX(REST_NS_GET, "rest_namespace_get")                                                          \
    XX(REST_NS_RENAME, "rest_namespace_rename")                                                    \
    XX(REST_NS_DELETE, "rest_namespace_delete")                                                    \
    XX(REST_VALUE_GET, "rest_value_get")                                                           \
    XX(REST_VALUE_PUT, "rest_value_put")                                                           \
    XX(REST_VALUE_DELETE, "rest_value_delete")                                                     \
    XX(REST_METADATA_GET, "rest_metadata_get")                                                     \
    XX(REST_KEYS_LIST, "rest_keys_list")                                                           \
    XX(REST_BULK_PUT, "rest_bulk_put")                                                             \
    XX(REST_BULK_DELETE, "rest_bulk_delete")                                                       \
    XX(REST_BULK_GET, "rest_bulk_get")                                                             \
    XX(BIND_GET, "binding_get")                                                                    \
    XX(BIND_PUT, "binding_put")                                                                    \
    XX(BIND_DELETE, "binding_delete")                                                              \
    XX(BIND_LIST, "binding_list")                                                                  \
    XX(BIND_BULK_GET, "binding_bulk_get")                                                          \
    XX(OTHER, "other")

typedef enum {
#define METRICS__ROUTE_ENUM(id, label) METRICS_ROUTE_##id,
    METRICS_ROUTE_MAP(METRICS__ROUTE_ENUM)
#undef METRICS__ROUTE_ENUM
        METRICS_ROUTE_COUNT
} metrics_route_t;

typedef struct metrics metrics_t;

int metrics_create(unsigned slots, metrics_t **out);
void metrics_destroy(metrics_t *m);

/* Record one answered request on slot `slot` (the loop index). */
void metrics_request(metrics_t *m, unsigned slot, metrics_route_t route, int status,
                     uint64_t latency_ns);

/* A growable text buffer (kv_malloc'd data). */
typedef struct {
    char *data;
    size_t len, cap;
    int oom; /* an append failed; the text is truncated */
} metrics_buf_t;

__attribute__((format(printf, 2, 3))) void metrics_buf_printf(metrics_buf_t *b, const char *fmt,
                                                              ...);
void metrics_buf_free(metrics_buf_t *b);

/* The "# HELP" and "# TYPE" lines of a metric family (type "counter",
 * "gauge", "histogram"); its labelled samples follow from the caller. */
void metrics_buf_family(metrics_buf_t *b, const char *type, const char *name, const char *help);
/* A family with one unlabelled sample: the HELP and TYPE lines, then
 * "name val". Every gauge and counter other modules own goes through here. */
void metrics_buf_value(metrics_buf_t *b, const char *type, const char *name, const char *help,
                       uint64_t val);

/* Append edgekv_http_requests_total and edgekv_http_request_duration_seconds. */
void metrics_render(metrics_t *m, metrics_buf_t *b);

/* Total requests recorded for a route (all statuses). */
uint64_t metrics_route_total(metrics_t *m, metrics_route_t route);

#endif
