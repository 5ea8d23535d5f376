/*
 * store_digest.c - a digest of a replica's logical content, to check that
 * replicas converged (origin vs edge after faults, simulator checkers).
 *
 * The digest is SHA-256 (FIPS 180-4, written out here: storage links no
 * crypto library, and a plain 64-bit hash is too easy to collide on the
 * near-identical states convergence tests compare) over a canonical
 * encoding read from one RocksDB snapshot:
 *
 *   "edgekv-digest-1"
 *   per namespace, in id order:  'N' id(32) u16 account_len account
 *                                u16 title_len title
 *   per record, in key order:    'R' ns_id(32) u32 key_len key u64 hlc
 *                                u32 node_id u8 tombstone u64 expiration
 *                                u32 metadata_len metadata u32 value_len value
 *   'E' u64 namespaces u64 records
 *
 * with integers big-endian. Everything in it is logical content, nothing
 * about files, levels or sequence numbers, so equal content hashes equal
 * whatever the write order, batching or compaction state. Namespace
 * versions are left out: an edge and the origin may stamp the same entry
 * at different points of its history. Not here: comparing digests.
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "store_int.h"

/* ---- SHA-256 ----------------------------------------------------------------------- */

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed */
    uint8_t buf[64];
    size_t fill;
} stor__sha_t;

static const uint32_t stor__sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t stor__ror(uint32_t x, int n)
{
    return x >> n | x << (32 - n);
}

static void stor__sha_init(stor__sha_t *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof(h0));
    c->total = 0;
    c->fill = 0;
}

static void stor__sha_block(stor__sha_t *c, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = stor__ror(w[i - 15], 7) ^ stor__ror(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = stor__ror(w[i - 2], 17) ^ stor__ror(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (stor__ror(e, 6) ^ stor__ror(e, 11) ^ stor__ror(e, 25)) +
                      ((e & f) ^ (~e & g)) + stor__sha_k[i] + w[i];
        uint32_t t2 = (stor__ror(a, 2) ^ stor__ror(a, 13) ^ stor__ror(a, 22)) +
                      ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void stor__sha_update(stor__sha_t *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    while (len > 0) {
        if (c->fill == 0 && len >= 64) {
            stor__sha_block(c, p);
            p += 64;
            len -= 64;
            continue;
        }
        size_t n = 64 - c->fill < len ? 64 - c->fill : len;
        memcpy(c->buf + c->fill, p, n);
        c->fill += n;
        p += n;
        len -= n;
        if (c->fill == 64) {
            stor__sha_block(c, c->buf);
            c->fill = 0;
        }
    }
}

static void stor__sha_final(stor__sha_t *c, uint8_t out[32])
{
    uint64_t bits = c->total * 8;
    uint8_t pad[72] = {0x80};
    size_t n = (c->fill < 56 ? 56 : 120) - c->fill;
    for (int i = 0; i < 8; i++)
        pad[n + i] = (uint8_t)(bits >> (56 - 8 * i));
    stor__sha_update(c, pad, n + 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(c->h[i] >> (24 - 8 * j));
}

/* ---- canonical encoding -------------------------------------------------------------- */

static void stor__dig_uint(stor__sha_t *c, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    stor__sha_update(c, b, (size_t)bytes);
}

static void stor__dig_bytes(stor__sha_t *c, const void *p, size_t len, int len_bytes)
{
    stor__dig_uint(c, len, len_bytes);
    stor__sha_update(c, p, len);
}

static int stor__dig_namespaces(stor_t *s, rocksdb_readoptions_t *ro, stor__sha_t *c, uint64_t *n)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf_ns);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        stor_ns_t ns;
        rc = stor__ns_decode(k, kl, v, vl, &ns);
        if (rc)
            break;
        stor__sha_update(c, "N", 1);
        stor__sha_update(c, ns.id, KV_NS_ID_LEN);
        stor__dig_bytes(c, ns.account, strlen(ns.account), 2);
        stor__dig_bytes(c, ns.title, strlen(ns.title), 2);
        (*n)++;
    }
    if (rc == 0)
        rc = stor__iter_err(it, "digest namespaces");
    rocksdb_iter_destroy(it);
    return rc;
}

static void stor__dig_record(stor__sha_t *c, const char *k, size_t kl, const stor_record_t *r)
{
    stor__sha_update(c, "R", 1);
    stor__sha_update(c, k, KV_NS_ID_LEN);
    stor__dig_bytes(c, k + KV_NS_ID_LEN, kl - KV_NS_ID_LEN, 4);
    stor__dig_uint(c, r->version.hlc, 8);
    stor__dig_uint(c, r->version.node_id, 4);
    stor__dig_uint(c, r->tombstone, 1);
    stor__dig_uint(c, (uint64_t)r->expiration, 8);
    stor__dig_bytes(c, r->metadata_len ? r->metadata : "", r->metadata_len, 4);
    stor__dig_bytes(c, r->value_len ? (const void *)r->value : "", r->value_len, 4);
}

static int stor__dig_records(stor_t *s, rocksdb_readoptions_t *ro, int64_t now_s, stor__sha_t *c,
                             uint64_t *n)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf_records);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        stor_record_t r;
        if (kl < KV_NS_ID_LEN || stor_record_decode(v, vl, &r) != 0) {
            KV_LOG_ERROR(STOR_LOG, "digest: corrupt record (key %zu, value %zu bytes)", kl, vl);
            rc = KV_ECORRUPT;
            break;
        }
        if (!r.tombstone && r.expiration != 0 && r.expiration <= now_s)
            continue;
        stor__dig_record(c, k, kl, &r);
        (*n)++;
    }
    if (rc == 0)
        rc = stor__iter_err(it, "digest records");
    rocksdb_iter_destroy(it);
    return rc;
}

int stor_digest(stor_t *s, int64_t now_s, uint8_t out[STOR_DIGEST_BYTES])
{
    memset(out, 0, STOR_DIGEST_BYTES);
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(s->db);
    rocksdb_readoptions_t *ro = stor__scan_ropts(snap);
    stor__sha_t c;
    stor__sha_init(&c);
    stor__sha_update(&c, "edgekv-digest-1", 15);
    uint64_t n_ns = 0, n_rec = 0;
    int rc = stor__dig_namespaces(s, ro, &c, &n_ns);
    if (rc == 0)
        rc = stor__dig_records(s, ro, now_s, &c, &n_rec);
    rocksdb_readoptions_destroy(ro);
    rocksdb_release_snapshot(s->db, snap);
    if (rc)
        return rc;
    stor__sha_update(&c, "E", 1);
    stor__dig_uint(&c, n_ns, 8);
    stor__dig_uint(&c, n_rec, 8);
    stor__sha_final(&c, out);
    return 0;
}
