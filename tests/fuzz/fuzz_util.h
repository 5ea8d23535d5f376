/*
 * fuzz_util.h - what every libFuzzer harness of tests/fuzz shares: a reader
 * that takes typed values off the fuzzer's input (zeros once it runs out,
 * so every input is a valid program), and FZ_CHECK, an invariant that
 * aborts (libFuzzer records the input as a crash) when it does not hold.
 *
 * Not a test framework: a harness is one LLVMFuzzerTestOneInput per file.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in_t;

static inline uint8_t fz_u8(fz_in_t *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(fz_in_t *in)
{
    uint16_t lo = fz_u8(in);
    return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static inline uint64_t fz_u64(fz_in_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}

/* Up to `want` bytes; *out points into the input. Returns how many. */
static inline size_t fz_bytes(fz_in_t *in, size_t want, const uint8_t **out)
{
    if (want > in->n)
        want = in->n;
    *out = in->p;
    in->p += want;
    in->n -= want;
    return want;
}

/* The bytes up to the next `sep` (not included; the separator is consumed)
 * or to the end. */
static inline size_t fz_until(fz_in_t *in, uint8_t sep, const uint8_t **out)
{
    const uint8_t *q = in->n ? memchr(in->p, sep, in->n) : NULL;
    size_t len = q ? (size_t)(q - in->p) : in->n;
    fz_bytes(in, len, out);
    if (q)
        fz_u8(in);
    return len;
}

#endif
