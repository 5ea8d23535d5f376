/*
 * test_api.c - both HTTP APIs end to end inside one process: the real app
 * and HTTP server on a loopback port, driven with libcurl (and a raw socket
 * where curl would hide the bytes). Checks routing, auth, envelopes, status
 * lines and the exact KV-SPEC texts as a client sees them.
 *
 * Every test runs twice: against a lone origin (the origin core without a
 * listener) and against a replicated origin (mutual-TLS listener, one edge
 * connected, in this process). Writes take one path either way
 * (node/replica/judge.h); after each replicated run the edge must have applied
 * every write and hold the origin's exact content (equal digests).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "app.h"
#include "certs.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "replica.h"
#include "state.h"
#include "tokens.h"

#define TOKEN    "test-token-0123456789"
#define RO_TOKEN "read-only-token-0123"
#define ACCT     "acct0123"

typedef struct {
    char dir[64];
    stor_t *store;
    cache_t *cache;
    kvops_t *ops;
    replica_t *replica;
    /* Replicated runs: the edge, its store and cache. */
    replica_t *edge;
    stor_t *edge_store;
    cache_t *edge_cache;
    auth_t *auth;
    metrics_t *metrics;
    http_server_t *http;
    node_app_t app;
    int port;
    char ns[KV_NS_ID_LEN + 1];
} fx_t;

typedef struct {
    long status;
    char reason[600];
    char *body;
    size_t len;
    char headers[4096];
} resp_t;

static fx_t *g;
static json_t *g_info; /* result_info of the last expect_rest_ok */

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    resp_t *r = arg;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t len = sz * n;
    if (len > 12 && memcmp(p, "HTTP/1.1 ", 9) == 0) {
        size_t rl = len - 13;
        while (rl && (p[13 + rl - 1] == '\r' || p[13 + rl - 1] == '\n'))
            rl--;
        snprintf(r->reason, sizeof r->reason, "%.*s", (int)rl, p + 13);
        r->headers[0] = '\0';
    } else if (strlen(r->headers) + len < sizeof r->headers) {
        strncat(r->headers, p, len);
    }
    return len;
}

/* One request. hdrs: NULL-terminated list of "Name: value". */
static resp_t req(const char *method, const char *path, const char *const *hdrs, const void *body,
                  size_t body_len)
{
    resp_t r = {0};
    char url[4096];
    CURL *c = curl_easy_init();
    struct curl_slist *list = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    list = curl_slist_append(list, "Expect:");
    for (; hdrs && *hdrs; hdrs++)
        list = curl_slist_append(list, *hdrs);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = calloc(1, 1);
    return r;
}

static const char *const AUTH[] = {"Authorization: Bearer " TOKEN, NULL};

static resp_t rest(const char *method, const char *sub, const void *body, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "/client/v4/accounts/" ACCT "/storage/kv/namespaces%s", sub);
    return req(method, path, AUTH, body, len);
}

static resp_t nsreq(const char *method, const char *sub, const char *body)
{
    char path[2048];
    snprintf(path, sizeof path, "/%s%s", g->ns, sub);
    return rest(method, path, body, body ? strlen(body) : 0);
}

/* A binding request with the namespace header and token. */
static resp_t bindreq(const char *method, const char *path, const char *extra, const void *body,
                      size_t len)
{
    char nsh[80];
    const char *h[4] = {nsh, "Authorization: Bearer " TOKEN, extra, NULL};
    snprintf(nsh, sizeof nsh, "X-EdgeKV-Namespace: %s", g->ns);
    return req(method, path, h, body, len);
}

static void done(resp_t *r)
{
    free(r->body);
}

/* Assert a REST failure envelope with one error. */
static void expect_rest_error(resp_t r, long status, int code, const char *msg)
{
    json_t *d = json_loads(r.body, 0, NULL), *e;
    assert_int_equal(r.status, status);
    assert_non_null(d);
    assert_true(json_is_false(json_object_get(d, "success")));
    assert_true(json_is_null(json_object_get(d, "result")));
    e = json_array_get(json_object_get(d, "errors"), 0);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
    json_decref(d);
    done(&r);
}

static json_t *expect_rest_ok(resp_t r)
{
    json_t *d = json_loads(r.body, 0, NULL), *res;
    if (r.status != 200)
        fprintf(stderr, "unexpected %ld: %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    assert_non_null(d);
    assert_true(json_is_true(json_object_get(d, "success")));
    assert_int_equal(json_array_size(json_object_get(d, "errors")), 0);
    res = json_incref(json_object_get(d, "result"));
    json_decref(g_info);
    g_info = json_incref(json_object_get(d, "result_info"));
    json_decref(d);
    done(&r);
    return res;
}

static void expect_bind_error(resp_t r, long status, const char *reason)
{
    assert_int_equal(r.status, status);
    assert_string_equal(r.reason, reason);
    done(&r);
}

static void reload_tokens(void *arg)
{
    fx_t *f = arg;
    tokens_reload(f->store, f->auth);
}

static void open_store(const char *dir, const char *sub, stor_t **out)
{
    char path[128];
    stor_options_t o;
    stor_options_default(&o);
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    o.path = path;
    o.sync = STOR_SYNC_OFF;
    assert_int_equal(stor_open(&o, out), 0);
}

static void replica_cfg(fx_t *f, replica_config_t *rc, replica_role_t role, uint32_t id,
                        const char *name)
{
    replica_config_defaults(rc, role);
    rc->node_id = id;
    snprintf(rc->host, sizeof rc->host, "127.0.0.1");
    snprintf(rc->ca_file, sizeof rc->ca_file, "%s/certs/ca.crt", f->dir);
    snprintf(rc->cert_file, sizeof rc->cert_file, "%s/certs/%s.crt", f->dir, name);
    snprintf(rc->key_file, sizeof rc->key_file, "%s/certs/%s.key", f->dir, name);
}

/* The origin's replica: lone, or listening with an edge connected. */
static void start_replication(fx_t *f, bool replicated)
{
    replica_config_t rc;
    char certs[96];
    replica_cfg(f, &rc, REPLICA_ORIGIN, 3, "origin");
    rc.store = f->store;
    rc.cache = f->cache;
    rc.on_tokens = reload_tokens;
    rc.on_tokens_arg = f;
    rc.lone = !replicated;
    rc.port = 0;
    if (replicated) {
        snprintf(certs, sizeof certs, "%s/certs", f->dir);
        assert_int_equal(certs_create_ca(certs, 1), 0);
        assert_int_equal(certs_issue(certs, "origin", "origin", 1, NULL, 0), 0);
        assert_int_equal(certs_issue(certs, "edge", "edge1", 1, NULL, 0), 0);
    }
    assert_int_equal(replica_start(&rc, &f->replica), 0);
    kvops_set_replica(f->ops, f->replica);
    if (!replicated)
        return;
    f->app.replica = f->replica;
    open_store(f->dir, "edge", &f->edge_store);
    assert_int_equal(cache_create(1 << 20, &f->edge_cache), 0);
    replica_cfg(f, &rc, REPLICA_EDGE, 4, "edge1");
    rc.store = f->edge_store;
    rc.cache = f->edge_cache;
    rc.port = replica_port(f->replica);
    assert_int_equal(replica_start(&rc, &f->edge), 0);
}

static int setup(void **state, bool replicated)
{
    fx_t *f = calloc(1, sizeof *f);
    stor_ns_t ns;
    http_config_t hc = {0};
    auth_token_t toks[2] = {
        {.token = TOKEN, .account = ACCT, .write = true},
        {.token = RO_TOKEN, .account = ACCT, .write = false},
    };
    snprintf(f->dir, sizeof f->dir, "/tmp/edgekv-api-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    open_store(f->dir, "origin", &f->store);
    assert_int_equal(cache_create(4 << 20, &f->cache), 0);
    assert_int_equal(kvops_create(f->store, f->cache, &f->ops), 0);
    assert_int_equal(auth_create(toks, 2, &f->auth), 0);
    assert_int_equal(metrics_create(1, &f->metrics), 0);
    f->app = (node_app_t){.ops = f->ops,
                          .auth = f->auth,
                          .metrics = f->metrics,
                          .role = "origin",
                          .node_id = 3,
                          .account_id = ACCT};
    start_replication(f, replicated);
    assert_int_equal(kvops_ns_create(f->ops, NULL, ACCT, "fixture", &ns), 0);
    memcpy(f->ns, ns.id, sizeof f->ns);
    hc.host = "127.0.0.1";
    hc.port = 0;
    hc.loops = 1;
    hc.handler = app_http_handler(&f->app);
    assert_int_equal(http_server_start(&hc, &f->http), 0);
    f->app.http = f->http;
    f->port = http_server_port(f->http);
    g = f;
    *state = f;
    return 0;
}

static int setup_lone(void **state)
{
    return setup(state, false);
}

static int setup_replicated(void **state)
{
    return setup(state, true);
}

/* The edge caught up with everything the origin committed, and holds the
 * same content. Waits (the edge applies asynchronously); the deadline only
 * ends a wait that would never succeed. The origin's status is published
 * once per iteration of its replication loop, after the writers are
 * answered: a test that reads it right after its last answer can see the
 * seq before that write, equal to the edge's, while the origin's store
 * already holds the write. So the wait is for the same content too. */
static void check_edge_converged(fx_t *f)
{
    replica_status_t o, e;
    uint64_t last = 0, applied = 0;
    bool live = false, same = false;
    uint8_t od[STOR_DIGEST_BYTES], ed[STOR_DIGEST_BYTES];
    for (int i = 0; i < 30000 && !(live && applied == last && same); i++) {
        if (i)
            usleep(1000);
        assert_int_equal(replica_status(f->replica, &o), 0);
        last = o.origin.last_seq;
        replica_status_free(&o);
        assert_int_equal(replica_status(f->edge, &e), 0);
        live = e.edge.link == REPL_LINK_LIVE;
        applied = e.edge.applied_seq;
        replica_status_free(&e);
        if (live && applied == last) {
            assert_int_equal(stor_digest(f->store, 0, od), 0);
            assert_int_equal(stor_digest(f->edge_store, 0, ed), 0);
            same = memcmp(od, ed, STOR_DIGEST_BYTES) == 0;
        }
    }
    assert_int_equal(applied, last);
    assert_memory_equal(od, ed, STOR_DIGEST_BYTES);
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    http_server_stop(f->http, 1000);
    if (f->edge) {
        check_edge_converged(f);
        replica_stop(f->edge);
        cache_destroy(f->edge_cache);
        stor_close(f->edge_store);
    }
    replica_stop(f->replica);
    kvops_destroy(f->ops);
    cache_destroy(f->cache);
    stor_close(f->store);
    auth_destroy(f->auth);
    metrics_destroy(f->metrics);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- REST ------------------------------------------------------------------------- */

static void test_rest_auth(void **state)
{
    const char *none[] = {NULL};
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    const char *ro[] = {"Authorization: Bearer " RO_TOKEN, NULL};
    char path[256];
    (void)state;
    expect_rest_error(
        req("GET", "/client/v4/accounts/" ACCT "/storage/kv/namespaces", none, NULL, 0), 401, 10000,
        "Authentication error");
    expect_rest_error(
        req("GET", "/client/v4/accounts/" ACCT "/storage/kv/namespaces", bad, NULL, 0), 401, 10000,
        "Authentication error");
    /* Another account's path with a valid token. */
    expect_rest_error(req("GET", "/client/v4/accounts/other/storage/kv/namespaces", AUTH, NULL, 0),
                      403, 10000, "Authentication error");
    /* A read-only token may read but not write. */
    snprintf(path, sizeof path, "/client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/keys",
             g->ns);
    resp_t r = req("GET", path, ro, NULL, 0);
    assert_int_equal(r.status, 200);
    done(&r);
    snprintf(path, sizeof path, "/client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/values/k",
             g->ns);
    expect_rest_error(req("PUT", path, ro, "v", 1), 403, 10000, "Authentication error");
    expect_rest_error(req("GET", "/client/v4/nothing", AUTH, NULL, 0), 404, 7003,
                      "No route for the URI");
    expect_rest_error(rest("PATCH", "", NULL, 0), 405, 7001, "Method not allowed");
}

static void test_rest_namespaces(void **state)
{
    json_t *res, *info;
    char id[KV_NS_ID_LEN + 1], sub[64];
    size_t i;
    (void)state;
    res = expect_rest_ok(rest("POST", "", "{\"title\":\"alpha\"}", 17));
    assert_string_equal(json_string_value(json_object_get(res, "title")), "alpha");
    assert_int_equal(strlen(json_string_value(json_object_get(res, "id"))), 32);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(res, "id")));
    json_decref(res);
    expect_rest_error(rest("POST", "", "{\"title\":\"alpha\"}", 17), 400, 10014,
                      "create namespace: 'a namespace with this account ID and title already "
                      "exists'");
    expect_rest_error(
        rest("POST", "", "{\"title\":\"\"}", 12), 400, 10018,
        "create namespace: 'request body must be {\"title\": \"<non-empty title>\"}'");
    for (i = 0; i < 5; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"title\":\"t%zu\"}", i);
        json_decref(expect_rest_ok(rest("POST", "", body, (size_t)n)));
    }
    /* 7 namespaces (fixture, alpha, t0..t4): pages of 3 by title. */
    res = expect_rest_ok(rest("GET", "?per_page=3&page=3&order=title&direction=asc", NULL, 0));
    assert_int_equal(json_array_size(res), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "title")), "t4");
    info = g_info;
    assert_int_equal(json_integer_value(json_object_get(info, "total_count")), 7);
    assert_int_equal(json_integer_value(json_object_get(info, "page")), 3);
    json_decref(res);
    res = expect_rest_ok(rest("GET", "?per_page=3&page=4", NULL, 0));
    assert_int_equal(json_array_size(res), 0); /* the SDK stops on an empty page */
    json_decref(res);
    snprintf(sub, sizeof sub, "/%s", id);
    res = expect_rest_ok(rest("PUT", sub, "{\"title\":\"beta\"}", 16));
    assert_string_equal(json_string_value(json_object_get(res, "title")), "beta");
    json_decref(res);
    res = expect_rest_ok(rest("GET", sub, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(res, "title")), "beta");
    json_decref(res);
    json_decref(expect_rest_ok(rest("DELETE", sub, NULL, 0)));
    expect_rest_error(rest("GET", sub, NULL, 0), 404, 10013,
                      "get namespace: 'namespace not found'");
    expect_rest_error(rest("GET", "/ffffffffffffffffffffffffffffffff/keys", NULL, 0), 404, 10013,
                      "list keys: 'namespace not found'");
}

static void test_rest_values(void **state)
{
    const char *mp_ct = "Content-Type: multipart/form-data; boundary=XyZ";
    const char *mp = "--XyZ\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nhello\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                     "{\"n\":1}\r\n--XyZ--\r\n";
    const char *mph[] = {"Authorization: Bearer " TOKEN, mp_ct, NULL};
    char path[256];
    resp_t r;
    json_t *res;
    (void)state;
    /* Raw body, binary-safe, JSON stored verbatim. */
    json_decref(expect_rest_ok(nsreq("PUT", "/values/raw", "{\"value\":1}")));
    /* A PUT's envelope is written without jansson: the bytes jansson
     * prints for it, and what Cloudflare's API sends. */
    json_t *env = json_pack("{s:b, s:[], s:[], s:n}", "success", 1, "errors", "messages", "result");
    char *env_text = json_dumps(env, JSON_COMPACT);
    assert_string_equal(APP_REST_OK_NULL, env_text);
    free(env_text);
    json_decref(env);
    r = nsreq("PUT", "/values/raw2", "v");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":null}");
    done(&r);
    r = nsreq("GET", "/values/raw", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"value\":1}");
    done(&r);
    /* Percent-encoded key: "a/b?c" */
    json_decref(expect_rest_ok(nsreq("PUT", "/values/a%2Fb%3Fc?expiration_ttl=120", "x")));
    r = nsreq("GET", "/values/a%2Fb%3Fc", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "expiration: "));
    done(&r);
    /* Multipart with metadata. */
    snprintf(path, sizeof path, "/client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/values/mp",
             g->ns);
    json_decref(expect_rest_ok(req("PUT", path, mph, mp, strlen(mp))));
    r = nsreq("GET", "/values/mp", NULL);
    assert_string_equal(r.body, "hello");
    done(&r);
    res = expect_rest_ok(nsreq("GET", "/metadata/mp", NULL));
    assert_int_equal(json_integer_value(json_object_get(res, "n")), 1);
    json_decref(res);
    /* Errors. */
    expect_rest_error(nsreq("GET", "/values/missing", NULL), 404, 10009, "get: 'key not found'");
    expect_rest_error(nsreq("PUT", "/values/k?expiration_ttl=30", "v"), 400, 10033,
                      "put: 'Invalid expiration_ttl of 30. Expiration TTL must be at least 60.'");
    expect_rest_error(nsreq("PUT", "/values/k?expiration=1000", "v"), 400, 10033,
                      "put: 'Invalid expiration of 1000. Please specify integer greater than the "
                      "current number of seconds since the UNIX epoch.'");
    expect_rest_error(nsreq("PUT", "/values/..", "v"), 400, 10019,
                      "put: 'Illegal key name \"..\". Please use a different name.'");
    json_decref(expect_rest_ok(nsreq("DELETE", "/values/mp", NULL)));
    expect_rest_error(nsreq("GET", "/metadata/mp", NULL), 404, 10009, "get: 'key not found'");
    json_decref(expect_rest_ok(nsreq("DELETE", "/values/never-existed", NULL)));
}

#define RANGE_MSG "Value out of range. Must be between -2147483648 and 2147483647 (inclusive)."

/* Absurd numbers get rule 11's answer, never an overflow or an
 * out-of-range cast (the sanitizer build would report either): REST query
 * options and every numeric form of a bulk item (KV-SPEC §2 rules 7, 9,
 * 11, 12). */
static void test_rest_numbers(void **state)
{
    static const char *const queries[] = {"?expiration_ttl=9223372036000000000",
                                          "?expiration_ttl=99999999999999999999",
                                          "?expiration_ttl=1e300",
                                          "?expiration_ttl=-1e300",
                                          "?expiration_ttl=2147483648",
                                          "?expiration=1e300",
                                          "?expiration=9223372036854775807",
                                          "?expiration=-9223372036854775808",
                                          "?expiration_ttl=1e300&expiration=60"};
    static const char *const items[] = {"\"expiration_ttl\":1e300",
                                        "\"expiration_ttl\":-1e300",
                                        "\"expiration_ttl\":9223372036000000000",
                                        "\"expiration_ttl\":\"1e300\"",
                                        "\"expiration\":1e300",
                                        "\"expiration\":9223372036854775807",
                                        "\"expiration\":\"99999999999999999999\"",
                                        "\"expiration\":1.5e10"};
    char sub[128], body[256];
    (void)state;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        snprintf(sub, sizeof sub, "/values/n%s", queries[i]);
        expect_rest_error(nsreq("PUT", sub, "v"), 400, 10033, "put: '" RANGE_MSG "'");
    }
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        snprintf(body, sizeof body, "[{\"key\":\"n\",\"value\":\"v\",%s}]", items[i]);
        expect_rest_error(nsreq("PUT", "/bulk", body), 400, 10033, "bulk put: '" RANGE_MSG "'");
    }
    /* The largest TTL the runtime can send is a valid one; a fraction drops. */
    json_decref(expect_rest_ok(nsreq("PUT", "/values/n?expiration_ttl=2147483647", "v")));
    json_decref(expect_rest_ok(
        nsreq("PUT", "/bulk", "[{\"key\":\"n\",\"value\":\"v\",\"expiration_ttl\":60.5}]")));
    expect_rest_error(nsreq("PUT", "/values/n?expiration_ttl=abc", "v"), 400, 10033,
                      "put: 'Invalid expiration_ttl of 0. Please specify integer greater than 0.'");
}

/* Resident memory of this process (the server runs in it), in KiB. */
static long rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* A bulk body is scanned before it is parsed: 20 MB of tiny values (ten
 * million JSON values, gigabytes as a JSON tree) is refused without
 * building one, and the item cap is applied before the parse too. The
 * scan and the parse run on the threadpool, so the answers still come. */
static void test_bulk_scanned_before_parse(void **state)
{
    size_t n = 20u * 1000u * 1000u, i;
    char *body = malloc(n + 8), msg[160];
    long before;
    (void)state;
    assert_non_null(body);
    body[0] = '[';
    for (i = 1; i + 4 < n; i += 2)
        body[i] = '0', body[i + 1] = ',';
    body[i++] = '0';
    body[i++] = ']';
    body[i] = '\0';
    before = rss_kib();
    snprintf(msg, sizeof msg, "bulk put: 'a bulk request may hold at most %d items'",
             KV_BULK_WRITE_MAX_ITEMS);
    char sub[64];
    snprintf(sub, sizeof sub, "/%s/bulk", g->ns);
    expect_rest_error(rest("PUT", sub, body, i), 400, 10024, msg);
    /* The body (here twice: the client's copy and the server's) but no tree. */
    assert_true(rss_kib() - before < 160 * 1024);
    /* One item of millions of values: the value cap. */
    size_t m = (size_t)snprintf(body, n, "[{\"key\":\"k\",\"value\":\"v\",\"metadata\":[");
    for (; m + 6 < n; m += 2)
        body[m] = '1', body[m + 1] = ',';
    body[m++] = '1';
    body[m++] = ']';
    body[m++] = '}';
    body[m++] = ']';
    snprintf(msg, sizeof msg, "bulk put: 'request body holds more than %u JSON values'",
             KV_BULK_JSON_VALUES_MAX);
    expect_rest_error(rest("PUT", sub, body, m), 400, 10001, msg);
    assert_true(rss_kib() - before < 160 * 1024);
    free(body);
    /* A delete body is scanned alike. */
    n = (size_t)snprintf(msg, sizeof msg, "[\"a\",\"b,c\",{\"name\":\"d\"}]");
    json_t *res = expect_rest_ok(nsreq("DELETE", "/bulk", msg));
    assert_int_equal(json_integer_value(json_object_get(res, "successful_key_count")), 3);
    json_decref(res);
}

static void test_rest_keys_and_bulk(void **state)
{
    char body[8192], sub[256], names[64][16];
    size_t n = 0, i, seen = 0;
    json_t *res;
    const char *cursor = "";
    (void)state;
    /* 25 keys through bulk put, metadata on one, base64 on another. */
    n += (size_t)snprintf(body + n, sizeof body - n, "[");
    for (i = 0; i < 25; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "%s{\"key\":\"k%02zu\",\"value\":\"v%zu\"%s}", i ? "," : "", i, i,
                              i == 3   ? ",\"metadata\":{\"m\":3}"
                              : i == 4 ? ",\"value\":\"aGk=\",\"base64\":true"
                                       : "");
    n += (size_t)snprintf(body + n, sizeof body - n, "]");
    res = expect_rest_ok(nsreq("PUT", "/bulk", body));
    assert_int_equal(json_integer_value(json_object_get(res, "successful_key_count")), 25);
    assert_int_equal(json_array_size(json_object_get(res, "unsuccessful_keys")), 0);
    json_decref(res);
    resp_t r = nsreq("GET", "/values/k04", NULL);
    assert_string_equal(r.body, "hi");
    done(&r);
    /* A text value holding U+0000 is stored whole (3 bytes), not refused. */
    json_decref(
        expect_rest_ok(nsreq("PUT", "/bulk", "[{\"key\":\"nul\",\"value\":\"a\\u0000b\"}]")));
    r = nsreq("GET", "/values/nul", NULL);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.body, "a\0b", 3);
    done(&r);
    json_decref(expect_rest_ok(nsreq("DELETE", "/values/nul", NULL)));
    /* Page through with limit=10: 10 + 10 + 5, in order, cursor "" at the end. */
    for (int page = 0; page < 3; page++) {
        char q[512];
        snprintf(q, sizeof q, "/keys?limit=10%s%s", cursor[0] ? "&cursor=" : "", cursor);
        res = expect_rest_ok(nsreq("GET", q, NULL));
        for (i = 0; i < json_array_size(res); i++, seen++) {
            json_t *k = json_array_get(res, i);
            snprintf(names[seen], sizeof names[seen], "%s",
                     json_string_value(json_object_get(k, "name")));
            if (strcmp(names[seen], "k03") == 0)
                assert_int_equal(
                    json_integer_value(json_object_get(json_object_get(k, "metadata"), "m")), 3);
        }
        snprintf(sub, sizeof sub, "%s", json_string_value(json_object_get(g_info, "cursor")));
        cursor = sub;
        json_decref(res);
        if (!cursor[0])
            break;
    }
    assert_int_equal(seen, 25);
    assert_string_equal(cursor, "");
    for (i = 0; i < 25; i++) {
        char want[8];
        snprintf(want, sizeof want, "k%02zu", i);
        assert_string_equal(names[i], want);
    }
    res = expect_rest_ok(nsreq("GET", "/keys?prefix=k1", NULL));
    assert_int_equal(json_array_size(res), 10);
    json_decref(res);
    expect_rest_error(nsreq("GET", "/keys?limit=5", NULL), 400, 10022,
                      "list keys: 'Invalid limit. Please specify an integer between 10 and 1000.'");
    /* Bulk errors, as production words them. */
    expect_rest_error(
        nsreq("PUT", "/bulk", "[{\"key\":\"b\",\"value\":\"aGVsbG!=\",\"base64\":true}]"), 400,
        10012,
        "bulk put: 'could not base64 decode value for key: \"b\", err: 'illegal "
        "base64 data at input byte 6''");
    expect_rest_error(
        nsreq("PUT", "/bulk", "[{\"key\":\"b\",\"value\":\"x\",\"expiration\":1647570824}]"), 400,
        10033,
        "bulk put: 'Invalid expiration of 1647570824. Please specify integer greater "
        "than the current number of seconds since the UNIX epoch.'");
    /* Bulk get, with metadata. */
    res = expect_rest_ok(
        nsreq("POST", "/bulk/get", "{\"keys\":[\"k03\",\"nope\"],\"withMetadata\":true}"));
    json_t *vals = json_object_get(res, "values");
    assert_string_equal(json_string_value(json_object_get(json_object_get(vals, "k03"), "value")),
                        "v3");
    assert_true(json_is_null(json_object_get(vals, "nope")));
    json_decref(res);
    /* Both bulk delete forms. */
    res = expect_rest_ok(nsreq("DELETE", "/bulk", "[\"k00\",\"k01\"]"));
    assert_int_equal(json_integer_value(json_object_get(res, "successful_key_count")), 2);
    json_decref(res);
    json_decref(expect_rest_ok(nsreq("POST", "/bulk/delete", "[\"k02\"]")));
    res = expect_rest_ok(nsreq("GET", "/keys", NULL));
    assert_int_equal(json_array_size(res), 22);
    json_decref(res);
}

/* A bulk body of the usual shape is read directly (node/api/bulk_scan.h);
 * one with another field goes to jansson. Both store the same values and
 * metadata, and a body that is not JSON is refused as such even when an
 * earlier item would fail a check. */
static void test_bulk_read_and_parse_agree(void **state)
{
    static const char *const items[] = {
        "\"value\":\"plain\"",
        "\"value\":\"q\\\"b\\\\s\\/ \\b\\f\\n\\r\\t\\u00e9\\u20ac\\u0000 \xf0\x9f\x98\x80\"",
        "\"value\":\"aGk=\",\"base64\":true",
        "\"value\":\"v\",\"metadata\":{\"n\":[1,-0,2.5e3,1E2,true,null],\"s\":\"\\u00e9\\n\"}",
        "\"value\":\"v\",\"metadata\":\"text\",\"expiration_ttl\":3600",
        "\"value\":\"v\",\"base64\":false,\"metadata\":null,\"expiration\":null",
    };
    char body[1024], sub[64];
    (void)state;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        resp_t a, b;
        json_t *ma, *mb;
        snprintf(body, sizeof body, "[{\"key\":\"f%zu\",%s}]", i, items[i]);
        json_decref(expect_rest_ok(nsreq("PUT", "/bulk", body)));
        snprintf(body, sizeof body, "[{\"key\":\"j%zu\",%s,\"other\":[1]}]", i, items[i]);
        json_decref(expect_rest_ok(nsreq("PUT", "/bulk", body)));
        snprintf(sub, sizeof sub, "/values/f%zu", i);
        a = nsreq("GET", sub, NULL);
        snprintf(sub, sizeof sub, "/values/j%zu", i);
        b = nsreq("GET", sub, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(b.status, 200);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.body, b.body, a.len);
        done(&a), done(&b);
        snprintf(sub, sizeof sub, "/metadata/f%zu", i);
        ma = expect_rest_ok(nsreq("GET", sub, NULL));
        snprintf(sub, sizeof sub, "/metadata/j%zu", i);
        mb = expect_rest_ok(nsreq("GET", sub, NULL));
        assert_true(json_equal(ma, mb));
        json_decref(ma), json_decref(mb);
    }
    /* The value with escapes, byte for byte. */
    resp_t r = nsreq("GET", "/values/f1", NULL);
    assert_int_equal(r.len, 23);
    assert_memory_equal(r.body, "q\"b\\s/ \b\f\n\r\t\xc3\xa9\xe2\x82\xac\0 \xf0\x9f\x98\x80", 23);
    done(&r);
    /* Syntax is judged before any item: an illegal key first, bad JSON later. */
    expect_rest_error(nsreq("PUT", "/bulk", "[{\"key\":\"..\",\"value\":\"v\"},{\"key\":\"b\"]"),
                      400, 10001, "bulk put: 'request body must be a JSON array'");
    expect_rest_error(
        nsreq("PUT", "/bulk", "[{\"key\":\"..\",\"value\":\"v\"},{\"key\":\"b\",\"value\":\"v\"}]"),
        400, 10019, "bulk put: 'Illegal key name \"..\". Please use a different name.'");
    expect_rest_error(nsreq("DELETE", "/bulk", "[\"ok\",\"..\"]"), 400, 10019,
                      "bulk remove keys: 'Illegal key name \"..\". Please use a different name.'");
}

/* ---- binding ------------------------------------------------------------------------ */

static void test_binding_get_put_delete(void **state)
{
    resp_t r;
    (void)state;
    r = bindreq("PUT", "/b%20key?urlencoded=true&expiration_ttl=300",
                "CF-KV-Metadata: {\"a\":\"b\"}", "value-1", 7);
    assert_int_equal(r.status, 200);
    done(&r);
    r = bindreq("GET", "/b%20key?urlencoded=true", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "value-1");
    assert_non_null(strstr(r.headers, "CF-KV-Metadata: {\"a\":\"b\"}\r\n"));
    assert_non_null(strstr(r.headers, "CF-Expiration: "));
    done(&r);
    expect_bind_error(bindreq("GET", "/missing?urlencoded=true", NULL, NULL, 0), 404, "Not Found");
    expect_bind_error(bindreq("GET", "/k?urlencoded=true&cache_ttl=10", NULL, NULL, 0), 400,
                      "Invalid cache_ttl of 10. Cache TTL must be at least 30.");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=0", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of 0. Please specify integer greater than 0.");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=30", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of 30. Expiration TTL must be at least 60.");
    expect_bind_error(bindreq("PUT", "/k%zz?urlencoded=true", NULL, "v", 1), 400,
                      "Could not URL-decode key name");
    /* TTL is checked before metadata, metadata before the value. */
    expect_bind_error(
        bindreq("PUT", "/k?urlencoded=true&expiration_ttl=5", "CF-KV-Metadata: {bad", "v", 1), 400,
        "Invalid expiration_ttl of 5. Expiration TTL must be at least 60.");
    char big[KV_METADATA_MAX_BYTES + 64];
    memset(big, 0, sizeof big);
    strcpy(big, "CF-KV-Metadata: \"");
    memset(big + strlen(big), 'm', KV_METADATA_MAX_BYTES - 1);
    strcat(big, "\"");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true", big, "v", 1), 413,
                      "Metadata length of 1025 exceeds limit of 1024.");
    r = bindreq("DELETE", "/b%20key?urlencoded=true", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    done(&r);
    expect_bind_error(bindreq("GET", "/b%20key?urlencoded=true", NULL, NULL, 0), 404, "Not Found");
    /* Auth and namespace. */
    const char *noauth[] = {"X-EdgeKV-Namespace: 0123456789abcdef0123456789abcdef", NULL};
    expect_bind_error(req("GET", "/k", noauth, NULL, 0), 401, "Unauthorized");
    const char *nons[] = {"X-EdgeKV-Namespace: 0123456789abcdef0123456789abcdef",
                          "Authorization: Bearer " TOKEN, NULL};
    expect_bind_error(req("GET", "/k", nons, NULL, 0), 400,
                      "Namespace 0123456789abcdef0123456789abcdef not found");
}

/* Send `out` and return what comes back until the server closes or
 * nothing arrives for timeout_s seconds (in a static buffer, valid until
 * the next exchange). */
static char *exchange(const char *out, size_t len, int timeout_s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {timeout_s, 0};
    static char buf[8192];
    size_t n = 0;
    ssize_t k;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(send(fd, out, len, 0), (ssize_t)len);
    while (n < sizeof buf - 1 && (k = recv(fd, buf + n, sizeof buf - 1 - n, 0)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* A raw exchange: every caller expects a close; the receive timeout only
 * ends a test whose server hangs, so it is generous for a loaded machine. */
static char *raw(const char *out, size_t len)
{
    return exchange(out, len, 60);
}

static void test_binding_value_too_large(void **state)
{
    char head[512];
    (void)state;
    /* Content-Length decides before a byte of the body is read (rule 14). */
    snprintf(head, sizeof head,
             "PUT /big?urlencoded=true HTTP/1.1\r\nHost: x\r\nX-EdgeKV-Namespace: %s\r\n"
             "Authorization: Bearer " TOKEN "\r\nContent-Length: %u\r\n\r\n",
             g->ns, KV_VALUE_MAX_BYTES + 1);
    char *resp = raw(head, strlen(head));
    const char *want = "HTTP/1.1 413 Value length of 26214401 exceeds limit of 26214400.\r\n";
    assert_memory_equal(resp, want, strlen(want));
    /* The key is still checked first. */
    snprintf(head, sizeof head,
             "PUT /..?urlencoded=true HTTP/1.1\r\nHost: x\r\nX-EdgeKV-Namespace: %s\r\n"
             "Authorization: Bearer " TOKEN "\r\nContent-Length: %u\r\n\r\n",
             g->ns, KV_VALUE_MAX_BYTES + 1);
    resp = raw(head, strlen(head));
    want = "HTTP/1.1 400 Illegal key name \"..\". Please use a different name.\r\n";
    assert_memory_equal(resp, want, strlen(want));
}

/* Send a head (and maybe the start of a body) and never the rest: the
 * answer must come without the body. Returns what arrived within a few
 * seconds (the server closes after such an answer). */
static char *head_only(const char *out)
{
    return exchange(out, strlen(out), 10);
}

static void expect_head_answer(const char *resp, const char *status_line, const char *body_part)
{
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        fprintf(stderr, "got [%.200s]\n", resp);
    assert_memory_equal(resp, status_line, strlen(status_line));
    if (body_part)
        assert_non_null(strstr(resp, body_part));
}

/* A request that will be refused is refused when its head arrives: no byte
 * of an announced body is waited for or buffered (a 100 MB bulk body, a
 * 20 MB value, a chunked body). The refusal is the one the request would
 * get after its body: 401/403 in each API's envelope. An admitted request
 * keeps its size rules. */
static void test_refused_before_body(void **state)
{
    char head[1024];
    const char *const auths[] = {"", "Authorization: Bearer nope\r\n",
                                 "Authorization: Bearer " RO_TOKEN "\r\n"};
    const char *const rest_lines[] = {"HTTP/1.1 401 ", "HTTP/1.1 401 ", "HTTP/1.1 403 "};
    const char *const bind_lines[] = {"HTTP/1.1 401 Unauthorized\r\n",
                                      "HTTP/1.1 401 Unauthorized\r\n",
                                      "HTTP/1.1 403 Forbidden\r\n"};
    (void)state;
    for (int i = 0; i < 3; i++) {
        snprintf(head, sizeof head,
                 "PUT /client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/bulk HTTP/1.1\r\n"
                 "Host: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
                 g->ns, auths[i]);
        expect_head_answer(head_only(head), rest_lines[i], "\"message\":\"Authentication error\"");
        snprintf(head, sizeof head,
                 "PUT /client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/values/k HTTP/1.1\r\n"
                 "Host: x\r\n%sContent-Length: 20000000\r\n\r\n",
                 g->ns, auths[i]);
        expect_head_answer(head_only(head), rest_lines[i], "\"code\":10000");
        snprintf(head, sizeof head,
                 "PUT /k?urlencoded=true HTTP/1.1\r\nHost: x\r\nX-EdgeKV-Namespace: %s\r\n"
                 "%sContent-Length: 20000000\r\n\r\n",
                 g->ns, auths[i]);
        expect_head_answer(head_only(head), bind_lines[i], NULL);
    }
    /* A chunked body: refused at its first chunk, nothing kept. */
    snprintf(head, sizeof head,
             "PUT /k?urlencoded=true HTTP/1.1\r\nHost: x\r\nX-EdgeKV-Namespace: %s\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
             g->ns);
    expect_head_answer(head_only(head), "HTTP/1.1 401 Unauthorized\r\n", NULL);
    /* Token management and unknown REST paths want a known token for a body. */
    expect_head_answer(head_only("POST /client/v4/accounts/" ACCT "/tokens HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 900000\r\n\r\n"),
                       "HTTP/1.1 401 ", "Authentication error");
    expect_head_answer(head_only("POST /client/v4/whatever HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 900000\r\n\r\n"),
                       "HTTP/1.1 401 ", "Authentication error");
    /* The operations endpoints take no body at all. */
    expect_head_answer(
        head_only("POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n"),
        "HTTP/1.1 413 ", NULL);
    /* Admitted: the size rules as before (the gateway's bare 413 for bulk). */
    snprintf(head, sizeof head,
             "PUT /client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/bulk HTTP/1.1\r\n"
             "Host: x\r\nAuthorization: Bearer " TOKEN "\r\nContent-Length: %llu\r\n\r\n",
             g->ns, (unsigned long long)KV_HTTP_BODY_MAX_BYTES + 1);
    expect_head_answer(head_only(head), "HTTP/1.1 413 ", "Payload Too Large");
}

static void test_binding_list_and_bulk(void **state)
{
    json_t *d, *keys;
    resp_t r;
    char cursor[512];
    (void)state;
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/p%d?urlencoded=true", i);
        r = bindreq("PUT", path, i == 1 ? "CF-KV-Metadata: {\"i\":1}" : NULL, "{\"j\":1}", 7);
        assert_int_equal(r.status, 200);
        done(&r);
    }
    r = bindreq("GET", "/?key_count_limit=2&prefix=p", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, NULL);
    done(&r);
    keys = json_object_get(d, "keys");
    assert_int_equal(json_array_size(keys), 2);
    /* Metadata travels as a JSON string in the binding list. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "metadata")),
                        "{\"i\":1}");
    assert_true(json_is_false(json_object_get(d, "list_complete")));
    snprintf(cursor, sizeof cursor, "/?key_count_limit=1000&prefix=p&cursor=%s",
             json_string_value(json_object_get(d, "cursor")));
    json_decref(d);
    r = bindreq("GET", cursor, NULL, NULL, 0);
    d = json_loads(r.body, 0, NULL);
    done(&r);
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 3);
    assert_true(json_is_true(json_object_get(d, "list_complete")));
    assert_null(json_object_get(d, "cursor")); /* absent on the last page */
    json_decref(d);
    expect_bind_error(bindreq("GET", "/?key_count_limit=1001", NULL, NULL, 0), 400,
                      "Invalid key_count_limit of 1001. Please specify an integer less than 1000.");
    expect_bind_error(bindreq("GET", "/?key_count_limit=0", NULL, NULL, 0), 400,
                      "Invalid key_count_limit of 0. Please specify an integer greater than 0.");
    /* Multi-get. */
    const char *q = "{\"keys\":[\"p0\",\"p1\",\"zz\"],\"type\":\"json\",\"withMetadata\":true}";
    r = bindreq("POST", "/bulk/get", "Content-Type: application/json", q, strlen(q));
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, NULL);
    done(&r);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(json_object_get(d, "p1"), "value"), "j")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(d, "p1"), "metadata"), "i")),
                     1);
    assert_true(json_is_null(json_object_get(json_object_get(d, "p0"), "metadata")));
    assert_true(json_is_null(json_object_get(d, "zz")));
    json_decref(d);
    expect_bind_error(bindreq("POST", "/bulk/get", NULL, "{\"keys\":[]}", 11), 400,
                      "You must request a minimum of 1 key");
    expect_bind_error(
        bindreq("POST", "/bulk/get", NULL, "{\"keys\":[\"a\"],\"type\":\"invalid\"}", 31), 400,
        "\"invalid\" is not a valid type. Use \"json\" or \"text\"");
    r = bindreq("PUT", "/notjson?urlencoded=true", NULL, "plain", 5);
    done(&r);
    expect_bind_error(
        bindreq("POST", "/bulk/get", NULL, "{\"keys\":[\"notjson\"],\"type\":\"json\"}", 34), 400,
        "At least one of the requested keys corresponds to a non-json value");
    char many[4096];
    size_t n = (size_t)snprintf(many, sizeof many, "{\"keys\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s\"k%d\"", i ? "," : "", i);
    snprintf(many + n, sizeof many - n, "]}");
    expect_bind_error(bindreq("POST", "/bulk/get", NULL, many, strlen(many)), 400,
                      "You can request a maximum of 100 keys");
}

static void expect_bind_ok(resp_t r)
{
    assert_int_equal(r.status, 200);
    done(&r);
}

/* A numeric option that is no usable number gets its rule's error, never
 * the answer for 0 or a wrapped value: out of the runtime's int32 range,
 * rule 11's text; no number at all, the option's rule with the text as
 * sent (KV-SPEC §0.2, §2 rules 6, 7, 9, 11, 12). */
static void test_binding_numbers(void **state)
{
    (void)state;
    /* expiration_ttl (rule 7), checked before anything but the key. */
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=abc", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of abc. Please specify integer greater than 0.");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=12abc", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of 12abc. Please specify integer greater than 0.");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of . Please specify integer greater than 0.");
    expect_bind_error(
        bindreq("PUT", "/k?urlencoded=true&expiration_ttl=99999999999999999999", NULL, "v", 1), 400,
        RANGE_MSG);
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=2147483648", NULL, "v", 1),
                      400, RANGE_MSG);
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=1e300", NULL, "v", 1), 400,
                      RANGE_MSG);
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=-2147483649", NULL, "v", 1),
                      400, RANGE_MSG);
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=-5", NULL, "v", 1), 400,
                      "Invalid expiration_ttl of -5. Please specify integer greater than 0.");
    expect_bind_error(
        bindreq("PUT", "/k?urlencoded=true&expiration_ttl=abc", "CF-KV-Metadata: {bad", "v", 1),
        400, "Invalid expiration_ttl of abc. Please specify integer greater than 0.");
    /* A fraction is dropped, as the runtime's int conversion does. */
    expect_bind_ok(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=60.9", NULL, "v", 1));
    expect_bind_ok(bindreq("PUT", "/k?urlencoded=true&expiration_ttl=2147483647", NULL, "v", 1));
    /* expiration (rule 9), read only without a TTL (rule 12). */
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration=abc", NULL, "v", 1), 400,
                      "Invalid expiration of abc. Please specify integer greater than the current "
                      "number of seconds since the UNIX epoch.");
    expect_bind_error(bindreq("PUT", "/k?urlencoded=true&expiration=1700000000000", NULL, "v", 1),
                      400, RANGE_MSG);
    expect_bind_ok(
        bindreq("PUT", "/k?urlencoded=true&expiration_ttl=120&expiration=abc", NULL, "v", 1));
    /* cache_ttl (rule 6). */
    expect_bind_error(bindreq("GET", "/k?urlencoded=true&cache_ttl=abc", NULL, NULL, 0), 400,
                      "Invalid cache_ttl of abc. Cache TTL must be at least 30.");
    expect_bind_error(bindreq("GET", "/k?urlencoded=true&cache_ttl=1e300", NULL, NULL, 0), 400,
                      RANGE_MSG);
    expect_bind_error(bindreq("GET", "/k?urlencoded=true&cache_ttl=99999999999", NULL, NULL, 0),
                      400, RANGE_MSG);
    expect_bind_error(bindreq("GET", "/k?urlencoded=true&cache_ttl=29.9", NULL, NULL, 0), 400,
                      "Invalid cache_ttl of 29. Cache TTL must be at least 30.");
    expect_bind_ok(bindreq("GET", "/k?urlencoded=true&cache_ttl=1e2", NULL, NULL, 0));
    /* cacheTtl of a bulk get: a string as workerd sends it, or a JSON value. */
    static const struct {
        const char *body;
        const char *reason; /* NULL: 200 */
    } bulk[] = {
        {"{\"keys\":[\"k\"],\"cacheTtl\":\"abc\"}",
         "Invalid cache_ttl of abc. Cache TTL must be at least 30."},
        {"{\"keys\":[\"k\"],\"cacheTtl\":\"10\"}",
         "Invalid cache_ttl of 10. Cache TTL must be at least 30."},
        {"{\"keys\":[\"k\"],\"cacheTtl\":\"1e300\"}", RANGE_MSG},
        {"{\"keys\":[\"k\"],\"cacheTtl\":1e300}", RANGE_MSG},
        {"{\"keys\":[\"k\"],\"cacheTtl\":-1e300}", RANGE_MSG},
        {"{\"keys\":[\"k\"],\"cacheTtl\":9999999999}", RANGE_MSG},
        {"{\"keys\":[\"k\"],\"cacheTtl\":true}",
         "Invalid cache_ttl of true. Cache TTL must be at least 30."},
        {"{\"keys\":[\"k\"],\"cacheTtl\":{\"a\":1}}",
         "Invalid cache_ttl of {\"a\":1}. Cache TTL must be at least 30."},
        {"{\"keys\":[\"k\"],\"cacheTtl\":10}",
         "Invalid cache_ttl of 10. Cache TTL must be at least 30."},
        {"{\"keys\":[\"k\"],\"cacheTtl\":\"60\"}", NULL},
        {"{\"keys\":[\"k\"],\"cacheTtl\":60.5}", NULL},
        {"{\"keys\":[\"k\"],\"cacheTtl\":null}", NULL},
    };
    for (size_t i = 0; i < sizeof bulk / sizeof bulk[0]; i++) {
        resp_t r = bindreq("POST", "/bulk/get", "Content-Type: application/json", bulk[i].body,
                           strlen(bulk[i].body));
        if (bulk[i].reason)
            expect_bind_error(r, 400, bulk[i].reason);
        else
            expect_bind_ok(r);
    }
}

/* Bulk get reads through the cache and one storage MultiGet: the answer
 * is the same byte for byte whether every key misses the cache, some hit,
 * or all do; repeated keys answer once, in both APIs. */
static void test_bulk_get_cache(void **state)
{
    const char *q = "{\"keys\":[\"c2\",\"c0\",\"none\",\"c1\",\"c0\"],\"withMetadata\":true}";
    char *first, *rest_first;
    resp_t r;
    (void)state;
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/c%d?urlencoded=true&expiration_ttl=600", i);
        expect_bind_ok(
            bindreq("PUT", path, i == 1 ? "CF-KV-Metadata: {\"m\":[1,2]}" : NULL, "val", 3));
    }
    /* Writes go through to the cache: empty it so the first read misses. */
    cache_clear(g->cache);
    r = bindreq("POST", "/bulk/get", "Content-Type: application/json", q, strlen(q));
    assert_int_equal(r.status, 200);
    first = r.body;
    assert_string_equal(first, "{\"c2\":{\"value\":\"val\",\"metadata\":null},"
                               "\"c0\":{\"value\":\"val\",\"metadata\":null},\"none\":null,"
                               "\"c1\":{\"value\":\"val\",\"metadata\":{\"m\":[1,2]}}}");
    cache_invalidate(g->cache, g->ns, "c1", 2); /* some hit, some miss */
    r = bindreq("POST", "/bulk/get", "Content-Type: application/json", q, strlen(q));
    assert_string_equal(r.body, first);
    done(&r);
    r = bindreq("POST", "/bulk/get", "Content-Type: application/json", q, strlen(q)); /* all hit */
    assert_string_equal(r.body, first);
    done(&r);
    /* REST: the same values, with the expiration of each. */
    cache_clear(g->cache);
    r = nsreq("POST", "/bulk/get", q);
    assert_int_equal(r.status, 200);
    rest_first = r.body;
    r = nsreq("POST", "/bulk/get", q);
    assert_string_equal(r.body, rest_first);
    done(&r);
    json_t *d = json_loads(rest_first, 0, NULL);
    json_t *vals = json_object_get(json_object_get(d, "result"), "values");
    assert_int_equal(json_object_size(vals), 4);
    assert_true(json_is_integer(json_object_get(json_object_get(vals, "c0"), "expiration")));
    assert_true(json_is_null(json_object_get(vals, "none")));
    json_decref(d);
    free(rest_first);
    free(first);
}

/* A written key nobody read is not added to the read cache; one a reader
 * cached is kept fresh in place by a write of a few records; a large one (a
 * bulk write past REPLICA_WRITE_THROUGH_MAX_RECORDS, node/replica) only
 * invalidates its keys, so a key cached before holds no old value. */
static void test_write_through_small_commits(void **state)
{
    static char body[100 * 64];
    size_t n = 0;
    stor_blob_t *b = NULL;
    stor_record_t rec;
    json_t *res;
    resp_t r;
    (void)state;
    res = expect_rest_ok(nsreq("PUT", "/bulk", "[{\"key\":\"wt0\",\"value\":\"old\"}]"));
    json_decref(res);
    assert_int_equal(cache_get(g->cache, g->ns, "wt0", 3, &b), CACHE_MISS); /* nobody read it */
    r = nsreq("GET", "/values/wt0", NULL);                                  /* the read fills it */
    assert_string_equal(r.body, "old");
    done(&r);
    assert_int_equal(cache_get(g->cache, g->ns, "wt0", 3, &b), CACHE_HIT);
    stor_blob_unref(b);
    res = expect_rest_ok(nsreq("PUT", "/bulk", "[{\"key\":\"wt0\",\"value\":\"fresh\"}]"));
    json_decref(res);
    assert_int_equal(cache_get(g->cache, g->ns, "wt0", 3, &b), CACHE_HIT); /* fresh in place */
    stor_blob_record(b, &rec);
    assert_int_equal(rec.value_len, 5);
    assert_memory_equal(rec.value, "fresh", 5);
    stor_blob_unref(b);
    n += (size_t)snprintf(body + n, sizeof body - n, "[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"key\":\"wt%d\",\"value\":\"new\"}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "]");
    res = expect_rest_ok(nsreq("PUT", "/bulk", body));
    json_decref(res);
    assert_int_equal(cache_get(g->cache, g->ns, "wt0", 3, &b), CACHE_MISS);
    assert_int_equal(cache_get(g->cache, g->ns, "wt99", 4, &b), CACHE_MISS);
    r = nsreq("GET", "/values/wt0", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "new");
    done(&r);
}

/* Keys are UTF-8 text: bytes that are not are refused in both APIs (a
 * stored one could never be listed as JSON), and every list shows exactly
 * the keys that were written. */
static void test_keys_utf8(void **state)
{
    json_t *res, *d;
    resp_t r;
    (void)state;
    expect_bind_error(bindreq("PUT", "/%FF?urlencoded=true", NULL, "v", 1), 400,
                      "Could not URL-decode key name");
    expect_bind_error(bindreq("PUT", "/a%C3%28?urlencoded=true", NULL, "v", 1), 400,
                      "Could not URL-decode key name");
    expect_bind_error(bindreq("GET", "/%FF?urlencoded=true", NULL, NULL, 0), 400,
                      "Could not URL-decode key name");
    expect_rest_error(nsreq("PUT", "/values/%FF", "v"), 400, 10019,
                      "put: 'Could not URL-decode key name'");
    expect_rest_error(nsreq("GET", "/values/%FF", NULL), 400, 10019,
                      "get: 'Could not URL-decode key name'");
    expect_rest_error(nsreq("DELETE", "/values/%FF", NULL), 400, 10019,
                      "remove key: 'Could not URL-decode key name'");
    /* Real UTF-8 round-trips through both lists. */
    expect_bind_ok(bindreq("PUT", "/u%C3%A9?urlencoded=true", NULL, "v", 1));
    res = expect_rest_ok(nsreq("GET", "/keys?prefix=u", NULL));
    assert_int_equal(json_array_size(res), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "name")),
                        "u\xc3\xa9");
    json_decref(res);
    r = bindreq("GET", "/?prefix=", NULL, NULL, 0);
    d = json_loads(r.body, 0, NULL);
    done(&r);
    json_t *keys = json_object_get(d, "keys");
    for (size_t i = 0; i < json_array_size(keys); i++)
        assert_true(json_string_length(json_object_get(json_array_get(keys, i), "name")) > 0);
    json_decref(d);
}

static void test_token_endpoints(void **state)
{
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    json_t *res;
    (void)state;
    res = expect_rest_ok(req("GET", "/client/v4/user/tokens/verify", AUTH, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(res, "status")), "active");
    json_decref(res);
    expect_rest_error(req("GET", "/client/v4/user/tokens/verify", bad, NULL, 0), 401, 1000,
                      "Invalid API Token");
    res = expect_rest_ok(req("GET", "/client/v4/accounts", AUTH, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "id")), ACCT);
    json_decref(res);
    res = expect_rest_ok(req("GET", "/client/v4/memberships", AUTH, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(res, 0), "account"), "id")),
                        ACCT);
    json_decref(res);
    expect_rest_error(req("GET", "/client/v4/user", AUTH, NULL, 0), 403, 9109,
                      "Unauthorized to access requested resource");
}

static void test_managed_tokens(void **state)
{
    const char *path = "/client/v4/accounts/" ACCT "/tokens";
    const char *ro[] = {"Authorization: Bearer " RO_TOKEN, NULL};
    char hdr[128], del[128];
    json_t *res;
    (void)state;
    /* Only a write token of the account scoped to every namespace manages. */
    expect_rest_error(req("POST", path, ro, "{\"name\":\"x\"}", 12), 403, 10000,
                      "Authentication error");
    expect_rest_error(req("POST", path, AUTH, "{\"name\":\"\"}", 11), 400, 10001,
                      "body must be {\"name\": 1..128 chars, \"access\": \"read\"|\"write\", "
                      "\"namespaces\": [ids] (optional)}");
    const char *body = "{\"name\":\"minted\",\"access\":\"read\"}";
    res = expect_rest_ok(req("POST", path, AUTH, body, strlen(body)));
    assert_string_equal(json_string_value(json_object_get(res, "access")), "read");
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s",
             json_string_value(json_object_get(res, "value")));
    snprintf(del, sizeof del, "%s/%s", path, json_string_value(json_object_get(res, "id")));
    json_decref(res);
    const char *minted[] = {hdr, NULL};
    char keys[256];
    snprintf(keys, sizeof keys, "/client/v4/accounts/" ACCT "/storage/kv/namespaces/%s/keys",
             g->ns);
    json_decref(expect_rest_ok(req("GET", keys, minted, NULL, 0)));
    res = expect_rest_ok(req("GET", path, AUTH, NULL, 0));
    assert_int_equal(json_array_size(res), 1);
    assert_null(json_object_get(json_array_get(res, 0), "value")); /* never the secret again */
    json_decref(res);
    json_decref(expect_rest_ok(req("DELETE", del, AUTH, NULL, 0)));
    expect_rest_error(req("GET", keys, minted, NULL, 0), 401, 10000, "Authentication error");
    expect_rest_error(req("DELETE", del, AUTH, NULL, 0), 404, 1001,
                      "Invalid token id: no such token");
}

/* An account holds at most KV_TOKENS_PER_ACCOUNT_MAX live tokens: the
 * origin's judge refuses one more, and a revocation makes room again. The
 * store is filled to one below the limit directly. */
static void test_token_limit(void **state)
{
    const char *path = "/client/v4/accounts/" ACCT "/tokens";
    const char *body = "{\"name\":\"one more\"}";
    char id[32], name[STATE_TOKEN_NAME_BYTES], del[128];
    json_t *res;
    (void)state;
    for (int i = 0; i < KV_TOKENS_PER_ACCOUNT_MAX - 1; i++) {
        state_token_t t = {.id = id,
                           .name = "filler",
                           .account = ACCT,
                           .sha256_hex =
                               "0000000000000000000000000000000000000000000000000000000000000000",
                           .write = false};
        uint8_t *rec = NULL;
        size_t len = 0;
        snprintf(id, sizeof id, "f111%012x", i);
        assert_int_equal(state_token_encode(&t, &rec, &len), 0);
        state_token_name(name, id, strlen(id));
        assert_int_equal(stor_state_put(g->store, name, (const char *)rec, len), 0);
        kv_free(rec);
    }
    res = expect_rest_ok(req("POST", path, AUTH, body, strlen(body)));
    json_decref(res);
    expect_rest_error(req("POST", path, AUTH, body, strlen(body)), 400, 10022,
                      "the account has reached its limit of 1000 API tokens");
    snprintf(del, sizeof del, "%s/f111000000000000", path);
    json_decref(expect_rest_ok(req("DELETE", del, AUTH, NULL, 0)));
    json_decref(expect_rest_ok(req("POST", path, AUTH, body, strlen(body))));
}

static void test_ops_endpoints(void **state)
{
    resp_t r;
    json_t *d;
    (void)state;
    r = req("GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    done(&r);
    r = req("GET", "/healthz", NULL, NULL, 0);
    done(&r);
    r = req("GET", "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "edgekv_http_requests_total{route=\"healthz\",status=\"200\"} 2\n"));
    assert_non_null(strstr(r.body, "edgekv_cache_hits_total"));
    assert_non_null(strstr(r.body, "edgekv_rocksdb_live_sst_bytes"));
    assert_non_null(strstr(
        r.body, "edgekv_http_request_duration_seconds_bucket{route=\"healthz\",le=\"+Inf\"} 2\n"));
    done(&r);
    r = req("GET", "/status", AUTH, NULL, 0);
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "role")), "origin");
    assert_int_equal(json_integer_value(json_object_get(d, "node_id")), 3);
    json_decref(d);
    done(&r);
    r = req("GET", "/digest", AUTH, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(r.body), 2 * STOR_DIGEST_BYTES + 1);
    assert_int_equal(strspn(r.body, "0123456789abcdef"), 2 * STOR_DIGEST_BYTES);
    done(&r);
}

/* /status and /digest need the operator scope (a read+write token of the
 * node's account scoped to every namespace); /healthz is always open;
 * /metrics is open unless the node asks for a token. */
static void test_ops_auth(void **state)
{
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    const char *ro[] = {"Authorization: Bearer " RO_TOKEN, NULL};
    static const char *const closed[] = {"/status", "/digest"};
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        expect_rest_error(req("GET", closed[i], NULL, NULL, 0), 401, 10000, "Authentication error");
        expect_rest_error(req("GET", closed[i], bad, NULL, 0), 401, 10000, "Authentication error");
        expect_rest_error(req("GET", closed[i], ro, NULL, 0), 403, 10000, "Authentication error");
    }
    resp_t r = req("GET", "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    done(&r);
    g->app.metrics_need_token = true;
    expect_rest_error(req("GET", "/metrics", NULL, NULL, 0), 401, 10000, "Authentication error");
    expect_rest_error(req("GET", "/metrics", ro, NULL, 0), 403, 10000, "Authentication error");
    r = req("GET", "/metrics", AUTH, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "edgekv_cache_hits_total"));
    done(&r);
    r = req("GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    done(&r);
    g->app.metrics_need_token = false;
}

/* The digest runs on the threadpool, KV_OPS_DIGESTS_MAX at a time: with
 * the slots taken, the next is refused with 429 at once, and the loop
 * keeps answering meanwhile. */
static void test_ops_digest_slots(void **state)
{
    (void)state;
    g->app.digests_running = KV_OPS_DIGESTS_MAX;
    expect_rest_error(req("GET", "/digest", AUTH, NULL, 0), 429, 10022,
                      "Too Many Requests: a digest is already running; retry later");
    g->app.digests_running = KV_OPS_DIGESTS_MAX - 1;
    resp_t r = req("GET", "/digest", AUTH, NULL, 0);
    assert_int_equal(r.status, 200);
    done(&r);
    assert_int_equal(g->app.digests_running, KV_OPS_DIGESTS_MAX - 1); /* its slot came back */
    g->app.digests_running = 0;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered;
    int rc[3];
} held_t;

/* On the replication loop. */
static void held_done(void *arg, int rc)
{
    held_t *h = arg;
    pthread_mutex_lock(&h->mu);
    h->rc[h->answered++] = rc;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* The writes an HTTP loop's requests submit are held on its thread
 * (kvops_write_async, replica_submit_held) until it flushes before it
 * polls: they reach the replication loop together (one splice under its
 * lock). Here the test's own thread holds three: a write submitted after
 * them is answered while they are not and are not stored; the flush hands
 * them over and each is answered and stored. */
static void test_held_writes_one_group(void **state)
{
    held_t h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    kvops_write_t w[3] = {
        {.key = "held0", .key_len = 5, .value = (const uint8_t *)"a", .value_len = 1},
        {.key = "held1", .key_len = 5, .value = (const uint8_t *)"b", .value_len = 1},
        {.key = "held2", .key_len = 5, .value = (const uint8_t *)"c", .value_len = 1}};
    (void)state;
    for (int i = 0; i < 3; i++)
        kvops_write_async(g->ops, NULL, g->ns, &w[i], 1, held_done, &h);
    /* A write submitted after them and answered: had they been queued,
     * the loop would have taken them first and answered them before it. */
    kvops_write_t probe = {
        .key = "probe", .key_len = 5, .value = (const uint8_t *)"p", .value_len = 1};
    assert_int_equal(kvops_write(g->ops, NULL, g->ns, &probe, 1), 0);
    pthread_mutex_lock(&h.mu);
    assert_int_equal(h.answered, 0);
    pthread_mutex_unlock(&h.mu);
    resp_t r = nsreq("GET", "/values/held0", NULL);
    assert_int_equal(r.status, 404);
    done(&r);
    replica_submit_flush();
    pthread_mutex_lock(&h.mu);
    while (h.answered < 3)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h.rc[i], 0);
    r = nsreq("GET", "/values/held2", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "c");
    done(&r);
}

int main(void)
{
#define BOTH(t)                                                                                    \
    cmocka_unit_test_setup_teardown(t, setup_lone, teardown),                                      \
        cmocka_unit_test_setup_teardown(t, setup_replicated, teardown)
    const struct CMUnitTest tests[] = {
        BOTH(test_rest_auth),
        BOTH(test_rest_namespaces),
        BOTH(test_rest_values),
        BOTH(test_rest_numbers),
        BOTH(test_rest_keys_and_bulk),
        BOTH(test_bulk_scanned_before_parse),
        BOTH(test_bulk_read_and_parse_agree),
        BOTH(test_binding_get_put_delete),
        BOTH(test_binding_value_too_large),
        BOTH(test_refused_before_body),
        BOTH(test_binding_list_and_bulk),
        BOTH(test_binding_numbers),
        BOTH(test_bulk_get_cache),
        BOTH(test_write_through_small_commits),
        BOTH(test_held_writes_one_group),
        BOTH(test_keys_utf8),
        BOTH(test_token_endpoints),
        BOTH(test_managed_tokens),
        BOTH(test_token_limit),
        BOTH(test_ops_endpoints),
        BOTH(test_ops_auth),
        BOTH(test_ops_digest_slots),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    json_decref(g_info);
    return rc;
}
