/* ready.c - sd_notify readiness and status of a node (ready.h). */
#include "ready.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

struct node_ready {
    uv_timer_t timer; /* first: the handle is the object (freed in its close callback) */
    node_app_t *app;
    bool edge;
    bool ready;        /* READY=1 sent */
    uint64_t start_ms; /* uv_now at ready_start */
    uint64_t wait_ms;  /* edge: READY=1 at the latest this long after start */
    char last[160];    /* the STATUS= last sent: sent again only when it changes */
};

/* Send `state` (newline-separated assignments); failures are logged once
 * each and otherwise ignored: systemd's notification is advice. */
static void notify(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        KV_LOG_WARN("node", "sd_notify(%s): %s", state, kv_strerror(rc));
}

static void set_status(node_ready_t *r, const char *status, bool ready_now)
{
    char msg[sizeof r->last + 32];
    if (!ready_now && strcmp(status, r->last) == 0)
        return;
    snprintf(r->last, sizeof r->last, "%s", status);
    snprintf(msg, sizeof msg, "%sSTATUS=%s", ready_now ? "READY=1\n" : "", status);
    notify(msg);
}

/* The status line of now; true when the node takes traffic. */
static bool current(node_ready_t *r, char *out, size_t n)
{
    char why[96];
    if (!r->edge) {
        snprintf(out, n, "%s: serving", r->app->role);
        return true;
    }
    if (app_ready(r->app, why, sizeof why)) {
        snprintf(out, n, "edge: link live");
        return true;
    }
    snprintf(out, n, "edge: not ready: %s", why);
    return false;
}

static void on_tick(uv_timer_t *t)
{
    node_ready_t *r = (node_ready_t *)t;
    char status[sizeof r->last];
    bool ok = current(r, status, sizeof status);
    uint64_t waited = uv_now(t->loop) - r->start_ms;
    if (r->ready) {
        set_status(r, status, false);
        return;
    }
    if (!ok && waited < r->wait_ms) {
        set_status(r, status, false);
        return;
    }
    if (!ok) {
        size_t len = strlen(status);
        snprintf(status + len, sizeof status - len, " (ready after the %llu ms wait)",
                 (unsigned long long)r->wait_ms);
    }
    r->ready = true;
    set_status(r, status, true);
    KV_LOG_INFO("node", "systemd: READY=1 after %llu ms (%s)", (unsigned long long)waited, status);
    uv_timer_set_repeat(t, READY_STATUS_MS);
}

int ready_start(uv_loop_t *loop, node_app_t *app, uint64_t wait_ms, node_ready_t **out)
{
    node_ready_t *r;
    *out = NULL;
    if (!getenv("NOTIFY_SOCKET"))
        return 0;
    if (!(r = kv_calloc(1, sizeof *r)))
        return -ENOMEM;
    r->app = app;
    r->edge = app->replica && strcmp(app->role, "origin") != 0; /* an edge or a relay */
    r->wait_ms = wait_ms;
    uv_update_time(loop);
    r->start_ms = uv_now(loop);
    uv_timer_init(loop, &r->timer);
    on_tick(&r->timer); /* an origin (or a live edge) is ready now */
    uv_timer_start(&r->timer, on_tick, r->ready ? READY_STATUS_MS : READY_POLL_MS,
                   r->ready ? READY_STATUS_MS : READY_POLL_MS);
    *out = r;
    return 0;
}

void ready_reloading(node_ready_t *r)
{
    char msg[64];
    struct timespec ts;
    if (!r || !r->ready)
        return; /* before READY=1 systemd has no reload to follow */
    /* MONOTONIC_USEC: systemd (Type=notify-reload, 253+) ties the reload
     * to this instant; older versions ignore it. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    notify(msg);
}

void ready_reloaded(node_ready_t *r, const char *status)
{
    if (!r)
        return;
    r->last[0] = '\0';
    set_status(r, status, r->ready);
}

static void on_closed(uv_handle_t *h)
{
    kv_free(h);
}

void ready_stop(node_ready_t *r, const char *status)
{
    char msg[sizeof r->last + 32];
    if (!r)
        return;
    snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", status);
    notify(msg);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}
