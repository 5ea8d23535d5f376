/*
 * fuzz_list.c - libFuzzer harness of key listing with a fuzzed cursor and
 * prefix (storage/store_rec.c: stor_list and its cursor decoding) on a
 * small real RocksDB store made once per process in a temporary directory
 * (removed at exit): keys with shared prefixes, 0xff bytes, UTF-8, an
 * expired key and a tombstone. Input: 2 bytes of limit, a flags byte,
 * then the prefix up to the first NUL and the cursor after it.
 * Properties: a page holds at most `limit` keys, in strictly ascending
 * byte order, each with the prefix, none hidden; an incomplete page has a
 * cursor, and the page it leads to starts after the last key of this one.
 */
#include "fuzz_store.h"

#include <unistd.h>

#include "kv_err.h"
#include "store.h"

#define FZ_NS  "00112233445566778899aabbccddeeff"
#define FZ_NOW 1700000000

static stor_t *store;
static char dir[] = "/tmp/edgekv-fuzz-list-XXXXXX";

static void cleanup(void)
{
    fz_store_remove(store, dir);
}

static void put(const char *key, size_t len, int64_t exp, bool tomb)
{
    stor_record_t r = {0};
    static uint64_t hlc = 1;
    r.version.hlc = hlc++;
    r.version.node_id = 1;
    r.expiration = exp;
    r.tombstone = tomb;
    r.value = (const uint8_t *)"v";
    r.value_len = tomb ? 0 : 1;
    FZ_CHECK(stor_apply(store, FZ_NS, key, len, &r) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    store = fz_store_open(dir, 1u << 20);
    atexit(cleanup);
    static const char *const keys[] = {"a",    "a/b",      "a/b/c", "a/c", "ab",        "b",
                                       "key",  "key0",     "key1",  "ke",  "z\xc3\xa9", "\x7f",
                                       "\xff", "\xff\xff", "0",     "9"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        put(keys[i], strlen(keys[i]), 0, false);
    for (int i = 0; i < 30; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "n/%02d", i);
        put(k, (size_t)n, 0, false);
    }
    put("a/expired", 9, FZ_NOW - 10, false);
    put("a/deleted", 9, 0, true);
    return 0;
}

static void check_page(const stor_list_t *l, size_t limit, const char *prefix, size_t plen)
{
    FZ_CHECK(l->count <= limit);
    FZ_CHECK(l->complete == (l->cursor == NULL));
    for (size_t i = 0; i < l->count; i++) {
        const stor_list_item_t *it = &l->items[i];
        FZ_CHECK(it->name_len >= plen && memcmp(it->name, prefix, plen) == 0);
        FZ_CHECK(strcmp(it->name, "a/expired") != 0 && strcmp(it->name, "a/deleted") != 0);
        if (i > 0) {
            const stor_list_item_t *p = &l->items[i - 1];
            size_t m = p->name_len < it->name_len ? p->name_len : it->name_len;
            int c = memcmp(p->name, it->name, m);
            FZ_CHECK(c < 0 || (c == 0 && p->name_len < it->name_len));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    size_t limit = fz_u16(&in) % (KV_LIST_MAX_KEYS + 2);
    uint8_t flags = fz_u8(&in);
    const uint8_t *pfx, *cur;
    size_t plen = fz_until(&in, 0, &pfx);
    size_t clen = fz_bytes(&in, in.n, &cur);
    char *cursor = malloc(clen + 1);
    FZ_CHECK(cursor != NULL);
    memcpy(cursor, cur, clen);
    cursor[clen] = '\0';

    stor_list_t l;
    const char *prefix = (const char *)pfx;
    int rc = stor_list(store, FZ_NS, plen ? prefix : NULL, plen, (flags & 1) ? NULL : cursor, limit,
                       FZ_NOW, &l);
    FZ_CHECK(rc == 0 || rc == KV_EINVAL || rc == KV_EBADCURSOR);
    if (rc == 0) {
        check_page(&l, limit, prefix, plen);
        if (l.cursor && l.count > 0) {
            stor_list_t next;
            FZ_CHECK(stor_list(store, FZ_NS, plen ? prefix : NULL, plen, l.cursor, limit, FZ_NOW,
                               &next) == 0);
            check_page(&next, limit, prefix, plen);
            if (next.count > 0) {
                const stor_list_item_t *a = &l.items[l.count - 1], *b = &next.items[0];
                size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
                int c = memcmp(a->name, b->name, m);
                FZ_CHECK(c < 0 || (c == 0 && a->name_len < b->name_len));
            }
            stor_list_free(&next);
        }
        stor_list_free(&l);
    }
    free(cursor);
    return 0;
}
