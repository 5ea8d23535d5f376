/*
 * gen_seeds.c - writes the seed corpora of tests/fuzz/corpus/<harness>/
 * with the project's own encoders, so every seed is a meaningful input:
 * valid frames of every kind, stored log entries and records, origin and
 * edge event programs (fuzz_repl_drive.h) that get through the handshake to
 * writes, batches and a snapshot, token records (current and JSON), a
 * configuration file with flags, list pages with a real cursor, REST
 * parameters, multipart bodies, text codec inputs, HTTP requests for every
 * route and JSON bodies of the REST API and the binding protocol.
 *   fuzz_gen_seeds DIR      (DIR: tests/fuzz/corpus; files are overwritten)
 * Built with EDGEKV_FUZZ; run by hand when a format changes, and commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frame.h"
#include "kv_mem.h"
#include "record.h"
#include "state.h"
#include "wire.h"

#define NS   "00112233445566778899aabbccddeeff"
#define HIST "0123456789abcdef0123456789abcdef"
#define NOW  1700000000000ull

static const char *root;

/* A growable byte buffer. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put8(buf_t *b, uint8_t v)
{
    put(b, &v, 1);
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void save(const char *harness, const char *name, const void *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void save_buf(const char *harness, const char *name, buf_t *b)
{
    save(harness, name, b->p, b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void save_str(const char *harness, const char *name, const char *s)
{
    save(harness, name, s, strlen(s));
}

/* ---- frames ------------------------------------------------------------------------ */

/* Encoded frame (prefix included); *body_len without the prefix. */
static uint8_t *enc(const Edgekv__Frame *f, size_t *len)
{
    uint8_t *b;
    if (frame_encode(f, &b, len) != 0)
        abort();
    return b;
}

static repl_op_t op_put(const char *key, const char *val, const char *meta)
{
    repl_op_t op = {.kind = REPL_OP_PUT};
    memcpy(op.ns_id, NS, sizeof op.ns_id);
    op.key = key;
    op.key_len = strlen(key);
    op.value = (const uint8_t *)val;
    op.value_len = strlen(val);
    op.metadata = meta;
    op.metadata_len = meta ? strlen(meta) : 0;
    op.expiration = meta ? 1900000000 : 0;
    return op;
}

static repl_op_t op_kind(repl_op_kind_t k)
{
    repl_op_t op = {.kind = k};
    memcpy(op.ns_id, k >= REPL_OP_TOKEN_PUT ? REPL_TOKEN_NS_ID : NS, sizeof op.ns_id);
    op.key = k >= REPL_OP_TOKEN_PUT ? "tok1" : "key";
    op.key_len = op.key ? strlen(op.key) : 0;
    op.account = "acct1";
    op.title = "my-namespace";
    if (k == REPL_OP_TOKEN_PUT) {
        op.value = (const uint8_t *)"record";
        op.value_len = 6;
    }
    return op;
}

static repl_mutation_t mut(uint64_t seq, repl_op_t op)
{
    repl_mutation_t m = {.seq = seq, .op = op};
    m.version.hlc = (NOW << 16) | seq;
    m.version.node_id = 1;
    return m;
}

/* Frame builders: each returns an encoded frame. */
static uint8_t *f_hello(size_t *len, const char *hist, uint64_t applied)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    h.history_id = (char *)hist;
    h.applied_seq = applied;
    h.node_id = 2;
    h.hlc_ms = NOW;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    return enc(&f, len);
}

static uint8_t *f_welcome(size_t *len, int snapshot, uint64_t origin_seq, uint64_t from)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    w.history_id = HIST;
    w.mode = snapshot ? EDGEKV__WELCOME__MODE__SNAPSHOT : EDGEKV__WELCOME__MODE__RESUME;
    w.origin_seq = origin_seq;
    w.from_seq = from;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &w;
    return enc(&f, len);
}

static uint8_t *f_write(size_t *len, uint64_t id, const repl_op_t *ops, size_t n)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    Edgekv__Op pb[8], *pp[8];
    for (size_t i = 0; i < n; i++) {
        repl_wire_op_view(&ops[i], &pb[i]);
        pp[i] = &pb[i];
    }
    r.request_id = id;
    r.hlc_hint = NOW << 16;
    r.n_ops = n;
    r.ops = pp;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    return enc(&f, len);
}

static uint8_t *f_result(size_t *len, uint64_t id, int status, uint64_t seq, size_t n)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteResult r = EDGEKV__WRITE_RESULT__INIT;
    int32_t res[8] = {0};
    r.request_id = id;
    r.status = status;
    r.seq = seq;
    r.n_results = n;
    r.results = res;
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_RESULT;
    f.write_result = &r;
    return enc(&f, len);
}

static uint8_t *f_muts(size_t *len, int chunk, const repl_mutation_t *m, size_t n,
                       uint64_t origin_seq)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__MutationBatch b = EDGEKV__MUTATION_BATCH__INIT;
    Edgekv__SnapshotChunk c = EDGEKV__SNAPSHOT_CHUNK__INIT;
    repl_wire_mut_t w[8];
    Edgekv__Mutation *pp[8];
    for (size_t i = 0; i < n; i++) {
        repl_wire_mut_view(&m[i], &w[i]);
        pp[i] = &w[i].mut;
    }
    if (chunk) {
        c.n_mutations = n;
        c.mutations = pp;
        f.msg_case = EDGEKV__FRAME__MSG_SNAPSHOT_CHUNK;
        f.snapshot_chunk = &c;
    } else {
        b.n_mutations = n;
        b.mutations = pp;
        b.origin_seq = origin_seq;
        b.origin_time_ms = NOW;
        f.msg_case = EDGEKV__FRAME__MSG_BATCH;
        f.batch = &b;
    }
    return enc(&f, len);
}

static uint8_t *f_small(size_t *len, int kind, uint64_t v)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Heartbeat hb = EDGEKV__HEARTBEAT__INIT;
    Edgekv__ProgressAck ack = EDGEKV__PROGRESS_ACK__INIT;
    Edgekv__Refuse ref = EDGEKV__REFUSE__INIT;
    Edgekv__SnapshotEnd end = EDGEKV__SNAPSHOT_END__INIT;
    switch (kind) {
    case 0:
        hb.origin_seq = v;
        hb.origin_time_ms = NOW;
        f.msg_case = EDGEKV__FRAME__MSG_HEARTBEAT;
        f.heartbeat = &hb;
        break;
    case 1:
        ack.applied_seq = v;
        f.msg_case = EDGEKV__FRAME__MSG_ACK;
        f.ack = &ack;
        break;
    case 2:
        ref.reason = "history changed";
        f.msg_case = EDGEKV__FRAME__MSG_REFUSE;
        f.refuse = &ref;
        break;
    default:
        end.seq = v;
        end.history_id = HIST;
        f.msg_case = EDGEKV__FRAME__MSG_SNAPSHOT_END;
        f.snapshot_end = &end;
        break;
    }
    return enc(&f, len);
}

/* Command 1 of fuzz_repl_drive.h: a frame body with a 2-byte length. */
static void cmd_frame(buf_t *b, uint8_t *fr, size_t len)
{
    size_t body = len - FRAME_PREFIX_BYTES;
    put8(b, 1);
    put8(b, (uint8_t)body);
    put8(b, (uint8_t)(body >> 8));
    put(b, fr + FRAME_PREFIX_BYTES, body);
    kv_free(fr);
}

static void gen_frame(void)
{
    repl_op_t ops[6] = {op_put("key", "value", "{\"a\":1}"), op_kind(REPL_OP_DELETE),
                        op_kind(REPL_OP_NS_CREATE),          op_kind(REPL_OP_NS_RENAME),
                        op_kind(REPL_OP_TOKEN_PUT),          op_kind(REPL_OP_TOKEN_DELETE)};
    repl_mutation_t m[3] = {mut(1, ops[0]), mut(2, ops[2]), mut(3, op_kind(REPL_OP_NOOP))};
    struct {
        const char *name;
        uint8_t *fr;
        size_t len;
    } all[12];
    size_t n = 0;
    all[n].name = "hello", all[n].fr = f_hello(&all[n].len, HIST, 3), n++;
    all[n].name = "welcome", all[n].fr = f_welcome(&all[n].len, 0, 5, 4), n++;
    all[n].name = "write_request", all[n].fr = f_write(&all[n].len, 1, ops, 6), n++;
    all[n].name = "write_result", all[n].fr = f_result(&all[n].len, 1, 0, 9, 6), n++;
    all[n].name = "batch", all[n].fr = f_muts(&all[n].len, 0, m, 3, 3), n++;
    all[n].name = "snapshot_chunk", all[n].fr = f_muts(&all[n].len, 1, m, 2, 0), n++;
    all[n].name = "heartbeat", all[n].fr = f_small(&all[n].len, 0, 3), n++;
    all[n].name = "ack", all[n].fr = f_small(&all[n].len, 1, 3), n++;
    all[n].name = "refuse", all[n].fr = f_small(&all[n].len, 2, 0), n++;
    all[n].name = "snapshot_end", all[n].fr = f_small(&all[n].len, 3, 3), n++;
    buf_t stream = {0};
    put8(&stream, 7);
    for (size_t i = 0; i < n; i++) {
        buf_t one = {0};
        put8(&one, (uint8_t)(i * 37));
        put(&one, all[i].fr, all[i].len);
        save_buf("frame", all[i].name, &one);
        put(&stream, all[i].fr, all[i].len);
    }
    save_buf("frame", "stream", &stream);
    /* 4 000 empty ops: a huge repeated field from a small frame. */
    buf_t big = {0};
    uint8_t hdr[FRAME_PREFIX_BYTES];
    size_t req = 4 + 2 * 4000; /* request_id 1, hlc_hint 0, then the ops */
    size_t body = 1 + 2 + req; /* Frame.write_request: tag, 2-byte length */
    put8(&big, 255);
    frame_put_len(hdr, (uint32_t)body);
    put(&big, hdr, sizeof hdr);
    put8(&big, 0x22);
    put8(&big, (uint8_t)(0x80 | (req & 0x7f)));
    put8(&big, (uint8_t)(req >> 7));
    put8(&big, 0x08), put8(&big, 0x01), put8(&big, 0x10), put8(&big, 0x00);
    for (int i = 0; i < 4000; i++)
        put8(&big, 0x1a), put8(&big, 0x00); /* WriteRequest.ops: an empty Op */
    save_buf("frame", "many_empty_ops", &big);

    /* Stored log entries and records. */
    for (int i = 0; i < 3; i++) {
        uint8_t b[512];
        size_t len;
        if (repl_mutation_encode(&m[i], b, sizeof b, &len) != 0)
            abort();
        char name[32];
        snprintf(name, sizeof name, "entry_%d", i);
        save("logentry", name, b, len);
    }
    stor_record_t r = {.version = {.hlc = NOW << 16, .node_id = 1},
                       .expiration = 1900000000,
                       .metadata = "{\"a\":1}",
                       .metadata_len = 7,
                       .value = (const uint8_t *)"value",
                       .value_len = 5};
    uint8_t h[STOR_RECORD_HEADER_BYTES];
    stor_record_encode_header(&r, h);
    buf_t rec = {0};
    put(&rec, h, sizeof h);
    puts_(&rec, "{\"a\":1}value");
    save_buf("logentry", "record", &rec);
    r.tombstone = true, r.metadata_len = 0, r.value_len = 0;
    stor_record_encode_header(&r, h);
    save("logentry", "record_tombstone", h, sizeof h);

    for (size_t i = 0; i < n; i++)
        kv_free(all[i].fr);
}

/* ---- origin and edge event programs ------------------------------------------------- */

static void gen_origin(void)
{
    repl_op_t ops[3] = {op_put("key", "value", "{\"a\":1}"), op_kind(REPL_OP_NS_CREATE),
                        op_kind(REPL_OP_DELETE)};
    size_t len;
    for (int v = 0; v < 4; v++) {
        buf_t b = {0};
        /* shape: log kept (v&1: empty log), group of 1..4 ops; last_seq 3 */
        put8(&b, (uint8_t)((v & 1) | (v & 2 ? 0x10 | 0x20 : 0)));
        put8(&b, 3);
        /* Hello: same history (0), applied 1 / fresh (1) */
        put8(&b, (uint8_t)(v < 2 ? 0 : 1));
        put8(&b, 1);
        cmd_frame(&b, f_write(&len, 1, ops, 3), len);
        cmd_frame(&b, f_small(&len, 1, 6), len);
        put8(&b, 3), put8(&b, 10); /* time */
        put8(&b, 5), put8(&b, 1), put8(&b, 3), puts_(&b, "abc"), put8(&b, 2), puts_(&b, "vv"),
            put8(&b, 0);
        cmd_frame(&b, f_write(&len, 2, ops, 1), len);
        put8(&b, 3), put8(&b, 40);
        cmd_frame(&b, f_small(&len, 1, 7), len);
        put8(&b, 6), put8(&b, 0), put8(&b, 2); /* drop, hello again */
        cmd_frame(&b, f_write(&len, 3, ops + 2, 1), len);
        char name[32];
        snprintf(name, sizeof name, "session_%d", v);
        save_buf("origin", name, &b);
    }
    /* Deferred storage, and a failed commit. */
    buf_t b = {0};
    put8(&b, 0x80), put8(&b, 0), put8(&b, 1), put8(&b, 0);
    cmd_frame(&b, f_write(&len, 1, ops, 2), len);
    cmd_frame(&b, f_write(&len, 2, ops, 1), len);
    put8(&b, 4);
    put8(&b, 7 | (31 << 3));
    cmd_frame(&b, f_write(&len, 3, ops, 1), len);
    put8(&b, 4);
    save_buf("origin", "deferred_fail", &b);
}

static void gen_edge(void)
{
    size_t len;
    repl_mutation_t m[3] = {mut(4, op_put("key", "value", NULL)),
                            mut(5, op_kind(REPL_OP_NS_CREATE)), mut(6, op_kind(REPL_OP_TOKEN_PUT))};
    /* Resume at 3: batches, heartbeat, a local write and its result. */
    buf_t b = {0};
    put8(&b, 1), put8(&b, 3); /* shape: history, applied 3 */
    put8(&b, 0), put8(&b, 3); /* Welcome RESUME, origin_seq 6 */
    cmd_frame(&b, f_muts(&len, 0, m, 2, 6), len);
    cmd_frame(&b, f_small(&len, 0, 6), len);
    put8(&b, 5), put8(&b, 1), put8(&b, 3), puts_(&b, "abc"), put8(&b, 2), puts_(&b, "vv"),
        put8(&b, 0);
    cmd_frame(&b, f_muts(&len, 0, m + 2, 1, 6), len);
    cmd_frame(&b, f_result(&len, 1, 0, 7, 1), len);
    put8(&b, 3), put8(&b, 20);
    put8(&b, 6), put8(&b, 3), put8(&b, 255), put8(&b, 0), put8(&b, 0);
    save_buf("edge", "resume", &b);
    /* Fresh edge: a snapshot. */
    repl_mutation_t s[2] = {mut(0, op_put("a", "1", NULL)), mut(0, op_kind(REPL_OP_NS_CREATE))};
    put8(&b, 0);
    put8(&b, 4), put8(&b, 6); /* Welcome SNAPSHOT, origin_seq 6 */
    cmd_frame(&b, f_muts(&len, 1, s, 2, 0), len);
    cmd_frame(&b, f_small(&len, 3, 6), len);
    m[0].seq = 7;
    cmd_frame(&b, f_muts(&len, 0, m, 1, 7), len);
    put8(&b, 4);
    save_buf("edge", "snapshot", &b);
    /* Deferred applies; a result for a write never made. */
    put8(&b, 0x81), put8(&b, 3);
    put8(&b, 0), put8(&b, 3);
    m[0].seq = 4;
    cmd_frame(&b, f_muts(&len, 0, m, 3, 6), len);
    cmd_frame(&b, f_result(&len, 9, -30003, 0, 0), len);
    put8(&b, 4);
    save_buf("edge", "deferred", &b);
}

/* ---- the rest ------------------------------------------------------------------------- */

static void gen_token(void)
{
    static const char *const ns[] = {NS};
    state_token_t t = {.id = "tok1",
                       .name = "ci",
                       .account = "acct1",
                       .sha256_hex =
                           "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                       .write = true,
                       .scoped = true,
                       .namespaces = ns,
                       .namespace_count = 1};
    uint8_t *rec;
    size_t len;
    if (state_token_encode(&t, &rec, &len) != 0)
        abort();
    buf_t b = {0};
    put8(&b, 0);
    put(&b, rec, len);
    save_buf("token", "record", &b);
    kv_free(rec);
    save_str("token", "json",
             "\x01{\"id\":\"tok1\",\"name\":\"ci\",\"account\":\"acct1\",\"sha256\":"
             "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
             "\"write\":true,\"namespaces\":[\"" NS "\"]}");
    save_str("token", "bearer", "\x02secret-admin-token");
}

static void gen_text(void)
{
    /* First byte: the parameter name (text.c's callers' names, 11 of them). */
    save_str("text", "query",
             "\x0b"
             "expiration_ttl=120&expiration=1900000000&metadata=%7B%22a%22%3A1%7D");
    save_str("text", "b64", "\x01SGVsbG8sIHdvcmxkIQ==\r\nAAEC");
    save_str("text", "int", "\x02-12.50");
    save_str("text", "utf8", "\x03k%C3%A9y+%E2%82%AC/%F0%9F%98%80");
    static const char own[] = "\xf5weird\0weird=a%20b&x";
    save("text", "own_name", own, sizeof own - 1);
}

static void gen_multipart(void)
{
    save_str("multipart", "value_metadata",
             "multipart/form-data; boundary=XyZ\n"
             "--XyZ\r\nContent-Disposition: form-data; name=\"value\"; filename=\"v.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\nhello world\r\n"
             "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\":1}\r\n"
             "--XyZ--\r\n");
    save_str("multipart", "quoted_boundary",
             "multipart/form-data; charset=utf-8; boundary=\"a b;c\"\n"
             "--a b;c\r\ncontent-disposition: form-data; name=\"value\"\r\n\r\n\r\n--a b;c--");
}

static void gen_config(void)
{
    save_str("config", "file",
             "{\"listen\":\"127.0.0.1:8788\",\"data_dir\":\"/tmp/x\",\"http_threads\":2,"
             "\"sync\":\"batch\",\"sync_interval_ms\":50,\"node_id\":7,\"account_id\":\"acct1\","
             "\"log_level\":\"warn\",\"cache_bytes\":1048576,\"compression\":false,"
             "\"tombstone_retention_s\":3600,\"propagation_bound_ms\":2000,"
             "\"heartbeat_interval_ms\":200,\"log_retention\":100,\"log_retention_max\":1000,"
             "\"tokens\":[{\"token\":\"s3cret\",\"account\":\"acct1\",\"name\":\"ci\","
             "\"access\":\"read\",\"namespaces\":[\"" NS "\"]},"
             "{\"token\":\"other\",\"account\":\"acct1\",\"namespaces\":\"*\"}]}");
    static const char flags[] = "{\"node_id\":3}\0--config\0x\0--listen=0.0.0.0:0\0--sync\0off\0"
                                "--token\0abc\0--propagation-bound-ms=500\0--new-history\0true";
    save("config", "flags", flags, sizeof flags - 1);
    save_str("config", "bad_key", "{\"listn\":\"x\"}");
}

static void gen_list(void)
{
    /* limit 3, a cursor after "a/b" (base64url "YS9i"), prefix "a" */
    static const char a[] = "\x03\x00\x00"
                            "a\0kYS9i";
    save("list", "prefix_cursor", a, sizeof a - 1);
    static const char b[] = "\x0a\x00\x01n/\0";
    save("list", "prefix_page", b, sizeof b - 1);
    static const char c[] = "\xe8\x03\x00\0k_w";
    save("list", "all_ff_cursor", c, sizeof c - 1);
}

static void gen_params(void)
{
    static const char a[] = "my-key\0expiration_ttl=120\0{\"a\":1}";
    save("params", "ttl", a, sizeof a - 1);
    static const char b[] = "k\0expiration=1900000000&expiration_ttl=\0null";
    save("params", "expiration", b, sizeof b - 1);
    static const char c[] = "..\0expiration=12.5\0[1,2";
    save("params", "bad", c, sizeof c - 1);
}

/* fuzz_http: byte 0 is the write pattern (0: at once), then the client's
 * bytes, for every route of README.md. ACCT, the namespace and the secrets
 * are fuzz_node.h's. */
#define H_ACCT  "0123456789abcdef0123456789abcdef"
#define H_NSP   "/client/v4/accounts/" H_ACCT "/storage/kv/namespaces"
#define H_VAL   H_NSP "/" NS
#define H_ADMIN "Authorization: Bearer fuzz-admin-secret\r\n"
#define H_READ  "Authorization: Bearer fuzz-reader-secret\r\n"
#define H_BIND  "X-EdgeKV-Namespace: " NS "\r\n"

static void http_seed(const char *name, uint8_t pattern, const char *text)
{
    buf_t b = {0};
    put8(&b, pattern);
    puts_(&b, text);
    save_buf("http", name, &b);
}

static void gen_http(void)
{
    http_seed("healthz", 0, "GET /healthz HTTP/1.1\r\nHost: n\r\n\r\n");
    http_seed("metrics_head", 0, "HEAD /metrics HTTP/1.1\r\n\r\n");
    http_seed("status", 0, "GET /status HTTP/1.1\r\n" H_ADMIN "\r\n");
    http_seed("digest_reader", 0, "GET /digest HTTP/1.1\r\n" H_READ "\r\n");
    http_seed("digest", 0, "GET /digest HTTP/1.1\r\n" H_ADMIN "Connection: close\r\n\r\n");
    http_seed("ns_list", 0,
              "GET " H_NSP "?page=1&per_page=5&order=title&direction=desc HTTP/1.1\r\n" H_ADMIN
              "\r\n");
    http_seed("ns_create", 0,
              "POST " H_NSP " HTTP/1.1\r\n" H_ADMIN "Content-Type: application/json\r\n"
              "Content-Length: 18\r\n\r\n{\"title\":\"my-app\"}");
    http_seed("ns_get_rename_delete", 0,
              "GET " H_VAL " HTTP/1.1\r\n" H_ADMIN "\r\n"
              "PUT " H_VAL " HTTP/1.1\r\n" H_ADMIN "Content-Length: 16\r\n\r\n{\"title\":\"next\"}"
              "DELETE " H_NSP "/ffffffffffffffffffffffffffffffff HTTP/1.1\r\n" H_ADMIN "\r\n");
    http_seed("value_put_get", 0,
              "PUT " H_VAL "/values/user%3A1?expiration_ttl=3600 HTTP/1.1\r\n" H_ADMIN
              "Content-Length: 3\r\n\r\nAda"
              "GET " H_VAL "/values/user%3A1 HTTP/1.1\r\n" H_READ "\r\n"
              "HEAD " H_VAL "/values/user%3A1 HTTP/1.1\r\n" H_READ "\r\n"
              "GET " H_VAL "/metadata/user%3A1 HTTP/1.1\r\n" H_READ "\r\n"
              "DELETE " H_VAL "/values/user%3A1 HTTP/1.1\r\n" H_ADMIN "\r\n");
    http_seed("value_multipart", 0,
              "PUT " H_VAL "/values/k2 HTTP/1.1\r\n" H_ADMIN
              "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 135\r\n\r\n"
              "--XX\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nhello\r\n"
              "--XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"p\":1}\r\n"
              "--XX--\r\n");
    http_seed("keys_cursor", 0,
              "GET " H_VAL "/keys?prefix=user&limit=10 HTTP/1.1\r\n" H_READ "\r\n"
              "GET " H_VAL "/keys?limit=10&cursor=dXNlcjox HTTP/1.1\r\n" H_READ "\r\n");
    http_seed(
        "bulk", 0,
        "PUT " H_VAL "/bulk HTTP/1.1\r\n" H_ADMIN "Content-Type: application/json\r\n"
        "Content-Length: 91\r\n\r\n"
        "[{\"key\":\"a\",\"value\":\"1\"},{\"key\":\"b\",\"value\":\"aGVsbG8=\",\"base64\":true,"
        "\"expiration_ttl\":600}]"
        "POST " H_VAL "/bulk/get HTTP/1.1\r\n" H_READ "Content-Length: 43\r\n\r\n"
        "{\"keys\":[\"a\",\"b\",\"zz\"],\"withMetadata\":true}"
        "POST " H_VAL "/bulk/delete HTTP/1.1\r\n" H_ADMIN "Content-Length: 9\r\n\r\n"
        "[\"a\",\"b\"]");
    http_seed("bulk_chunked", 0,
              "DELETE " H_VAL "/bulk HTTP/1.1\r\n" H_ADMIN "Transfer-Encoding: chunked\r\n\r\n"
              "4\r\n[\"a\"\r\n1\r\n]\r\n0\r\nX-Trailer: t\r\n\r\n");
    http_seed("tokens", 0,
              "POST /client/v4/accounts/" H_ACCT "/tokens HTTP/1.1\r\n" H_ADMIN
              "Content-Length: 78\r\n\r\n"
              "{\"name\":\"w\",\"access\":\"read\",\"namespaces\":[\"" NS "\"]}"
              "GET /client/v4/accounts/" H_ACCT "/tokens HTTP/1.1\r\n" H_ADMIN "\r\n"
              "GET /client/v4/accounts/" H_ACCT "/tokens/verify HTTP/1.1\r\n" H_READ "\r\n"
              "DELETE /client/v4/accounts/" H_ACCT "/tokens/0011223344556677 HTTP/1.1\r\n" H_ADMIN
              "\r\n");
    http_seed("binding", 0,
              "PUT /session%2F1?urlencoded=true&expiration_ttl=600 HTTP/1.1\r\n" H_BIND H_ADMIN
              "CF-KV-Metadata: {\"user\":42}\r\nContent-Length: 9\r\n\r\ntoken-abc"
              "GET /session%2F1?urlencoded=true&cache_ttl=60 HTTP/1.1\r\n" H_BIND H_READ "\r\n"
              "GET /?prefix=sess&key_count_limit=10 HTTP/1.1\r\n" H_BIND H_READ "\r\n"
              "POST /bulk/get HTTP/1.1\r\n" H_BIND H_READ "Content-Length: 56\r\n\r\n"
              "{\"keys\":[\"session/1\"],\"type\":\"json\",\"withMetadata\":true}"
              "DELETE /session%2F1?urlencoded=true HTTP/1.1\r\n" H_BIND H_ADMIN "\r\n");
    http_seed("bad_tokens", 0,
              "GET " H_VAL "/keys HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"
              "PUT " H_VAL "/values/k HTTP/1.1\r\n" H_READ "Content-Length: 1\r\n\r\nx"
              "GET /k HTTP/1.1\r\n" H_BIND "Authorization: Basic eA==\r\n\r\n"
              "GET /status HTTP/1.1\r\n\r\n");
    http_seed("early_401", 0,
              "PUT " H_VAL "/bulk HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n[{\"key\":");
    http_seed("continue_413", 0,
              "PUT " H_VAL "/values/big HTTP/1.1\r\n" H_ADMIN
              "Expect: 100-continue\r\nContent-Length: 26214401\r\n\r\n");
    http_seed("expect_continue", 0,
              "PUT " H_VAL "/values/c HTTP/1.1\r\n" H_ADMIN
              "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
    http_seed("http10_keepalive", 0,
              "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nope HTTP/1.0\r\n\r\n"
              "GET /healthz HTTP/1.1\r\n\r\n");
    http_seed("garbage_after", 0, "GET /healthz HTTP/1.1\r\n\r\n\x01\x02 junk\r\n\r\n");
    http_seed("split_head", 7,
              "GET " H_VAL "/values/user%3A1 HTTP/1.1\r\n" H_READ "X-A: 1\r\nX-B: 2\r\n\r\n"
              "GET /healthz HTTP/1.1\r\n\r\n");
    http_seed("split_chunked", 5,
              "PUT " H_VAL "/values/sc HTTP/1.1\r\n" H_ADMIN "Transfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n3;ext=1\r\ndef\r\n0\r\n\r\n");
}

/* fuzz_body: route, token (0 and 1: the operator's, 2 read-only, 3 none),
 * the JSON body. The routes are fuzz_body.c's table. */
static void body_seed(const char *name, uint8_t route, uint8_t token, const char *json)
{
    buf_t b = {0};
    put8(&b, route);
    put8(&b, token);
    puts_(&b, json);
    save_buf("body", name, &b);
}

static void gen_body(void)
{
    body_seed(
        "bulk_put", 0, 0,
        "[{\"key\":\"a\",\"value\":\"1\",\"metadata\":{\"x\":[1,2]},\"expiration\":1900000000},"
        "{\"key\":\"b\",\"value\":\"aGVsbG8=\",\"base64\":true,\"expiration_ttl\":60}]");
    body_seed("bulk_put_bad", 0, 0, "[{\"key\":\"..\",\"value\":1e300,\"base64\":\"no\"}]");
    body_seed("bulk_delete", 1, 0, "[\"a\",\"b\",\"c%2F\"]");
    body_seed("bulk_delete_post", 2, 1, "[\"a\",{\"key\":\"b\"}]");
    body_seed("bulk_get", 3, 2,
              "{\"keys\":[\"a\",\"b\"],\"type\":\"json\",\"withMetadata\":true,\"cacheTtl\":60}");
    body_seed("ns_create", 4, 0, "{\"title\":\"sessions\"}");
    body_seed("ns_rename", 5, 0, "{\"title\":\"renamed\"}");
    body_seed("token", 6, 0,
              "{\"name\":\"worker\",\"access\":\"write\",\"namespaces\":[\"" NS "\"]}");
    body_seed("binding_bulk_get", 7, 2, "{\"keys\":[\"a\",\"b\"],\"type\":\"text\"}");
    body_seed("no_token", 0, 3, "[]");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/fuzz/corpus\n", argv[0]);
        return 2;
    }
    root = argv[1];
    gen_frame();
    gen_origin();
    gen_edge();
    gen_token();
    gen_text();
    gen_multipart();
    gen_config();
    gen_list();
    gen_params();
    gen_http();
    gen_body();
    return 0;
}
