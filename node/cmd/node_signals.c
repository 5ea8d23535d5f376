/*
 * node_signals.c - a running node's signals: SIGINT/SIGTERM drain, then
 * stop (a second one stops at once); SIGHUP reloads the HTTPS and
 * replication certificates and the configured tokens (main.c's header).
 */
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "node_int.h"

/* The end of the drain: closing the signal handles and the timer lets the
 * main loop return, and run_node stops the server. Once. */
static void stop_now(node_t *n)
{
    if (n->stopping)
        return;
    n->stopping = true;
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sighup, NULL);
    uv_close((uv_handle_t *)&n->drain_timer, NULL);
}

static void on_drained(uv_timer_t *t)
{
    node_t *n = t->data;
    KV_LOG_INFO("node", "drain over: closing the listeners (in-flight requests get %d ms)",
                KV_SHUTDOWN_GRACE_MS);
    stop_now(n);
}

/* SIGINT/SIGTERM. The first starts the drain: not ready (/readyz 503,
 * STOPPING=1 to systemd) while still serving for --drain-ms, so that load
 * balancers and Kubernetes take the node out before its listener closes.
 * A second signal ends the drain at once. */
static void on_signal(uv_signal_t *h, int signum)
{
    node_t *n = h->data;
    char status[96];
    if (n->draining) {
        KV_LOG_INFO("node", "signal %d again: ending the drain now", signum);
        uv_timer_stop(&n->drain_timer);
        stop_now(n);
        return;
    }
    n->draining = true;
    __atomic_store_n(&n->app.draining, true, __ATOMIC_RELAXED);
    KV_LOG_INFO("node",
                "signal %d: draining %llu ms (not ready, still serving), then stopping "
                "(grace %d ms)",
                signum, (unsigned long long)n->cfg.drain_ms, KV_SHUTDOWN_GRACE_MS);
    snprintf(status, sizeof status, "stopping (signal %d, drain %llu ms, grace %d ms)", signum,
             (unsigned long long)n->cfg.drain_ms, KV_SHUTDOWN_GRACE_MS);
    ready_stop(n->ready, status);
    n->ready = NULL;
    if (n->cfg.drain_ms == 0)
        stop_now(n);
    else
        uv_timer_start(&n->drain_timer, on_drained, n->cfg.drain_ms, 0);
}

/* One part of a SIGHUP reload: its outcome logged and added to the status
 * line systemd shows ("reloaded: ..." / "NOT reloaded: ..."). */
static void reload_note(char *ok, char *failed, size_t cap, const char *what, int rc)
{
    char *list = rc == 0 ? ok : failed;
    size_t len = strlen(list);
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", what);
}

/* SIGHUP: read the certificate files and the configured tokens again. New
 * connections and reconnects get the new certificates; open connections
 * and replication links finish on the old ones. A part that fails keeps
 * what it had and says why in the log. */
static void on_sighup(uv_signal_t *h, int signum)
{
    node_t *n = h->data;
    char ok[128] = "", failed[128] = "", status[300];
    size_t tokens = 0;
    int rc;
    (void)signum;
    ready_reloading(n->ready);
    if (n->https) {
        if ((rc = tls_api_reload(n->https)) == 0)
            KV_LOG_INFO("node", "SIGHUP: HTTPS certificates reloaded (generation %u)",
                        tls_api_generation(n->https));
        else
            KV_LOG_ERROR("node", "SIGHUP: HTTPS certificates not reloaded (see above); still "
                                 "serving the previous ones");
        reload_note(ok, failed, sizeof ok, "HTTPS certificates", rc);
    }
    if (n->app.replica) {
        if ((rc = replica_reload_tls(n->replica)) == 0)
            KV_LOG_INFO("node",
                        "SIGHUP: replication certificates reloaded (%s): new links use "
                        "them, live links keep their session",
                        n->cfg.certs_dir);
        else
            KV_LOG_ERROR("node",
                         "SIGHUP: replication certificates not reloaded: %s (see above); "
                         "new links still use the previous ones",
                         kv_strerror(rc));
        reload_note(ok, failed, sizeof ok, "replication certificates", rc);
    }
    if ((rc = node_reload_config_tokens(n, &tokens)) == 0)
        KV_LOG_INFO("node", "SIGHUP: %zu configured token%s reloaded", tokens,
                    tokens == 1 ? "" : "s");
    else
        KV_LOG_ERROR("node", "SIGHUP: tokens not reloaded (%s); the previous ones stay",
                     kv_strerror(rc));
    reload_note(ok, failed, sizeof ok, "tokens", rc);
    snprintf(status, sizeof status, "%s%s%s%s%s", failed[0] ? "NOT reloaded: " : "", failed,
             failed[0] && ok[0] ? "; " : "", ok[0] ? "reloaded: " : "", ok);
    KV_LOG_INFO("node", "SIGHUP: %s", status);
    ready_reloaded(n->ready, status);
}

void node_signals_start(node_t *n, uv_loop_t *loop)
{
    uv_signal_init(loop, &n->sigint);
    uv_signal_init(loop, &n->sigterm);
    uv_signal_init(loop, &n->sighup);
    uv_timer_init(loop, &n->drain_timer);
    n->sigint.data = n->sigterm.data = n->sighup.data = n->drain_timer.data = n;
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    uv_signal_start(&n->sighup, on_sighup, SIGHUP);
}
