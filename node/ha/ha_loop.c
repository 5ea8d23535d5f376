/*
 * ha_loop.c - ha_elect.h on a libuv loop (ha_loop.h).
 *
 * Stopping unwinds in order: the election steps down (its revoke answered
 * or timed out), then the etcd client and the curl transport go, and the
 * timer is closed; done is called once curl's handles and the timer are
 * closed.
 */
#include <errno.h>

#include "ha_curl.h"
#include "ha_loop.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"

struct ha_loop {
    uv_loop_t *loop;
    uv_timer_t timer; /* the election's wake_at */
    ha_curl_t *curl;
    ha_etcd_t *etcd;
    ha_elect_t *elect;
    unsigned closing; /* handles still closing: the timer, curl */
    void (*done)(void *arg);
    void *done_arg;
};

static void on_timer(uv_timer_t *t)
{
    ha_loop_t *h = t->data;
    ha_elect_tick(h->elect);
}

static void wake_at(void *arg, uint64_t at_ms)
{
    ha_loop_t *h = arg;
    uint64_t now = ha_clock_now_ms(NULL);
    uv_timer_start(&h->timer, on_timer, at_ms > now ? at_ms - now : 0, 0);
}

static void part_closed(ha_loop_t *h)
{
    if (--h->closing == 0) {
        void (*done)(void *) = h->done;
        void *arg = h->done_arg;
        kv_free(h);
        if (done)
            done(arg);
    }
}

static void on_curl_closed(void *arg)
{
    part_closed(arg);
}

static void on_timer_closed(uv_handle_t *t)
{
    part_closed(t->data);
}

/* Frees what start made, whichever parts exist. */
static void close_parts(ha_loop_t *h)
{
    ha_elect_free(h->elect);
    h->elect = NULL;
    ha_etcd_free(h->etcd);
    h->etcd = NULL;
    h->closing = 1;
    if (h->curl) {
        h->closing++;
        ha_curl_close(h->curl, on_curl_closed, h);
    }
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

int ha_loop_start(uv_loop_t *loop, const ha_loop_config_t *cfg, const ha_elect_cbs_t *cbs,
                  ha_loop_t **out)
{
    ha_loop_t *h;
    ha_elect_cbs_t ours = *cbs;
    ha_elect_config_t ec = cfg->elect;
    uint64_t lease = ec.lease_ms ? ec.lease_ms : KV_HA_LEASE_MS_DEFAULT;
    ha_etcd_config_t etc = {
        .endpoints = cfg->endpoints,
        .endpoint_count = cfg->endpoint_count,
        .attempt_timeout_ms = lease / KV_HA_ATTEMPT_DIV,
        .now = ha_clock_now_ms,
    };
    int rc;
    if (!(h = kv_calloc(1, sizeof *h)))
        return -ENOMEM;
    h->loop = loop;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    ours.wake_at = wake_at;
    ours.wake_arg = h;
    ec.now = ha_clock_now_ms;
    if ((rc = ha_curl_create(loop, &h->curl)) != 0 ||
        (rc = ha_etcd_create(&etc, ha_curl_http(h->curl), &h->etcd)) != 0 ||
        (rc = ha_elect_create(&ec, h->etcd, &ours, &h->elect)) != 0 ||
        (rc = ha_elect_start(h->elect)) != 0) {
        h->done = NULL;
        close_parts(h);
        return rc;
    }
    *out = h;
    return 0;
}

ha_elect_t *ha_loop_elect(ha_loop_t *h)
{
    return h->elect;
}

static void on_stepped_down(void *arg)
{
    close_parts(arg); /* from inside an etcd answer or a tick: both allow it */
}

void ha_loop_stop(ha_loop_t *h, void (*done)(void *arg), void *arg)
{
    h->done = done;
    h->done_arg = arg;
    if (ha_elect_stop(h->elect, on_stepped_down, h) != 0)
        close_parts(h);
}
