/* app.c - dispatch, operations endpoints and response helpers of app.h. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "edgekv_version.h"
#include "hostgauges.h"
#include "kv_err.h"
#include "kv_mem.h"

#define REST_PREFIX "/client/v4/"

static int is_binding(const http_req_t *req)
{
    return http_req_header(req, "X-EdgeKV-Namespace") != NULL;
}

static int path_is(const http_req_t *req, const char *p)
{
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static int is_rest(const http_req_t *req)
{
    return req->path_len >= sizeof REST_PREFIX - 1 &&
           memcmp(req->path, REST_PREFIX, sizeof REST_PREFIX - 1) == 0;
}

/* An edge that has not heard from the origin within the propagation bound
 * says so on every answer: X-EdgeKV-Stale-Ms: <ms since last caught up>. */
#define STALE_HEADER_MAX 1024

/* Strict staleness: reads at a stale edge are refused rather than served
 * from a replica that may be arbitrarily behind (or wiped for a snapshot).
 * Writes go to the origin and are judged there. Judged twice: when the
 * request arrives, and again when its answer leaves (app_respond), so a
 * read that raced the start of a snapshot answers 503, never a 404 from a
 * store being refilled: the core's verdict turns stale before the wipe. */
static bool must_refuse_stale(node_app_t *app, const http_req_t *req, uint64_t *ms)
{
    bool read = req->method == HTTP_M_GET || req->method == HTTP_M_HEAD ||
                (req->method == HTTP_M_POST && req->path_len >= 9 &&
                 memcmp(req->path + req->path_len - 9, "/bulk/get", 9) == 0);
    return app->strict_staleness && app->replica && read && (is_binding(req) || is_rest(req)) &&
           replica_is_stale(app->replica, ms);
}

static void refuse_stale(node_app_t *app, http_req_t *req, uint64_t ms)
{
    char msg[160];
    snprintf(
        msg, sizeof msg,
        "Service Unavailable: edge replica is stale (last caught up with the origin %llu ms ago)",
        (unsigned long long)ms);
    if (is_binding(req))
        app_bind_error(app, req, METRICS_ROUTE_OTHER, 503, msg);
    else
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 503, KVOP_CODE_UNAVAILABLE, msg);
}

void app_respond(node_app_t *app, http_req_t *req, metrics_route_t route,
                 const http_response_t *resp)
{
    uint64_t now = uv_hrtime(), stale_ms;
    http_response_t r = *resp;
    char hdr[KV_METADATA_MAX_BYTES + STALE_HEADER_MAX];
    if (resp->status != 503 && must_refuse_stale(app, req, &stale_ms)) {
        if (resp->body_release)
            resp->body_release(resp->body_release_arg);
        refuse_stale(app, req, stale_ms);
        return;
    }
    metrics_request(app->metrics, req->loop_index, route, resp->status,
                    now > req->start_ns ? now - req->start_ns : 0);
    if (app->replica && replica_is_stale(app->replica, &stale_ms) &&
        resp->headers_len < KV_METADATA_MAX_BYTES + STALE_HEADER_MAX / 2) {
        int n = snprintf(hdr, sizeof hdr, "%.*sX-EdgeKV-Stale-Ms: %llu\r\n", (int)resp->headers_len,
                         resp->headers ? resp->headers : "", (unsigned long long)stale_ms);
        r.headers = hdr;
        r.headers_len = (size_t)n;
    }
    http_respond(req, &r);
}

static void free_text(void *p)
{
    free(p); /* jansson's json_dumps allocates with malloc */
}

void app_respond_json(node_app_t *app, http_req_t *req, metrics_route_t route, int status,
                      json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    http_response_t r = {.status = status, .content_type = "application/json"};
    json_decref(doc);
    if (!text) {
        r.status = 500;
        r.body = "{\"success\":false}";
        r.body_len = strlen(r.body);
    } else {
        r.body = text;
        r.body_len = strlen(text);
        r.body_release = free_text;
        r.body_release_arg = text;
    }
    app_respond(app, req, route, &r);
}

static json_t *envelope(int ok, json_t *errors, json_t *result)
{
    return json_pack("{s:b, s:o, s:[], s:o}", "success", ok, "errors", errors, "messages", "result",
                     result ? result : json_null());
}

const char APP_REST_OK_NULL[] = "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":null}";

void app_rest_ok(node_app_t *app, http_req_t *req, metrics_route_t route, json_t *result,
                 json_t *result_info)
{
    if (!result_info && (!result || json_is_null(result))) {
        /* Every PUT and DELETE of a value: the document envelope() would
         * print, without building it (test_api checks the bytes). */
        json_decref(result);
        http_response_t r = {.status = 200,
                             .content_type = "application/json",
                             .body = APP_REST_OK_NULL,
                             .body_len = sizeof APP_REST_OK_NULL - 1};
        app_respond(app, req, route, &r);
        return;
    }
    json_t *doc = envelope(1, json_array(), result);
    if (doc && result_info)
        json_object_set_new(doc, "result_info", result_info);
    else
        json_decref(result_info);
    app_respond_json(app, req, route, 200, doc);
}

void app_rest_error(node_app_t *app, http_req_t *req, metrics_route_t route, int status, int code,
                    const char *msg)
{
    json_t *errs = json_pack("[{s:i, s:s}]", "code", code, "message", msg);
    app_respond_json(app, req, route, status, envelope(0, errs, NULL));
}

void app_bind_error(node_app_t *app, http_req_t *req, metrics_route_t route, int status,
                    const char *msg)
{
    http_response_t r = {.status = status,
                         .reason = msg,
                         .content_type = "text/plain;charset=UTF-8",
                         .body = msg,
                         .body_len = strlen(msg)};
    app_respond(app, req, route, &r);
}

/* ---- offloading -------------------------------------------------------------- */

typedef struct {
    uv_work_t w;
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
} offload_t;

static void offload_work(uv_work_t *w)
{
    offload_t *o = (offload_t *)w;
    o->work(o->arg);
}

static void offload_done(uv_work_t *w, int status)
{
    offload_t *o = (offload_t *)w;
    (void)status; /* never cancelled: we do not call uv_cancel */
    o->done(o->arg);
    kv_free(o);
}

int app_offload(http_req_t *req, void (*work)(void *), void (*done)(void *), void *arg)
{
    offload_t *o = kv_malloc(sizeof *o);
    int rc;
    if (!o)
        return -ENOMEM;
    o->work = work;
    o->done = done;
    o->arg = arg;
    rc = uv_queue_work(http_req_loop(req), &o->w, offload_work, offload_done);
    if (rc != 0)
        kv_free(o);
    return rc;
}

/* ---- writes ------------------------------------------------------------------- */

typedef struct {
    http_post_t post; /* first: the post is the write */
    http_loop_t *loop;
    void (*done)(void *arg, int rc);
    void *arg;
    int rc;
} app_write_t;

/* On the request's loop. */
static void write_posted(http_post_t *p)
{
    app_write_t *x = (app_write_t *)p;
    x->done(x->arg, x->rc);
    kv_free(x);
}

/* On the replication loop (or in kvops_write_async, refused at once). */
static void write_committed(void *arg, int rc)
{
    app_write_t *x = arg;
    x->rc = rc;
    http_loop_post(x->loop, &x->post);
}

int app_write(node_app_t *app, http_req_t *req, const char *auth_id, const char *ns,
              const kvops_write_t *w, size_t n, void (*done)(void *arg, int rc), void *arg)
{
    app_write_t *x = kv_malloc(sizeof *x);
    if (!x)
        return -ENOMEM;
    x->post.run = write_posted;
    x->done = done;
    x->arg = arg;
    x->loop = http_req_hold(req);
    kvops_write_async(app->ops, auth_id, ns, w, n, write_committed, x);
    return 0;
}

/* ---- operations endpoints ------------------------------------------------------- */

static void ops_text(node_app_t *app, http_req_t *req, metrics_route_t route, const char *ct,
                     metrics_buf_t *b)
{
    http_response_t r = {.status = b->oom ? 500 : 200,
                         .content_type = ct,
                         .body = b->data ? b->data : "",
                         .body_len = b->len};
    app_respond(app, req, route, &r); /* copies the body */
    metrics_buf_free(b);
}

static void render_gauges(node_app_t *app, metrics_buf_t *b)
{
    cache_stats_t cs;
    stor_stats_t ss;
    http_server_stats_t hs = {0};
    cache_get_stats(kvops_cache(app->ops), &cs);
    stor_get_stats(kvops_store(app->ops), &ss);
    if (app->http)
        http_server_get_stats(app->http, &hs);
    metrics_buf_family(b, "gauge", "edgekv_build_info",
                       "1, labelled with this node's build, role and replication protocol.");
    metrics_buf_printf(b, "edgekv_build_info{version=\"%s\",role=\"%s\",protocol=\"%u\"} 1\n",
                       EDGEKV_VERSION, app->role, (unsigned)KV_REPL_PROTOCOL);
    metrics_buf_value(b, "counter", "edgekv_cache_hits_total", "Read cache hits (positive).",
                      cs.hits);
    metrics_buf_value(b, "counter", "edgekv_cache_negative_hits_total",
                      "Read cache hits on absent keys.", cs.negative_hits);
    metrics_buf_value(b, "counter", "edgekv_cache_misses_total", "Read cache misses.", cs.misses);
    metrics_buf_value(b, "counter", "edgekv_cache_evictions_total", "Read cache evictions.",
                      cs.evictions);
    metrics_buf_value(b, "gauge", "edgekv_cache_bytes", "Bytes held by the read cache.", cs.bytes);
    metrics_buf_value(b, "gauge", "edgekv_cache_entries", "Entries in the read cache.", cs.entries);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_live_sst_bytes", "Live SST file bytes.",
                      ss.live_sst_bytes);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_blob_bytes", "Blob file bytes.", ss.blob_bytes);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_memtable_bytes", "Memtable bytes.",
                      ss.memtable_bytes);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_estimated_keys", "Estimated stored keys.",
                      ss.estimated_keys);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_block_cache_bytes", "Block cache usage.",
                      ss.block_cache_bytes);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_background_jobs_running",
                      "RocksDB flushes and compactions running now.", ss.bg_running);
    metrics_buf_value(b, "gauge", "edgekv_rocksdb_background_jobs_pending",
                      "Column families with a flush or compaction waiting for a thread.",
                      ss.bg_pending);
    metrics_buf_value(b, "counter", "edgekv_rocksdb_write_groups_total",
                      "RocksDB write groups (group commit).", ss.commit_groups);
    metrics_buf_value(b, "counter", "edgekv_rocksdb_wal_syncs_total",
                      "WAL syncs (one per write group under sync=always).", ss.wal_syncs);
    metrics_buf_family(b, "summary", "edgekv_rocksdb_wal_sync_duration_seconds",
                       "Time spent in WAL syncs (fsync) since start.");
    metrics_buf_printf(b,
                       "edgekv_rocksdb_wal_sync_duration_seconds_sum %.6f\n"
                       "edgekv_rocksdb_wal_sync_duration_seconds_count %llu\n",
                       (double)ss.wal_sync_micros / 1e6, (unsigned long long)ss.wal_sync_timed);
    hostgauges_render(app->host, b);
    metrics_buf_value(b, "gauge", "edgekv_http_connections_open", "Open client connections.",
                      hs.connections_open);
    metrics_buf_value(b, "counter", "edgekv_http_connections_total", "Accepted connections.",
                      hs.connections_total);
    metrics_buf_value(b, "counter", "edgekv_http_connections_rejected_total",
                      "Connections refused at the cap.", hs.connections_rejected);
    metrics_buf_value(b, "counter", "edgekv_http_parse_errors_total", "Malformed requests.",
                      hs.parse_errors);
    metrics_buf_value(b, "counter", "edgekv_http_timeouts_total", "Idle and slow-client timeouts.",
                      hs.timeouts);
    metrics_buf_value(b, "counter", "edgekv_https_handshakes_total", "HTTPS handshakes completed.",
                      hs.tls_handshakes);
    metrics_buf_value(b, "counter", "edgekv_https_resumed_total",
                      "HTTPS handshakes that resumed a session (ticket).", hs.tls_resumed);
    metrics_buf_value(b, "counter", "edgekv_https_failures_total",
                      "HTTPS handshakes refused or broken, and TLS errors after them.",
                      hs.tls_failures);
    metrics_buf_value(b, "counter", "edgekv_https_handshake_timeouts_total",
                      "HTTPS handshakes cut at their deadline.", hs.tls_timeouts);
}

static const char *link_name(repl_link_state_t l)
{
    static const char *names[] = {"down", "connecting", "syncing", "live", "refused"};
    return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "unknown";
}

bool app_ready(node_app_t *app, char *why, size_t why_len)
{
    replica_status_t st;
    uint64_t stale_ms;
    if (__atomic_load_n(&app->draining, __ATOMIC_RELAXED)) {
        snprintf(why, why_len, "draining (stopping after a signal)");
        return false;
    }
    if (!app->replica || strcmp(app->role, "origin") == 0)
        return true;
    replica_status(app->replica, &st); /* an edge's copy holds no edge list */
    replica_status_free(&st);
    if (st.edge.link != REPL_LINK_LIVE) {
        snprintf(why, why_len, "link %s", link_name(st.edge.link));
        return false;
    }
    if (replica_is_stale(app->replica, &stale_ms)) {
        snprintf(why, why_len, "stale %llu ms", (unsigned long long)stale_ms);
        return false;
    }
    return true;
}

static json_t *replication_json(node_app_t *app)
{
    replica_status_t st;
    json_t *j = NULL;
    if (replica_status(app->replica, &st) != 0) {
        replica_status_free(&st);
        return json_pack("{s:s}", "error", kv_strerror(-ENOMEM));
    }
    if (st.role != REPLICA_ORIGIN) {
        j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:I, s:s, s:s, s:I, s:I}", "history_id",
                      st.history_id, "link", link_name(st.edge.link), "applied_seq",
                      (json_int_t)st.edge.applied_seq, "origin_seq", (json_int_t)st.edge.origin_seq,
                      "lag_seq", (json_int_t)st.edge.lag_seq, "lag_ms", (json_int_t)st.edge.lag_ms,
                      "stale", st.edge.stale, "staleness_ms", (json_int_t)st.edge.staleness_ms,
                      "upstream", st.upstream, "upstream_version", st.edge.upstream_software,
                      "upstream_protocol", (json_int_t)st.edge.upstream_protocol, "snapshots_taken",
                      (json_int_t)st.snapshots_taken);
        json_object_set_new(j, "term", json_integer((json_int_t)st.edge.term));
        json_object_set_new(j, "terms_refused", json_integer((json_int_t)st.edge.terms_refused));
    }
    if (st.role != REPLICA_EDGE) {
        json_t *edges = json_array();
        for (size_t i = 0; i < st.edge_count; i++)
            json_array_append_new(edges, json_pack("{s:I, s:b, s:I, s:I, s:I, s:s, s:I}", "node_id",
                                                   (json_int_t)st.edges[i].node_id, "connected",
                                                   st.edges[i].connected, "acked_seq",
                                                   (json_int_t)st.edges[i].acked_seq, "lag_seq",
                                                   (json_int_t)st.edges[i].lag_seq, "lag_ms",
                                                   (json_int_t)st.edges[i].lag_ms, "version",
                                                   st.edges[i].software, "protocol",
                                                   (json_int_t)st.edges[i].protocol));
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "history_id", st.history_id,
                              "last_seq", (json_int_t)st.origin.last_seq, "log_first_seq",
                              (json_int_t)st.origin.log_first_seq, "writes_committed",
                              (json_int_t)st.origin.writes_committed, "snapshots_served",
                              (json_int_t)st.snapshots_served, "edges", edges);
        json_object_set_new(o, "term", json_integer((json_int_t)st.origin.term));
        if (st.ha_leader) { /* the synchronous standbys (README "Running an HA origin") */
            json_t *names = json_array();
            for (size_t i = 0; i < st.sync_count; i++)
                json_array_append_new(names, json_string(st.sync_names[i]));
            json_object_set_new(o, "sync",
                                json_pack("{s:o, s:I, s:I}", "standbys", names, "acked_seq",
                                          (json_int_t)st.origin.sync_seq, "waiting",
                                          (json_int_t)st.origin.sync_waiting));
        }
        /* A relay: its upstream view, with the links it serves under "downstream". */
        if (st.role == REPLICA_RELAY && j)
            json_object_set_new(j, "downstream", o);
        else if (st.role == REPLICA_RELAY)
            json_decref(o);
        else
            j = o;
    }
    if (j && st.alarm)
        json_object_set_new(j, "alarm", json_string(st.alarm_reason));
    replica_status_free(&st);
    return j;
}

/* The replication port before trust (replica_port_stats): what a flood of
 * connections or bad handshakes did to it. */
static void render_replication_port(node_app_t *app, metrics_buf_t *b)
{
    replica_port_stats_t ps;
    replica_port_stats(app->replica, &ps);
    if (!ps.listening)
        return;
    metrics_buf_value(b, "counter", "edgekv_replication_port_evictions_total",
                      "Connections evicted from the TLS handshake to make room for newer ones.",
                      ps.evicted);
    metrics_buf_value(b, "counter", "edgekv_replication_port_handshake_timeouts_total",
                      "Connections closed at the TLS handshake deadline.", ps.handshake_timeouts);
    metrics_buf_value(b, "counter", "edgekv_replication_port_refused_total",
                      "Connections closed at once (over a cap with none to evict, no memory, "
                      "accept errors).",
                      ps.refused);
    metrics_buf_value(b, "counter", "edgekv_replication_port_handshake_failures_total",
                      "TLS handshakes that failed (no certificate, or one the node refuses).",
                      ps.handshake_failures);
    metrics_buf_value(b, "gauge", "edgekv_replication_port_unauthenticated",
                      "Connections not authenticated now (in the handshake, or closing).",
                      ps.unauthenticated);
}

static void render_replication(node_app_t *app, metrics_buf_t *b)
{
    replica_status_t st;
    if (replica_status(app->replica, &st) != 0) {
        replica_status_free(&st);
        return; /* out of memory: this scrape has no replication series */
    }
    metrics_buf_value(b, "gauge", "edgekv_replication_alarm",
                      "1 when an operator must look (history changed).", st.alarm);
    metrics_buf_value(b, "counter", "edgekv_replication_links_total",
                      "Replication links established (TLS handshake done) since start.",
                      st.links_total);
    if (st.role != REPLICA_ORIGIN) {
        metrics_buf_value(b, "counter", "edgekv_replication_snapshots_taken_total",
                          "Snapshots this node took from its upstream since start.",
                          st.snapshots_taken);
        metrics_buf_value(b, "counter", "edgekv_replication_terms_refused_total",
                          "Upstream frames refused for a term older than one seen (a deposed "
                          "leader) since start.",
                          st.edge.terms_refused);
        metrics_buf_value(b, "gauge", "edgekv_replication_applied_seq",
                          "Last log sequence applied here.", st.edge.applied_seq);
        metrics_buf_value(b, "gauge", "edgekv_replication_origin_seq",
                          "Last sequence the origin announced.", st.edge.origin_seq);
        metrics_buf_value(b, "gauge", "edgekv_replication_lag_seq",
                          "Mutations announced but not applied.", st.edge.lag_seq);
        metrics_buf_value(b, "gauge", "edgekv_replication_lag_ms",
                          "Age of the oldest unapplied announcement.", st.edge.lag_ms);
        metrics_buf_value(b, "gauge", "edgekv_replication_staleness_ms",
                          "Time since this edge was last caught up with the origin.",
                          st.edge.staleness_ms);
        metrics_buf_value(b, "gauge", "edgekv_replication_stale",
                          "1 when past the propagation bound.", st.edge.stale);
        metrics_buf_value(b, "gauge", "edgekv_replication_link_live",
                          "1 when the link to the origin is live.", st.edge.link == REPL_LINK_LIVE);
    }
    if (st.role != REPLICA_EDGE) {
        metrics_buf_value(b, "counter", "edgekv_replication_snapshots_served_total",
                          "Snapshots streamed to edges and relays since start.",
                          st.snapshots_served);
        metrics_buf_value(b, "gauge", "edgekv_replication_last_seq", "Last committed log sequence.",
                          st.origin.last_seq);
        metrics_buf_value(b, "gauge", "edgekv_replication_log_first_seq",
                          "Oldest sequence still in the log.", st.origin.log_first_seq);
        metrics_buf_value(b, "gauge", "edgekv_replication_edges_connected", "Edges connected now.",
                          st.origin.edges_connected);
        render_replication_port(app, b);
        /* Every origin and relay: 0 and 0 without leadership, so one alert
         * rule covers all (deploy/prometheus, EdgekvWritesWaitingForStandby). */
        metrics_buf_value(b, "gauge", "edgekv_replication_sync_standbys",
                          "Synchronous standbys an HA leader has recorded in etcd and counts.",
                          st.sync_count);
        metrics_buf_value(b, "gauge", "edgekv_replication_sync_waiting",
                          "Committed writes waiting for the synchronous standbys' acks.",
                          st.origin.sync_waiting);
        metrics_buf_family(b, "gauge", "edgekv_replication_edge_lag_seq",
                           "Per-edge lag in mutations.");
        for (size_t i = 0; i < st.edge_count; i++)
            metrics_buf_printf(b, "edgekv_replication_edge_lag_seq{node=\"%08x\"} %llu\n",
                               st.edges[i].node_id, (unsigned long long)st.edges[i].lag_seq);
        metrics_buf_family(b, "gauge", "edgekv_replication_edge_lag_ms", "Per-edge lag in ms.");
        for (size_t i = 0; i < st.edge_count; i++)
            metrics_buf_printf(b, "edgekv_replication_edge_lag_ms{node=\"%08x\"} %llu\n",
                               st.edges[i].node_id, (unsigned long long)st.edges[i].lag_ms);
        metrics_buf_family(b, "gauge", "edgekv_replication_edge_info",
                           "1 per edge heard from: the build and protocol of its last Hello.");
        for (size_t i = 0; i < st.edge_count; i++)
            metrics_buf_printf(b,
                               "edgekv_replication_edge_info{node=\"%08x\",version=\"%s\","
                               "protocol=\"%u\"} 1\n",
                               st.edges[i].node_id, st.edges[i].software, st.edges[i].protocol);
    }
    replica_status_free(&st);
}

static void ops_status(node_app_t *app, http_req_t *req)
{
    cache_stats_t cs;
    stor_stats_t ss;
    http_server_stats_t hs = {0};
    uint64_t now = uv_hrtime();
    cache_get_stats(kvops_cache(app->ops), &cs);
    stor_get_sizes(kvops_store(app->ops), &ss); /* /status shows no WAL counter */
    if (app->http)
        http_server_get_stats(app->http, &hs);
    json_t *doc = json_pack(
        "{s:s, s:I, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}}",
        "role", app->role, "node_id", (json_int_t)app->node_id, "version", EDGEKV_VERSION,
        "uptime_s", (json_int_t)((now - app->start_ns) / 1000000000u), "cache", "hits",
        (json_int_t)cs.hits, "misses", (json_int_t)cs.misses, "negative_hits",
        (json_int_t)cs.negative_hits, "bytes", (json_int_t)cs.bytes, "entries",
        (json_int_t)cs.entries, "storage", "live_sst_bytes", (json_int_t)ss.live_sst_bytes,
        "blob_bytes", (json_int_t)ss.blob_bytes, "estimated_keys", (json_int_t)ss.estimated_keys,
        "http", "connections_open", (json_int_t)hs.connections_open, "requests_total",
        (json_int_t)hs.requests_total);
    if (doc && app->replica)
        json_object_set_new(doc, "replication", replication_json(app));
    app_respond_json(app, req, METRICS_ROUTE_STATUS, 200, doc);
}

/* A SHA-256 over the replica's logical content (records, tombstones and
 * namespaces; records expired now left out): equal on two replicas that
 * converged. It reads the whole store, so it runs on the threadpool (never
 * on an HTTP loop), at most KV_OPS_DIGESTS_MAX at a time per node. */
typedef struct {
    node_app_t *app;
    http_req_t *req;
    int64_t now_s;
    int rc;
    uint8_t d[STOR_DIGEST_BYTES];
} digest_job_t;

static void digest_work(void *arg)
{
    digest_job_t *j = arg;
    j->rc = stor_digest(kvops_store(j->app->ops), j->now_s, j->d);
}

static void digest_done(void *arg)
{
    digest_job_t *j = arg;
    char hex[2 * STOR_DIGEST_BYTES + 2];
    metrics_buf_t b = {0};
    for (size_t i = 0; j->rc == 0 && i < sizeof j->d; i++)
        snprintf(hex + 2 * i, 3, "%02x", j->d[i]);
    metrics_buf_printf(&b, "%s\n", j->rc == 0 ? hex : kv_strerror(j->rc));
    __atomic_fetch_sub(&j->app->digests_running, 1, __ATOMIC_RELAXED);
    ops_text(j->app, j->req, METRICS_ROUTE_STATUS, "text/plain", &b);
    kv_free(j);
}

static void ops_digest(node_app_t *app, http_req_t *req)
{
    digest_job_t *j;
    if (__atomic_add_fetch(&app->digests_running, 1, __ATOMIC_RELAXED) > KV_OPS_DIGESTS_MAX) {
        __atomic_fetch_sub(&app->digests_running, 1, __ATOMIC_RELAXED);
        app_rest_error(app, req, METRICS_ROUTE_STATUS, 429, KVOP_CODE_LIMIT,
                       "Too Many Requests: a digest is already running; retry later");
        return;
    }
    if (!(j = kv_calloc(1, sizeof *j))) {
        __atomic_fetch_sub(&app->digests_running, 1, __ATOMIC_RELAXED);
        app_rest_error(app, req, METRICS_ROUTE_STATUS, 500, KVOP_CODE_INTERNAL,
                       "Internal Server Error");
        return;
    }
    j->app = app;
    j->req = req;
    j->now_s = kvops_now_s(app->ops);
    if (app_offload(req, digest_work, digest_done, j) != 0) {
        j->rc = -ENOMEM;
        digest_done(j);
    }
}

bool app_ops_admit(node_app_t *app, http_req_t *req, metrics_route_t route)
{
    const http_header_t *h = http_req_header(req, "Authorization");
    auth_result_t ar = auth_check(app->auth, h ? h->value : NULL, h ? h->value_len : 0,
                                  app->account_id, NULL, true, NULL);
    if (ar == AUTH_OK)
        return true;
    app_rest_error(app, req, route, ar == AUTH_UNAUTHENTICATED ? 401 : 403, KVOP_CODE_AUTH,
                   "Authentication error");
    return false;
}

/* Counted with /healthz in the request metrics: both are probes. */
static void ops_readyz(node_app_t *app, http_req_t *req)
{
    char why[96];
    bool ok = app_ready(app, why, sizeof why);
    metrics_buf_t b = {0};
    metrics_buf_printf(&b, ok ? "ready\n" : "not ready: %s\n", why);
    http_response_t r = {.status = ok ? 200 : 503,
                         .content_type = "text/plain",
                         .body = b.data ? b.data : "",
                         .body_len = b.len};
    app_respond(app, req, METRICS_ROUTE_HEALTHZ, &r);
    metrics_buf_free(&b);
}

static int ops_handle(node_app_t *app, http_req_t *req)
{
    metrics_buf_t b = {0};
    if (backup_handle(app, req))
        return 1;
    if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD)
        return 0;
    if (path_is(req, "/healthz")) {
        metrics_buf_printf(&b, "ok\n");
        ops_text(app, req, METRICS_ROUTE_HEALTHZ, "text/plain", &b);
    } else if (path_is(req, "/readyz")) {
        ops_readyz(app, req);
    } else if (path_is(req, "/metrics")) {
        if (app->metrics_need_token && !app_ops_admit(app, req, METRICS_ROUTE_METRICS))
            return 1;
        metrics_render(app->metrics, &b);
        render_gauges(app, &b);
        if (app->replica)
            render_replication(app, &b);
        ops_text(app, req, METRICS_ROUTE_METRICS, "text/plain; version=0.0.4", &b);
    } else if (path_is(req, "/status")) {
        if (app_ops_admit(app, req, METRICS_ROUTE_STATUS))
            ops_status(app, req);
    } else if (path_is(req, "/digest")) {
        if (app_ops_admit(app, req, METRICS_ROUTE_STATUS))
            ops_digest(app, req);
    } else {
        return 0;
    }
    return 1;
}

/* ---- the handler ------------------------------------------------------------------ */

bool app_announces_body(const http_req_t *req)
{
    if (req->content_length != UINT64_MAX)
        return req->content_length > 0;
    return http_req_header(req, "Transfer-Encoding") != NULL; /* chunked */
}

/* The largest body this request may send: per API, after authentication
 * (binding_body_limit, rest_body_limit); the operations endpoints and
 * unknown paths take none. */
static uint64_t on_head(http_req_t *req, void *ctx)
{
    node_app_t *app = ctx;
    if (is_binding(req))
        return binding_body_limit(app, req);
    if (is_rest(req))
        return rest_body_limit(app, req);
    return 0;
}

static void on_too_large(http_req_t *req, uint64_t len, void *ctx)
{
    node_app_t *app = ctx;
    if (is_binding(req))
        binding_too_large(app, req, len);
    else if (is_rest(req))
        rest_too_large(app, req, len);
    else
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 413, KVOP_CODE_TOO_LARGE,
                       "Request body too large");
}

static void on_request(http_req_t *req, void *ctx)
{
    node_app_t *app = ctx;
    uint64_t stale_ms;
    if (must_refuse_stale(app, req, &stale_ms)) {
        refuse_stale(app, req, stale_ms);
        return;
    }
    if (is_binding(req))
        binding_handle(app, req);
    else if (is_rest(req))
        rest_handle(app, req);
    else if (!ops_handle(app, req))
        app_rest_error(app, req, METRICS_ROUTE_OTHER, 404, KVOP_CODE_NO_ROUTE,
                       "No route for the URI");
}

/* Before a loop polls again (after an iteration of its I/O): the writes
 * its requests submitted (app_write, held by kvops_write_async) go to the
 * replication loop together, and an origin sequences them as one group. */
static void on_tail(void *ctx)
{
    (void)ctx;
    replica_submit_flush();
}

http_handler_t app_http_handler(node_app_t *app)
{
    return (http_handler_t){.head = on_head,
                            .too_large = on_too_large,
                            .request = on_request,
                            .tail = on_tail,
                            .ctx = app};
}
