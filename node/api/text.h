/*
 * text.h - small text codecs the APIs need: percent-decoding, query
 * strings, base64 with Go-compatible error offsets, UTF-8 checks, integer
 * parsing with Workers' 32-bit rules.
 *
 * Pure functions, no allocation except where a function says so.
 */
#ifndef NODE_TEXT_H
#define NODE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Percent-decode src into dst (capacity >= src_len). '+' is kept as '+'
 * (paths, and Workers' encodeURIComponent never emits '+' for space) unless
 * plus_is_space. Returns the decoded length, or -1 for a malformed escape. */
long text_pct_decode(const char *src, size_t src_len, char *dst, bool plus_is_space);

/* Find parameter `name` in a raw query string. On success *val and *val_len
 * point into the query (still encoded) and 1 is returned; 0 when absent. */
int text_query_get(const char *query, size_t query_len, const char *name, const char **val,
                   size_t *val_len);

/* Decoded copy of a query parameter into buf (NUL-terminated). Returns the
 * length, -1 when absent, -2 when malformed or longer than cap-1. */
long text_query_decode(const char *query, size_t query_len, const char *name, char *buf,
                       size_t cap);

/* Parse a decimal integer the way JavaScript's Number() then an int cast
 * would for our purposes: optional sign, digits, optional fraction (dropped).
 * Anything else (empty, "abc", "NaN") yields *out = 0 and returns false. */
bool text_parse_int(const char *s, size_t len, int64_t *out);

/* How a numeric option reads. Workers' runtime sends each as a 32-bit int
 * (KV-SPEC §0.2) and refuses anything outside that range (rule 11). */
typedef enum {
    TEXT_NUM_OK,   /* a number in [INT32_MIN, INT32_MAX]; the fraction is dropped */
    TEXT_NUM_NAN,  /* no number at all: *out = 0 */
    TEXT_NUM_RANGE /* a number outside the int32 range: *out = INT64_MIN or INT64_MAX */
} text_num_t;

/* [+-]DIGITS[.DIGITS][(e|E)[+-]DIGITS], read as JavaScript's Number() and
 * then the runtime's int conversion would. Never overflows, whatever the
 * text: "1e300" and "99999999999999999999" are TEXT_NUM_RANGE. */
text_num_t text_parse_num(const char *s, size_t len, int64_t *out);

/* A real number (e.g. a JSON number) by the same rule: NaN is TEXT_NUM_NAN,
 * infinities and every value outside the int32 range TEXT_NUM_RANGE. */
text_num_t text_num_real(double d, int64_t *out);

/* Standard base64 (RFC 4648, padded) decode as Go's encoding/base64
 * StdEncoding does, CR/LF ignored. Returns the decoded length, or -1 and
 * *err_pos = the input byte Go would report ("illegal base64 data at input
 * byte N"). dst needs (src_len / 4 + 1) * 3 bytes. */
long text_b64_decode(const char *src, size_t src_len, uint8_t *dst, size_t *err_pos);

/* Standard padded base64 encode; dst needs ((len + 2) / 3) * 4 + 1 bytes.
 * Returns the length written (NUL-terminated). */
size_t text_b64_encode(const uint8_t *src, size_t len, char *dst);

/* True when s[0..len) is well-formed UTF-8. */
bool text_utf8_valid(const char *s, size_t len);

/* Case-insensitive equality of a counted string and a C string. */
bool text_ieq(const char *a, size_t a_len, const char *b);

#endif
