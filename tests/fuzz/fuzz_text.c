/*
 * fuzz_text.c - libFuzzer harness of node/api/text.c: percent-decoding
 * (both '+' rules), query lookup and decoding, Workers' integer parsing,
 * Go-compatible base64 and the UTF-8 check. The first byte picks a query
 * parameter name from what the APIs ask for (or one taken from the input).
 * Properties: decoded lengths never exceed the source; a query value found
 * lies inside the query; base64 encode then decode gives the input back,
 * and a decodable text re-encodes to bytes that decode the same; an error
 * offset lies inside the text; a parsed integer prints back as the digits
 * read (sign and leading zeros aside).
 */
#include "fuzz_util.h"

#include <inttypes.h>

#include "kv_mem.h"
#include "text.h"

static const char *const names[] = {"expiration_ttl", "expiration", "metadata",  "limit",
                                    "cursor",         "prefix",     "cacheTtl",  "type",
                                    "withMetadata",   "key",        "urlencoded"};

static void pct(const char *s, size_t n)
{
    char *dst = kv_malloc(n + 1);
    FZ_CHECK(dst != NULL);
    long a = text_pct_decode(s, n, dst, false);
    FZ_CHECK(a >= -1 && a <= (long)n);
    long b = text_pct_decode(s, n, dst, true);
    FZ_CHECK((a < 0) == (b < 0) && a == b);
    if (b >= 0)
        (void)text_utf8_valid(dst, (size_t)b);
    kv_free(dst);
}

static void query(const char *q, size_t n, const char *name)
{
    const char *v;
    size_t vlen;
    char buf[256];
    if (text_query_get(q, n, name, &v, &vlen)) {
        FZ_CHECK(v >= q && v + vlen <= q + n);
    }
    long d = text_query_decode(q, n, name, buf, sizeof buf);
    FZ_CHECK(d >= -2 && d < (long)sizeof buf);
    if (d >= 0)
        FZ_CHECK(buf[d] == '\0');
}

static void integer(const char *s, size_t n)
{
    int64_t v;
    bool ok = text_parse_int(s, n, &v);
    if (!ok) {
        FZ_CHECK(v == 0);
        return;
    }
    /* The digits before any '.', without sign and leading zeros. */
    size_t i = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0, j;
    while (i + 1 < n && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9')
        i++;
    for (j = i; j < n && s[j] != '.'; j++)
        ;
    char want[32], got[32];
    FZ_CHECK(j - i < sizeof want);
    memcpy(want, s + i, j - i);
    want[j - i] = '\0';
    snprintf(got, sizeof got, "%" PRIu64, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    FZ_CHECK(strcmp(want, got) == 0);
}

static void base64(const uint8_t *raw, size_t n)
{
    const char *s = (const char *)raw;
    uint8_t *dst = kv_malloc((n / 4 + 1) * 3);
    char *enc = kv_malloc((n + 2) / 3 * 4 + 1);
    FZ_CHECK(dst && enc);
    size_t err = SIZE_MAX;
    long d = text_b64_decode(s, n, dst, &err);
    if (d < 0) {
        FZ_CHECK(err <= n);
    } else {
        FZ_CHECK((size_t)d <= n / 4 * 3 + 2);
        /* Re-encoding what was decoded decodes to the same bytes. */
        char *e2 = kv_malloc(((size_t)d + 2) / 3 * 4 + 1);
        uint8_t *d2 = kv_malloc((size_t)d + 3);
        FZ_CHECK(e2 && d2);
        size_t elen = text_b64_encode(dst, (size_t)d, e2);
        FZ_CHECK(text_b64_decode(e2, elen, d2, &err) == d);
        FZ_CHECK(d == 0 || memcmp(dst, d2, (size_t)d) == 0);
        kv_free(e2);
        kv_free(d2);
    }
    /* Any bytes: encode then decode gives them back. */
    size_t elen = text_b64_encode(raw, n, enc);
    FZ_CHECK(elen == (n + 2) / 3 * 4 && enc[elen] == '\0');
    uint8_t *back = kv_malloc(elen / 4 * 3 + 3);
    FZ_CHECK(back != NULL);
    FZ_CHECK(text_b64_decode(enc, elen, back, &err) == (long)n);
    FZ_CHECK(n == 0 || memcmp(back, raw, n) == 0);
    kv_free(back);
    kv_free(dst);
    kv_free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    uint8_t pick = fz_u8(&in);
    char own[64];
    const char *name = names[pick % (sizeof names / sizeof names[0])];
    if (pick >= 0xf0) {
        /* A name from the input: the bytes up to the first '\0'. */
        const uint8_t *nm;
        size_t nl = fz_until(&in, 0, &nm);
        if (nl >= sizeof own)
            nl = sizeof own - 1;
        memcpy(own, nm, nl);
        own[nl] = '\0';
        name = own;
    }
    const char *s = (const char *)in.p;
    pct(s, in.n);
    query(s, in.n, name);
    integer(s, in.n);
    base64(in.p, in.n);
    (void)text_utf8_valid(s, in.n);
    (void)text_ieq(s, in.n, name);
    return 0;
}
