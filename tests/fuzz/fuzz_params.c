/*
 * fuzz_params.c - libFuzzer harness of a REST value write's parameters as
 * the API checks them before anything is stored: the key (rule 4b), the
 * query's expiration_ttl / expiration parsed with Workers' integer rules
 * and checked against the clock (node/api/rest_write.c:
 * rest_check_put_params, through node/api/text.c and node/api/kvops.c),
 * and a metadata JSON text (kvops_check_metadata). The node application
 * around it is real (kvops on a temporary store, removed at exit) with a
 * fixed clock. Input: the key up to the first NUL, the query up to the
 * next, the metadata after it. Properties: an accepted expiry lies in the
 * future, at least KV_EXPIRATION_MIN_TTL_S away; a refused one has a 4xx
 * status and a message.
 */
#include "fuzz_store.h"

#include "app.h"
#include "cache.h"
#include "kvops.h"
#include "rest_int.h"
#include "store.h"

#define FZ_NOW_S 1700000000ll

static char dir[] = "/tmp/edgekv-fuzz-params-XXXXXX";
static stor_t *store;
static cache_t *cache;
static node_app_t app;

static void cleanup(void)
{
    kvops_destroy(app.ops);
    cache_destroy(cache);
    fz_store_remove(store, dir);
}

static uint64_t fixed_clock(void *arg)
{
    (void)arg;
    return (uint64_t)FZ_NOW_S * 1000u;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    store = fz_store_open(dir, 1u << 20);
    FZ_CHECK(cache_create(1u << 20, &cache) == 0);
    FZ_CHECK(kvops_create(store, cache, &app.ops) == 0);
    kvops_set_clock(app.ops, fixed_clock, NULL);
    app.role = "origin";
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    const uint8_t *key, *query, *meta;
    size_t klen = fz_until(&in, 0, &key);
    size_t qlen = fz_until(&in, 0, &query);
    size_t mlen = fz_bytes(&in, in.n, &meta);

    http_req_t req;
    memset(&req, 0, sizeof req);
    req.method = HTTP_M_PUT;
    req.query = qlen ? (const char *)query : NULL;
    req.query_len = qlen;
    rest_call_t c;
    memset(&c, 0, sizeof c);
    c.target = REST_VALUES;
    c.op = "put";
    c.key = (char *)key;
    c.key_len = klen;

    kvop_err_t e;
    int64_t exp_abs = -1;
    memset(&e, 0, sizeof e);
    if (rest_check_put_params(&app, &req, &c, &exp_abs, &e) == 0) {
        FZ_CHECK(exp_abs == 0 || exp_abs >= FZ_NOW_S + KV_EXPIRATION_MIN_TTL_S);
    } else {
        FZ_CHECK(e.status >= 400 && e.status < 500 && e.msg[0] != '\0');
    }
    memset(&e, 0, sizeof e);
    if (kvops_check_metadata((const char *)meta, mlen, &e) != 0)
        FZ_CHECK(e.status >= 400 && e.status < 500 && e.msg[0] != '\0');
    return 0;
}
