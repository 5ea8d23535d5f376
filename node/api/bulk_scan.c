/*
 * bulk_scan.c - see bulk_scan.h.
 *
 * A reader over [p, end): every function takes the reader at the first byte
 * of what it reads and leaves it after; -1 means "not the usual shape" and
 * the whole scan answers 0. JSON's grammar (RFC 8259) is followed exactly
 * where a body may differ from it; where jansson is stricter than the
 * grammar (surrogate escapes it pairs, numbers it cannot hold) the reader
 * declines rather than judge.
 */
#include "bulk_scan.h"

#include <string.h>

#include "text.h"

typedef struct {
    const uint8_t *p, *end;
} scan_t;

static void scan__ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int scan__byte(scan_t *s, uint8_t c)
{
    if (s->p >= s->end || *s->p != c)
        return -1;
    s->p++;
    return 0;
}

static int scan__word(scan_t *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int scan__hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* A string at '"': its text (between the quotes) in *text and *len, and
 * whether it holds an escape. */
static int scan__string(scan_t *s, uint8_t **text, size_t *len, bool *escaped)
{
    const uint8_t *p;
    bool high = false;
    if (scan__byte(s, '"') != 0)
        return -1;
    p = s->p;
    *escaped = false;
    while (p < s->end) {
        uint8_t c = *p;
        if (c == '"') {
            *text = (uint8_t *)s->p;
            *len = (size_t)(p - s->p);
            s->p = p + 1;
            /* Escapes are ASCII: the string's other bytes are its UTF-8. */
            return high && !text_utf8_valid((const char *)*text, *len) ? -1 : 0;
        }
        if (c < 0x20) {
            return -1; /* a control character must be escaped */
        } else if (c == '\\') {
            *escaped = true;
            if (s->end - p < 2)
                return -1;
            if (p[1] == 'u') {
                int v = 0;
                if (s->end - p < 6)
                    return -1;
                for (int i = 2; i < 6; i++) {
                    int h = scan__hex(p[i]);
                    if (h < 0)
                        return -1;
                    v = v << 4 | h;
                }
                if (v >= 0xD800 && v <= 0xDFFF)
                    return -1; /* jansson pairs (or refuses) surrogates */
                p += 6;
            } else if (p[1] != '\0' && strchr("\"\\/bfnrt", p[1])) {
                p += 2;
            } else {
                return -1;
            }
        } else {
            high |= c >= 0x80;
            p++;
        }
    }
    return -1;
}

static bool scan__digit(const scan_t *s)
{
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* A JSON number, any form: only skipped (metadata is judged by jansson). */
static int scan__number(scan_t *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (!scan__digit(s))
        return -1;
    if (*s->p++ != '0')
        while (scan__digit(s))
            s->p++;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan__digit(s))
            return -1;
        while (scan__digit(s))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan__digit(s))
            return -1;
        while (scan__digit(s))
            s->p++;
    }
    return 0;
}

/* An integer field: -?(0|[1-9][0-9]*) of at most BULK_SCAN_INT_DIGITS
 * digits, not followed by a fraction or an exponent. */
static int scan__int(scan_t *s, int64_t *v)
{
    bool neg = false;
    int digits = 0;
    uint64_t u = 0;
    if (s->p < s->end && *s->p == '-')
        neg = true, s->p++;
    if (!scan__digit(s))
        return -1;
    if (*s->p == '0') {
        s->p++;
        digits = 1;
    } else {
        while (scan__digit(s)) {
            if (++digits > BULK_SCAN_INT_DIGITS)
                return -1;
            u = u * 10 + (uint64_t)(*s->p++ - '0');
        }
    }
    if (scan__digit(s) || (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')))
        return -1;
    *v = neg ? -(int64_t)u : (int64_t)u;
    return 0;
}

/* Any JSON value, skipped and checked against the grammar. */
static int scan__value(scan_t *s, int depth)
{
    uint8_t *text;
    size_t len;
    bool esc;
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        return scan__string(s, &text, &len, &esc);
    case 't':
        return scan__word(s, "true");
    case 'f':
        return scan__word(s, "false");
    case 'n':
        return scan__word(s, "null");
    case '[':
    case '{': {
        uint8_t close = *s->p == '[' ? ']' : '}';
        if (depth >= BULK_SCAN_MAX_DEPTH)
            return -1;
        s->p++;
        scan__ws(s);
        if (scan__byte(s, close) == 0)
            return 0;
        for (;;) {
            if (close == '}') {
                if (scan__string(s, &text, &len, &esc) != 0)
                    return -1;
                scan__ws(s);
                if (scan__byte(s, ':') != 0)
                    return -1;
                scan__ws(s);
            }
            if (scan__value(s, depth + 1) != 0)
                return -1;
            scan__ws(s);
            if (scan__byte(s, close) == 0)
                return 0;
            if (scan__byte(s, ',') != 0)
                return -1;
            scan__ws(s);
        }
    }
    default:
        return scan__number(s);
    }
}

/* The fields of an item, one bit each, to refuse a repeated one. */
enum {
    F_KEY = 1,
    F_VALUE = 2,
    F_BASE64 = 4,
    F_EXP = 8,
    F_TTL = 16,
    F_META = 32,
};

static int scan__field_name(const uint8_t *t, size_t n)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {{"key", F_KEY},        {"value", F_VALUE},        {"base64", F_BASE64},
                 {"expiration", F_EXP}, {"expiration_ttl", F_TTL}, {"metadata", F_META}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, t, n) == 0)
            return names[i].bit;
    return 0;
}

/* An int field or null. */
static int scan__opt_int(scan_t *s, bool *has, int64_t *v)
{
    *has = false;
    *v = 0;
    if (scan__word(s, "null") == 0)
        return 0;
    *has = true;
    return scan__int(s, v);
}

static int scan__field(scan_t *s, int bit, bulk_scan_item_t *it)
{
    const uint8_t *start = s->p;
    switch (bit) {
    case F_KEY:
        return scan__string(s, &it->key, &it->key_len, &it->key_escaped);
    case F_VALUE:
        return scan__string(s, &it->value, &it->value_len, &it->value_escaped);
    case F_BASE64:
        it->base64 = scan__word(s, "true") == 0;
        return it->base64 || scan__word(s, "false") == 0 || scan__word(s, "null") == 0 ? 0 : -1;
    case F_EXP:
        return scan__opt_int(s, &it->has_expiration, &it->expiration);
    case F_TTL:
        return scan__opt_int(s, &it->has_expiration_ttl, &it->expiration_ttl);
    case F_META:
        if (scan__word(s, "null") == 0)
            return 0;
        if (scan__value(s, 1) != 0)
            return -1;
        it->metadata = start;
        it->metadata_len = (size_t)(s->p - start);
        return 0;
    }
    return -1;
}

/* One item of a bulk put: an object of the usual fields. */
static int scan__item(scan_t *s, bulk_scan_item_t *it)
{
    int seen = 0;
    memset(it, 0, sizeof *it);
    if (scan__byte(s, '{') != 0)
        return -1;
    scan__ws(s);
    for (;;) {
        uint8_t *name;
        size_t n;
        bool esc;
        int bit;
        if (scan__string(s, &name, &n, &esc) != 0 || esc)
            return -1;
        bit = scan__field_name(name, n);
        if (bit == 0 || (seen & bit))
            return -1;
        seen |= bit;
        scan__ws(s);
        if (scan__byte(s, ':') != 0)
            return -1;
        scan__ws(s);
        if (scan__field(s, bit, it) != 0)
            return -1;
        scan__ws(s);
        if (scan__byte(s, '}') == 0)
            break;
        if (scan__byte(s, ',') != 0)
            return -1;
        scan__ws(s);
    }
    return (seen & (F_KEY | F_VALUE)) == (F_KEY | F_VALUE) ? 0 : -1;
}

/* A key of a bulk delete: a string. */
static int scan__key(scan_t *s, bulk_scan_item_t *it)
{
    memset(it, 0, sizeof *it);
    return scan__string(s, &it->key, &it->key_len, &it->key_escaped);
}

static size_t scan__array(uint8_t *body, size_t len, bulk_scan_item_t *items, size_t cap,
                          int (*one)(scan_t *, bulk_scan_item_t *))
{
    scan_t s = {body, body + len};
    size_t n = 0;
    scan__ws(&s);
    if (scan__byte(&s, '[') != 0)
        return 0;
    scan__ws(&s);
    for (;;) {
        if (n == cap || one(&s, &items[n]) != 0)
            return 0;
        n++;
        scan__ws(&s);
        if (scan__byte(&s, ']') == 0)
            break;
        if (scan__byte(&s, ',') != 0)
            return 0;
        scan__ws(&s);
    }
    scan__ws(&s);
    return s.p == s.end ? n : 0;
}

size_t bulk_scan_put(uint8_t *body, size_t len, bulk_scan_item_t *items, size_t cap)
{
    return scan__array(body, len, items, cap, scan__item);
}

size_t bulk_scan_keys(uint8_t *body, size_t len, bulk_scan_item_t *items, size_t cap)
{
    return scan__array(body, len, items, cap, scan__key);
}

/* Decode a checked string's escapes in place; returns the decoded length. */
static size_t scan__unescape(uint8_t *t, size_t n)
{
    uint8_t *w = t;
    const uint8_t *r = t, *end = t + n;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    while (r < end) {
        if (*r != '\\') {
            *w++ = *r++;
        } else if (r[1] != 'u') {
            *w++ = (uint8_t)to[strchr(from, r[1]) - from];
            r += 2;
        } else {
            unsigned v = 0;
            for (int i = 2; i < 6; i++)
                v = v << 4 | (unsigned)scan__hex(r[i]);
            r += 6;
            if (v < 0x80) {
                *w++ = (uint8_t)v;
            } else if (v < 0x800) {
                *w++ = (uint8_t)(0xC0 | v >> 6);
                *w++ = (uint8_t)(0x80 | (v & 0x3F));
            } else {
                *w++ = (uint8_t)(0xE0 | v >> 12);
                *w++ = (uint8_t)(0x80 | (v >> 6 & 0x3F));
                *w++ = (uint8_t)(0x80 | (v & 0x3F));
            }
        }
    }
    return (size_t)(w - t);
}

void bulk_scan_decode(bulk_scan_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bulk_scan_item_t *it = &items[i];
        if (it->key_escaped)
            it->key_len = scan__unescape(it->key, it->key_len), it->key_escaped = false;
        if (it->value_escaped)
            it->value_len = scan__unescape(it->value, it->value_len), it->value_escaped = false;
    }
}
