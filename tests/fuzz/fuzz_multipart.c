/*
 * fuzz_multipart.c - libFuzzer harness of node/api/multipart.c, the
 * multipart/form-data reader of the REST value upload. Input: a
 * Content-Type line (up to the first '\n'), then the body. Properties:
 * every part lies inside the body, parts come in body order without
 * overlap, a part's name lies inside the body, and mp_find returns the
 * first part of a name.
 */
#include "fuzz_util.h"

#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    const uint8_t *ct;
    size_t ct_len = fz_until(&in, '\n', &ct);
    const uint8_t *body = in.p, *end = in.p + in.n;
    mp_part_t parts[MP_MAX_PARTS];
    size_t n = 0;
    (void)mp_is_multipart((const char *)ct, ct_len);
    /* The body alone: an empty body is a valid argument too. */
    int rc = mp_parse((const char *)ct, ct_len, body, in.n, parts, MP_MAX_PARTS, &n);
    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(n <= MP_MAX_PARTS);
    if (rc != 0)
        return 0;
    const uint8_t *prev_end = body;
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(parts[i].data >= prev_end && parts[i].data + parts[i].len <= end);
        prev_end = parts[i].data + parts[i].len;
        if (parts[i].name) {
            const uint8_t *nm = (const uint8_t *)parts[i].name;
            FZ_CHECK(nm >= body && nm + parts[i].name_len <= end);
        }
    }
    static const char *const fields[] = {"value", "metadata", ""};
    for (size_t f = 0; f < 3; f++) {
        const mp_part_t *p = mp_find(parts, n, fields[f]);
        if (p) {
            for (const mp_part_t *q = parts; q < p; q++)
                FZ_CHECK(!(q->name_len == strlen(fields[f]) &&
                           memcmp(q->name, fields[f], q->name_len) == 0));
        }
    }
    return 0;
}
