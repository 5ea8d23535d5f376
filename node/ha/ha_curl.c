/*
 * ha_curl.c - ha_http.h over libcurl's multi socket API on a libuv loop
 * (why not a thread: ha_curl.h).
 *
 * curl tells us which sockets to watch (on_socket: one uv_poll per socket)
 * and when to call it back (on_timer_set: one uv_timer); we hand it the
 * events (curl_multi_socket_action) and collect finished transfers
 * (dispatch). A callback may post, cancel or close: dispatch counts its
 * depth, and a close inside it is finished when it unwinds.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <curl/curl.h>

#include "ha_curl.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"

typedef struct req req_t;
struct req {
    req_t *prev, *next; /* c->reqs: requests handed to curl */
    ha_curl_t *c;
    CURL *easy;
    uint64_t id;
    ha_http_cb cb;
    void *arg;
    char *body; /* our copy of the request body */
    char *resp; /* the answer so far */
    size_t resp_len, resp_cap;
    bool too_big; /* the answer passed KV_HA_RESPONSE_MAX_BYTES */
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    ha_curl_t *c;
} sock_t;

struct ha_curl {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout */
    struct curl_slist *headers;
    req_t *reqs;
    uint64_t next_id;
    unsigned handles_open; /* the timer and every uv_poll not yet closed */
    unsigned dispatching;  /* depth of dispatch() on the stack */
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
};

static void req_free(req_t *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    kv_free(r->body);
    kv_free(r->resp);
    kv_free(r);
}

static void req_unlink(ha_curl_t *c, req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void handle_closed(ha_curl_t *c)
{
    if (--c->handles_open == 0 && c->closing) {
        void (*done)(void *) = c->done;
        void *arg = c->done_arg;
        kv_free(c);
        if (done)
            done(arg);
    }
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *k = h->data;
    ha_curl_t *c = k->c;
    kv_free(k);
    handle_closed(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* Every request still with curl is dropped without its callback, curl lets
 * go of its sockets (on_socket closes their polls), then the timer. */
static void teardown(ha_curl_t *c)
{
    while (c->reqs) {
        req_t *r = c->reqs;
        curl_multi_remove_handle(c->multi, r->easy);
        req_unlink(c, r);
        req_free(r);
    }
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static int map_result(CURLcode res, const req_t *r)
{
    switch (res) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_WRITE_ERROR:
        return r->too_big ? KV_ETOOBIG : -EIO;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

/* Finished transfers: each is taken from curl before its callback runs, so
 * the callback may post, cancel or close. */
static void dispatch(ha_curl_t *c)
{
    CURLMsg *m;
    int left;
    c->dispatching++;
    while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
        req_t *r = NULL;
        CURLcode res;
        ha_http_resp_t resp = {0};
        int err;
        if (m->msg != CURLMSG_DONE)
            continue;
        res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        curl_multi_remove_handle(c->multi, r->easy); /* m is gone from here on */
        req_unlink(c, r);
        err = map_result(res, r);
        resp.body = r->resp ? r->resp : "";
        resp.body_len = r->resp_len;
        r->cb(r->arg, err, err ? NULL : &resp);
        req_free(r);
    }
    if (--c->dispatching == 0 && c->closing && c->multi)
        teardown(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_t *k = h->data;
    ha_curl_t *c = k->c;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, k->fd, flags, &running);
    dispatch(c);
}

static void on_timeout(uv_timer_t *t)
{
    ha_curl_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    dispatch(c);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    ha_curl_t *c = userp;
    sock_t *k = socketp;
    int ev = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            uv_poll_stop(&k->poll);
            curl_multi_assign(c->multi, s, NULL);
            uv_close((uv_handle_t *)&k->poll, on_sock_closed);
        }
        return 0;
    }
    if (!k) {
        if (!(k = kv_calloc(1, sizeof *k)))
            return -1;
        if (uv_poll_init_socket(c->loop, &k->poll, s) != 0) {
            kv_free(k);
            return -1;
        }
        k->c = c;
        k->fd = s;
        k->poll.data = k;
        c->handles_open++;
        curl_multi_assign(c->multi, s, k);
    }
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    return uv_poll_start(&k->poll, ev, on_poll) == 0 ? 0 : -1;
}

/* curl asks to be called back in timeout_ms (-1: never). Never call curl
 * from here: the uv_timer does, even for 0. */
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    ha_curl_t *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
    req_t *r = userp;
    size_t len = size * n;
    if (r->resp_len + len > KV_HA_RESPONSE_MAX_BYTES) {
        r->too_big = true;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (r->resp_len + len + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap : 1024;
        char *p;
        while (cap < r->resp_len + len + 1)
            cap *= 2;
        if (!(p = kv_realloc(r->resp, cap)))
            return 0;
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, len);
    r->resp_len += len;
    r->resp[r->resp_len] = '\0';
    return len;
}

static int easy_setup(ha_curl_t *c, req_t *r, const char *url, size_t body_len, uint64_t timeout_ms)
{
    long ms = timeout_ms > 0 ? (long)timeout_ms : 1;
    CURL *e = r->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK; /* etcd is reached directly */
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
    return bad ? -EIO : 0;
}

static int curl_post(void *impl, const char *url, const char *body, size_t body_len,
                     uint64_t timeout_ms, ha_http_cb cb, void *arg, uint64_t *id)
{
    ha_curl_t *c = impl;
    req_t *r;
    int rc;
    if (c->closing)
        return KV_ESHUTDOWN;
    if (!(r = kv_calloc(1, sizeof *r)))
        return -ENOMEM;
    r->c = c;
    r->cb = cb;
    r->arg = arg;
    if (!(r->body = kv_strndup(body, body_len)) || !(r->easy = curl_easy_init())) {
        req_free(r);
        return -ENOMEM;
    }
    if ((rc = easy_setup(c, r, url, body_len, timeout_ms)) != 0) {
        req_free(r);
        return rc;
    }
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return -EIO;
    }
    r->id = ++c->next_id;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    *id = r->id;
    return 0;
}

static void curl_cancel(void *impl, uint64_t id)
{
    ha_curl_t *c = impl;
    req_t *r;
    for (r = c->reqs; r; r = r->next) {
        if (r->id == id) {
            curl_multi_remove_handle(c->multi, r->easy);
            req_unlink(c, r);
            req_free(r);
            return;
        }
    }
}

static const ha_http_ops_t curl_ops = {.post = curl_post, .cancel = curl_cancel};

int ha_curl_create(uv_loop_t *loop, ha_curl_t **out)
{
    ha_curl_t *c;
    struct curl_slist *h;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -EIO;
    if (!(c = kv_calloc(1, sizeof *c)))
        return -ENOMEM;
    c->loop = loop;
    if (!(c->multi = curl_multi_init())) {
        kv_free(c);
        return -ENOMEM;
    }
    /* "Expect:" off: no 100-continue round trip before a body. */
    if (!(h = curl_slist_append(NULL, "Content-Type: application/json")) ||
        !(c->headers = curl_slist_append(h, "Expect:"))) {
        curl_slist_free_all(h);
        curl_multi_cleanup(c->multi);
        kv_free(c);
        return -ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    *out = c;
    return 0;
}

ha_http_t ha_curl_http(ha_curl_t *c)
{
    ha_http_t h = {.ops = &curl_ops, .impl = c};
    return h;
}

void ha_curl_close(ha_curl_t *c, void (*done)(void *arg), void *arg)
{
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    if (c->dispatching == 0)
        teardown(c);
}
