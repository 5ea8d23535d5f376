/*
 * fuzz_bulkscan.c - libFuzzer harness of node/api/bulk_scan.c, the direct
 * reader of REST bulk bodies. The first byte picks the reader (put items
 * or delete keys), the rest is the body.
 * Properties (bulk_scan_oracle.h): a body the reader takes, jansson takes
 * too and holds the same items; a body it leaves is unchanged; nothing is
 * read or written outside the body and the item array (ASan).
 */
#include "fuzz_util.h"

#define BSO_CHECK(cond) FZ_CHECK(cond)
#include "bulk_scan_oracle.h"

/* Items a body may hold here: the reader answers 0 beyond it. */
#define FZB_CAP 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bulk_scan_item_t items[FZB_CAP];
    static json_t *metas[FZB_CAP];
    uint8_t *buf;
    if (size == 0)
        return 0;
    buf = malloc(size);
    FZ_CHECK(buf != NULL);
    (void)bulk_scan_oracle(data + 1, size - 1, data[0] & 1, buf, items, metas, FZB_CAP);
    free(buf);
    return 0;
}
