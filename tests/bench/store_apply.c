/*
 * store_apply.c - an edge's batch apply at the storage layer, against RocksDB
 * writing the same records with the same options in the same run.
 *
 *   store_apply [--muts N] [--batch B] [--value-bytes V] [--rounds R]
 *               [--keys random|sequential] [--dir D] [--json FILE]
 *
 * edgekv: stor_commit of batches of B mutations (random keys, or with
 * --keys sequential ascending ones as repl_lag's writers make, V-byte
 * values, versions above every stored one, as an edge applies a frame:
 * the LWW decision is made without a read, stored_hlc_max) into a fresh
 * store (stor_options_default, WAL written and not synced: --sync off).
 * The peer: one rocksdb_write of a WriteBatch of the same B keys and
 * encoded records into a fresh database with the options storage sets that
 * matter to a write (64 MiB memtable, LZ4, statistics, RocksDB's perf
 * counters off), its default column family only: what the write costs
 * without edgekv's key checks, sort, stripe locks, LWW decision and record
 * encoding. The two sides alternate, R rounds each, N mutations per round;
 * each side reports its median round. Measured: the writing thread's CPU
 * per mutation (the writes, not the flushes RocksDB runs on its own
 * threads, which the sides share alike), and wall time.
 *
 * Output: a table on stdout and, with --json FILE, its JSON. Exit 0 when
 * every commit succeeded. Speed is not asserted.
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "store.h"

#define SA_KEY_BYTES  16 /* "k" + 15 hex digits (a key is below 2^60) */
#define SA_KEY_BUF    24 /* room for any "k%015llx" and its NUL */
#define SA_ROUNDS_MAX 15

typedef struct {
    long muts, batch, value_bytes, rounds;
    bool sequential;
    const char *dir, *json;
} sa_opts_t;

typedef struct {
    double cpu_ns_per_mut, wall_ns_per_mut;
} sa_round_t;

static const char sa_ns[] = "0123456789abcdef0123456789abcdef";

static double sa_clock(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void sa_die(const char *what)
{
    fprintf(stderr, "store_apply: %s\n", what);
    exit(1);
}

static int sa_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void sa_rmtree(const char *dir)
{
    nftw(dir, sa_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The keys of one round, in order: xorshift from a fixed seed (or a
 * counter), so both sides write the same keys. */
static void sa_keys(char (*keys)[SA_KEY_BUF], long n, bool sequential)
{
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned long long k = sequential ? (unsigned long long)i : (unsigned long long)(x >> 4);
        snprintf(keys[i], SA_KEY_BUF, "k%015llx", k);
    }
}

static sa_round_t sa_edgekv(const sa_opts_t *o, char (*keys)[SA_KEY_BUF], const uint8_t *val,
                            const char *path)
{
    stor_options_t so;
    stor_options_default(&so);
    so.path = path;
    so.sync = STOR_SYNC_OFF;
    stor_t *s;
    if (stor_open(&so, &s) != 0)
        sa_die("cannot open the store");
    stor_mutation_t *m = calloc((size_t)o->batch, sizeof *m);
    int *res = calloc((size_t)o->batch, sizeof *res);
    if (!m || !res)
        sa_die("out of memory");
    uint64_t hlc = 1u << 20;
    double c0 = sa_clock(CLOCK_THREAD_CPUTIME_ID), w0 = sa_clock(CLOCK_MONOTONIC);
    for (long base = 0; base < o->muts; base += o->batch) {
        long n = o->muts - base < o->batch ? o->muts - base : o->batch;
        uint64_t before = hlc;
        for (long i = 0; i < n; i++) {
            m[i].ns_id = sa_ns;
            m[i].key = keys[base + i];
            m[i].key_len = SA_KEY_BYTES;
            m[i].rec = (stor_record_t){.version = {.hlc = ++hlc, .node_id = 1},
                                       .value = val,
                                       .value_len = (size_t)o->value_bytes};
        }
        stor_commit_t c = {
            .muts = m, .n_muts = (size_t)n, .mut_results = res, .stored_hlc_max = before};
        if (stor_commit(s, &c) != 0)
            sa_die("stor_commit failed");
    }
    sa_round_t r = {(sa_clock(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)o->muts,
                    (sa_clock(CLOCK_MONOTONIC) - w0) / (double)o->muts};
    free(m);
    free(res);
    stor_close(s);
    return r;
}

static sa_round_t sa_rocksdb(const sa_opts_t *o, char (*keys)[SA_KEY_BUF], const uint8_t *val,
                             const char *path)
{
    /* Storage's own defaults where they are public (stor_options_t);
     * its background jobs and bloom bits (store.c) are repeated here. */
    stor_options_t so;
    stor_options_default(&so);
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opt, 1);
    rocksdb_options_set_write_buffer_size(opt, so.write_buffer_bytes);
    rocksdb_options_set_compression(opt, so.compression ? rocksdb_lz4_compression
                                                        : rocksdb_no_compression);
    rocksdb_options_set_max_background_jobs(opt, 2);
    rocksdb_options_enable_statistics(opt);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(opt, t);
    rocksdb_block_based_options_destroy(t);
    char *err = NULL;
    rocksdb_t *db = rocksdb_open(opt, path, &err);
    if (err)
        sa_die(err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 0);
    rocksdb_set_perf_level(rocksdb_disable); /* as storage does (store.c) */
    /* The record as storage encodes it: a header, then the value. */
    stor_record_t rec = {.value = val, .value_len = (size_t)o->value_bytes};
    uint8_t *enc = malloc(STOR_RECORD_HEADER_BYTES + (size_t)o->value_bytes);
    if (!enc)
        sa_die("out of memory");
    char k[sizeof sa_ns - 1 + SA_KEY_BYTES];
    memcpy(k, sa_ns, sizeof sa_ns - 1);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint64_t hlc = 1u << 20;
    double c0 = sa_clock(CLOCK_THREAD_CPUTIME_ID), w0 = sa_clock(CLOCK_MONOTONIC);
    for (long base = 0; base < o->muts; base += o->batch) {
        long n = o->muts - base < o->batch ? o->muts - base : o->batch;
        rocksdb_writebatch_clear(wb);
        for (long i = 0; i < n; i++) {
            rec.version = (kv_version_t){.hlc = ++hlc, .node_id = 1};
            stor_record_encode(&rec, enc);
            memcpy(k + sizeof sa_ns - 1, keys[base + i], SA_KEY_BYTES);
            rocksdb_writebatch_put(wb, k, sizeof k, (const char *)enc,
                                   STOR_RECORD_HEADER_BYTES + (size_t)o->value_bytes);
        }
        rocksdb_write(db, wo, wb, &err);
        if (err)
            sa_die(err);
    }
    sa_round_t r = {(sa_clock(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)o->muts,
                    (sa_clock(CLOCK_MONOTONIC) - w0) / (double)o->muts};
    rocksdb_writebatch_destroy(wb);
    free(enc);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opt);
    return r;
}

static int sa_cmp(const void *a, const void *b)
{
    double x = ((const sa_round_t *)a)->cpu_ns_per_mut, y = ((const sa_round_t *)b)->cpu_ns_per_mut;
    return (x > y) - (x < y);
}

static long sa_long(const char *s, long lo, long hi, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "store_apply: %s must be an integer in %ld..%ld\n", name, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    sa_opts_t o = {300000, 30, 100, 3, false, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "store_apply: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--muts"))
            o.muts = sa_long(v, 1000, 100000000, a);
        else if (!strcmp(a, "--batch"))
            o.batch = sa_long(v, 1, 100000, a);
        else if (!strcmp(a, "--value-bytes"))
            o.value_bytes = sa_long(v, 0, 1 << 20, a);
        else if (!strcmp(a, "--rounds"))
            o.rounds = sa_long(v, 1, SA_ROUNDS_MAX, a);
        else if (!strcmp(a, "--keys") && (!strcmp(v, "random") || !strcmp(v, "sequential")))
            o.sequential = !strcmp(v, "sequential");
        else if (!strcmp(a, "--dir"))
            o.dir = v;
        else if (!strcmp(a, "--json"))
            o.json = v;
        else {
            fprintf(stderr, "store_apply: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    char tmpl[] = "/tmp/edgekv-store-apply-XXXXXX";
    const char *dir = o.dir ? o.dir : mkdtemp(tmpl);
    if (!dir)
        sa_die("cannot make a directory");
    char(*keys)[SA_KEY_BUF] = malloc((size_t)o.muts * sizeof *keys);
    uint8_t *val = malloc((size_t)o.value_bytes + 1);
    if (!keys || !val)
        sa_die("out of memory");
    sa_keys(keys, o.muts, o.sequential);
    memset(val, 'v', (size_t)o.value_bytes + 1);
    sa_round_t e[SA_ROUNDS_MAX], p[SA_ROUNDS_MAX];
    char path[4096];
    for (long r = 0; r < o.rounds; r++) {
        snprintf(path, sizeof path, "%s/edgekv-%ld", dir, r);
        e[r] = sa_edgekv(&o, keys, val, path);
        sa_rmtree(path);
        snprintf(path, sizeof path, "%s/rocksdb-%ld", dir, r);
        p[r] = sa_rocksdb(&o, keys, val, path);
        sa_rmtree(path);
    }
    sa_round_t es[SA_ROUNDS_MAX], ps[SA_ROUNDS_MAX];
    memcpy(es, e, sizeof e);
    memcpy(ps, p, sizeof p);
    qsort(es, (size_t)o.rounds, sizeof *es, sa_cmp);
    qsort(ps, (size_t)o.rounds, sizeof *ps, sa_cmp);
    sa_round_t em = es[(o.rounds - 1) / 2], pm = ps[(o.rounds - 1) / 2];
    const char *order = o.sequential ? "sequential" : "random";
    printf("store apply: %ld mutations per round in batches of %ld, %s keys, %ld-byte values, "
           "%ld rounds (alternating)\n",
           o.muts, o.batch, order, o.value_bytes, o.rounds);
    printf("%-44s | %14s | %14s\n", "side (median round)", "CPU ns / mut", "wall ns / mut");
    printf("%-44s | %14.0f | %14.0f\n", "edgekv stor_commit (LWW, no read)", em.cpu_ns_per_mut,
           em.wall_ns_per_mut);
    printf("%-44s | %14.0f | %14.0f\n", "RocksDB WriteBatch, same options", pm.cpu_ns_per_mut,
           pm.wall_ns_per_mut);
    printf("ratio edgekv / RocksDB (CPU): %.2f; every round:",
           em.cpu_ns_per_mut / pm.cpu_ns_per_mut);
    for (long r = 0; r < o.rounds; r++)
        printf(" %.0f/%.0f", e[r].cpu_ns_per_mut, p[r].cpu_ns_per_mut);
    printf("\n");
    if (o.json) {
        FILE *f = fopen(o.json, "w");
        if (!f)
            sa_die("cannot write the JSON");
        fprintf(f,
                "{\"muts\":%ld,\"batch\":%ld,\"keys\":\"%s\",\"value_bytes\":%ld,\"rounds\":%ld,"
                "\"edgekv\":{\"cpu_ns_per_mut\":%.1f,\"wall_ns_per_mut\":%.1f},"
                "\"rocksdb\":{\"cpu_ns_per_mut\":%.1f,\"wall_ns_per_mut\":%.1f},"
                "\"rounds_cpu_ns\":{\"edgekv\":[",
                o.muts, o.batch, order, o.value_bytes, o.rounds, em.cpu_ns_per_mut,
                em.wall_ns_per_mut, pm.cpu_ns_per_mut, pm.wall_ns_per_mut);
        for (long r = 0; r < o.rounds; r++)
            fprintf(f, "%s%.1f", r ? "," : "", e[r].cpu_ns_per_mut);
        fprintf(f, "],\"rocksdb\":[");
        for (long r = 0; r < o.rounds; r++)
            fprintf(f, "%s%.1f", r ? "," : "", p[r].cpu_ns_per_mut);
        fprintf(f, "]}}\n");
        fclose(f);
    }
    if (!o.dir)
        sa_rmtree(dir);
    free(keys);
    free(val);
    return 0;
}
