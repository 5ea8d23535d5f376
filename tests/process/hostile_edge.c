/*
 * hostile_edge.c - a hostile edge for tests/process/test_abuse_edge.sh.
 *
 * It holds a valid edge certificate, links to an origin's replication port
 * with mutual TLS (node/tls/tls.h), says Hello with the node id it is told
 * to claim and then sends what a real edge never would: WriteRequests built
 * from a script, naming whatever token it likes, or a frame prefix that
 * announces more than KV_FRAME_MAX_BYTES. It is not a replica: it applies
 * nothing, acknowledges nothing, and ignores every frame but Welcome,
 * Refuse and WriteResult.
 *
 * usage: hostile_edge CA CERT KEY PORT NODE_ID SCRIPT REPEAT
 * SCRIPT holds one line per WriteRequest, words separated by spaces:
 *   <who> <op> [<op> ...]
 * who: "-" (no token named), "id:<token id>", or "secret:<secret>" (the id
 * of a configured token with that secret, node/api/auth.h). op:
 *   put:<ns>:<key>                     PUT of the value "forged"
 *   nscreate:<ns>:<account>:<title>    nsrename:<ns>:<title>    nsdelete:<ns>
 *   tokput:<id>:<account>:<r|w>:<secret>   TOKEN_PUT of a TokenRecord for
 *                                          that secret, every namespace
 *   tokdel:<id>
 * or the single word "oversize": a frame prefix of KV_FRAME_MAX_BYTES + 1.
 * The script is sent REPEAT times, one request at a time (the next once the
 * last is answered), after the origin's Welcome.
 * Output lines: "welcome", "refused <reason>", "result <line> <status>
 * <r0> <r1> ..." (each code "ok", "unauth", "forbidden" or its number),
 * "oversize <line>", "closed <status> <reason>". Exit 0 when the script ran
 * to its end or the origin closed the link; 1 on a usage error or when
 * nothing happened for 20 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "auth.h"
#include "frame.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "state.h"
#include "tls.h"

#define LINES_MAX 64
#define OPS_MAX   8
#define IDLE_MS   20000

typedef struct {
    char text[1024];
} line_t;

static line_t g_lines[LINES_MAX];
static size_t g_nlines, g_next, g_repeat, g_round;
static uint32_t g_node_id;
static tls_conn_t *g_conn;
static frame_reader_t g_rd;
static uv_timer_t g_idle;
static int g_done;

static void finish_ok(void)
{
    g_done = 1;
    if (g_conn)
        tls_conn_close(g_conn);
    uv_close((uv_handle_t *)&g_idle, NULL);
}

static int send_frame(const Edgekv__Frame *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = frame_encode(f, &buf, &len);
    if (rc == 0)
        rc = tls_conn_write(g_conn, buf, len, NULL, NULL);
    kv_free(buf);
    return rc;
}

/* One op from its script word; strings point into `w` (modified) or into
 * *rec, a TokenRecord made here (kv_free). 0 or -1. */
static int parse_op(char *w, Edgekv__Op *op, uint8_t **rec)
{
    char *f[6] = {0};
    size_t n = 0;
    for (char *p = w; p && n < 6; n++) {
        f[n] = p;
        if ((p = strchr(p, ':')))
            *p++ = '\0';
    }
    edgekv__op__init(op);
    if (strcmp(f[0], "put") == 0 && n == 3) {
        op->kind = EDGEKV__OP__KIND__PUT;
        op->ns_id = f[1];
        op->key = (ProtobufCBinaryData){strlen(f[2]), (uint8_t *)f[2]};
        op->value = (ProtobufCBinaryData){6, (uint8_t *)"forged"};
    } else if (strcmp(f[0], "nscreate") == 0 && n == 4) {
        op->kind = EDGEKV__OP__KIND__NS_CREATE;
        op->ns_id = f[1], op->account = f[2], op->title = f[3];
    } else if (strcmp(f[0], "nsrename") == 0 && n == 3) {
        op->kind = EDGEKV__OP__KIND__NS_RENAME;
        op->ns_id = f[1], op->title = f[2];
    } else if (strcmp(f[0], "nsdelete") == 0 && n == 2) {
        op->kind = EDGEKV__OP__KIND__NS_DELETE;
        op->ns_id = f[1];
    } else if (strcmp(f[0], "tokput") == 0 && n == 5) {
        char digest[65];
        size_t len = 0;
        auth_digest_hex(f[4], strlen(f[4]), digest);
        state_token_t t = {.id = f[1],
                           .name = "forged",
                           .account = f[2],
                           .sha256_hex = digest,
                           .write = f[3][0] == 'w'};
        if (state_token_encode(&t, rec, &len) != 0)
            return -1;
        op->kind = EDGEKV__OP__KIND__TOKEN_PUT;
        op->ns_id = REPL_TOKEN_NS_ID;
        op->key = (ProtobufCBinaryData){strlen(f[1]), (uint8_t *)f[1]};
        op->value = (ProtobufCBinaryData){len, *rec};
    } else if (strcmp(f[0], "tokdel") == 0 && n == 2) {
        op->kind = EDGEKV__OP__KIND__TOKEN_DELETE;
        op->ns_id = REPL_TOKEN_NS_ID;
        op->key = (ProtobufCBinaryData){strlen(f[1]), (uint8_t *)f[1]};
    } else {
        return -1;
    }
    return 0;
}

/* Send script line g_next (or finish after the last round). */
static void send_next(void)
{
    char text[sizeof g_lines[0].text], *save = NULL, *w;
    char who[AUTH_ID_BYTES] = "";
    Edgekv__Op ops[OPS_MAX], *ptrs[OPS_MAX];
    uint8_t *recs[OPS_MAX] = {0};
    size_t n = 0;
    int rc = 0;

    if (g_next == g_nlines) {
        g_next = 0;
        if (++g_round == g_repeat) {
            finish_ok();
            return;
        }
    }
    memcpy(text, g_lines[g_next].text, sizeof text);
    if (strcmp(text, "oversize") == 0) {
        uint8_t prefix[FRAME_PREFIX_BYTES + 16] = {0};
        frame_put_len(prefix, KV_FRAME_MAX_BYTES + 1u);
        printf("oversize %zu\n", g_next + 1);
        fflush(stdout);
        g_next++;
        tls_conn_write(g_conn, prefix, sizeof prefix, NULL, NULL);
        return; /* the origin must close the link */
    }
    w = strtok_r(text, " ", &save);
    if (w && strncmp(w, "id:", 3) == 0)
        snprintf(who, sizeof who, "%s", w + 3);
    else if (w && strncmp(w, "secret:", 7) == 0)
        auth_configured_id(w + 7, strlen(w + 7), who);
    else if (!w || strcmp(w, "-") != 0)
        rc = -1;
    while (rc == 0 && (w = strtok_r(NULL, " ", &save)) && n < OPS_MAX) {
        rc = parse_op(w, &ops[n], &recs[n]);
        ptrs[n] = &ops[n];
        n++;
    }
    if (rc != 0 || n == 0) {
        fprintf(stderr, "hostile_edge: bad script line %zu\n", g_next + 1);
        exit(1);
    }
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    r.request_id = (uint64_t)g_round * g_nlines + g_next + 1;
    r.n_ops = n;
    r.ops = ptrs;
    r.token_id = who;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    if (send_frame(&f) != 0) {
        fprintf(stderr, "hostile_edge: cannot send line %zu\n", g_next + 1);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        kv_free(recs[i]);
}

/* A result as the test reads it: ok, unauth, forbidden, or the number. */
static void print_code(int code)
{
    if (code == 0)
        printf(" ok");
    else if (code == KV_EUNAUTH)
        printf(" unauth");
    else if (code == KV_EFORBIDDEN)
        printf(" forbidden");
    else
        printf(" %d", code);
}

static void on_frame(Edgekv__Frame *f)
{
    uv_timer_again(&g_idle);
    switch (f->msg_case) {
    case EDGEKV__FRAME__MSG_WELCOME:
        printf("welcome\n");
        fflush(stdout);
        send_next();
        break;
    case EDGEKV__FRAME__MSG_REFUSE:
        printf("refused %s\n", f->refuse->reason ? f->refuse->reason : "");
        fflush(stdout);
        break;
    case EDGEKV__FRAME__MSG_WRITE_RESULT: {
        const Edgekv__WriteResult *r = f->write_result;
        printf("result %zu", g_next + 1);
        print_code((int)r->status);
        for (size_t i = 0; i < r->n_results; i++)
            print_code((int)r->results[i]);
        printf("\n");
        fflush(stdout);
        g_next++;
        send_next();
        break;
    }
    default:
        break; /* snapshot, batches, heartbeats: not a replica */
    }
}

static void on_data(tls_conn_t *c, const uint8_t *data, size_t len)
{
    (void)c;
    while (len > 0 && !g_done) {
        Edgekv__Frame *f = NULL;
        int rc = frame_reader_next(&g_rd, &data, &len, &f);
        if (rc <= 0) {
            if (rc < 0)
                tls_conn_close(g_conn);
            return;
        }
        on_frame(f);
        frame_free(f);
    }
}

static void on_handshake(tls_conn_t *c, int status)
{
    (void)c;
    if (status != 0)
        return; /* on_close reports it */
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    h.history_id = "";
    h.node_id = g_node_id;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    if (send_frame(&f) != 0)
        tls_conn_close(g_conn);
}

static void on_close(tls_conn_t *c, int status, const char *reason)
{
    (void)c;
    g_conn = NULL;
    if (!g_done) {
        printf("closed %d %s\n", status, reason);
        fflush(stdout);
        g_done = 1;
        uv_close((uv_handle_t *)&g_idle, NULL);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    if (status != 0 || tls_conn_start(g_conn) != 0) {
        fprintf(stderr, "hostile_edge: connect: %s\n", uv_strerror(status));
        tls_conn_close(g_conn);
    }
    (void)req;
}

static void on_idle(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "hostile_edge: nothing happened for %d ms\n", IDLE_MS);
    exit(1);
}

int main(int argc, char **argv)
{
    static const tls_conn_cbs_t cbs = {
        .on_handshake = on_handshake, .on_data = on_data, .on_close = on_close};
    struct sockaddr_in addr;
    uv_connect_t req;
    tls_ctx_t *ctx;
    FILE *f;

    if (argc != 8) {
        fprintf(stderr, "usage: hostile_edge CA CERT KEY PORT NODE_ID SCRIPT REPEAT\n");
        return 1;
    }
    g_node_id = (uint32_t)strtoul(argv[5], NULL, 10);
    g_repeat = strtoul(argv[7], NULL, 10);
    if (!(f = fopen(argv[6], "r"))) {
        perror(argv[6]);
        return 1;
    }
    while (g_nlines < LINES_MAX && fgets(g_lines[g_nlines].text, sizeof g_lines[0].text, f)) {
        g_lines[g_nlines].text[strcspn(g_lines[g_nlines].text, "\n")] = '\0';
        if (g_lines[g_nlines].text[0])
            g_nlines++;
    }
    fclose(f);
    if (g_nlines == 0 || g_repeat == 0 ||
        tls_ctx_create(TLS_ROLE_EDGE, argv[1], argv[2], argv[3], &ctx) != 0) {
        fprintf(stderr, "hostile_edge: empty script, REPEAT 0, or unusable certificate\n");
        return 1;
    }
    frame_reader_init(&g_rd, KV_FRAME_MAX_BYTES);
    uv_loop_t *loop = uv_default_loop();
    uv_timer_init(loop, &g_idle);
    uv_timer_start(&g_idle, on_idle, IDLE_MS, IDLE_MS);
    if (tls_conn_create(ctx, loop, false, &cbs, NULL, &g_conn) != 0)
        return 1;
    uv_ip4_addr("127.0.0.1", atoi(argv[4]), &addr);
    if (uv_tcp_connect(&req, tls_conn_tcp(g_conn), (struct sockaddr *)&addr, on_connected) != 0)
        return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    frame_reader_free(&g_rd);
    tls_ctx_free(ctx);
    uv_loop_close(loop);
    return 0;
}
