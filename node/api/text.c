/* text.c - the codecs of text.h. */
#include "text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long text_pct_decode(const char *src, size_t src_len, char *dst, bool plus_is_space)
{
    size_t i, o = 0;
    for (i = 0; i < src_len; i++) {
        char c = src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= src_len)
                return -1;
            hi = hexval((unsigned char)src[i + 1]);
            lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = c;
        }
    }
    return (long)o;
}

int text_query_get(const char *query, size_t query_len, const char *name, const char **val,
                   size_t *val_len)
{
    size_t name_len = strlen(name);
    if (!query)
        return 0; /* absent (NULL + 0 is undefined behaviour) */
    const char *p = query, *end = query + query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        const char *key_end = eq ? eq : seg_end;
        if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            *val = eq ? eq + 1 : seg_end;
            *val_len = (size_t)(seg_end - *val);
            return 1;
        }
        p = seg_end + 1;
    }
    return 0;
}

long text_query_decode(const char *query, size_t query_len, const char *name, char *buf, size_t cap)
{
    const char *v;
    size_t vlen;
    long n;
    if (!text_query_get(query, query_len, name, &v, &vlen))
        return -1;
    if (vlen >= cap)
        return -2;
    n = text_pct_decode(v, vlen, buf, true);
    if (n < 0)
        return -2;
    buf[n] = '\0';
    return n;
}

bool text_parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    int64_t v = 0;
    *out = 0;
    if (len == 0)
        return false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len || s[i] < '0' || s[i] > '9')
        return false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    }
    if (i != len)
        return false;
    *out = neg ? -v : v;
    return true;
}

/* [+-]DIGITS[.DIGITS][(e|E)[+-]DIGITS]: a decimal number. */
static bool num_text(const char *s, size_t n)
{
    size_t i = 0, digits = 0, exp_digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits == 0)
        return false;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    return i == n;
}

text_num_t text_num_real(double d, int64_t *out)
{
    *out = 0;
    if (d != d)
        return TEXT_NUM_NAN;
    if (!(d >= (double)INT32_MIN && d <= (double)INT32_MAX)) {
        *out = d < 0 ? INT64_MIN : INT64_MAX;
        return TEXT_NUM_RANGE;
    }
    *out = (int64_t)d; /* in range: the cast is defined and drops the fraction */
    return TEXT_NUM_OK;
}

/* Text longer than this is not converted: as a number it is out of range
 * (or an absurd spelling of a small one, which no client sends). */
#define NUM_TEXT_MAX 64

text_num_t text_parse_num(const char *s, size_t len, int64_t *out)
{
    char buf[NUM_TEXT_MAX + 1];
    *out = 0;
    if (!num_text(s, len))
        return TEXT_NUM_NAN;
    if (len > NUM_TEXT_MAX) {
        *out = s[0] == '-' ? INT64_MIN : INT64_MAX;
        return TEXT_NUM_RANGE;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return text_num_real(strtod(buf, NULL), out);
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Mirrors Go's decodeQuantum: reads up to 4 significant characters,
 * skipping CR/LF, handling '=' padding, and reports the offset Go would. */
long text_b64_decode(const char *src, size_t src_len, uint8_t *dst, size_t *err_pos)
{
    size_t si = 0, o = 0;
    while (si < src_len) {
        uint32_t acc = 0;
        size_t j = 0;
        for (j = 0; j < 4; j++) {
            int c, v;
            while (si < src_len && (src[si] == '\n' || src[si] == '\r'))
                si++;
            if (si == src_len) {
                if (j == 0)
                    return (long)o;
                *err_pos = si - j;
                return -1;
            }
            c = (unsigned char)src[si++];
            if (c == '=') {
                if (j < 2) {
                    *err_pos = si - 1;
                    return -1;
                }
                if (j == 2) {
                    while (si < src_len && (src[si] == '\n' || src[si] == '\r'))
                        si++;
                    if (si == src_len) {
                        *err_pos = src_len;
                        return -1;
                    }
                    if (src[si] != '=') {
                        *err_pos = si - 1;
                        return -1;
                    }
                    si++;
                }
                while (si < src_len && (src[si] == '\n' || src[si] == '\r'))
                    si++;
                if (si < src_len) {
                    *err_pos = si;
                    return -1;
                }
                break;
            }
            v = b64val(c);
            if (v < 0) {
                *err_pos = si - 1;
                return -1;
            }
            acc = (acc << 6) | (uint32_t)v;
        }
        if (j == 4) {
            dst[o++] = (uint8_t)(acc >> 16);
            dst[o++] = (uint8_t)(acc >> 8);
            dst[o++] = (uint8_t)acc;
        } else if (j == 3) {
            acc <<= 6;
            dst[o++] = (uint8_t)(acc >> 16);
            dst[o++] = (uint8_t)(acc >> 8);
        } else if (j == 2) {
            acc <<= 12;
            dst[o++] = (uint8_t)(acc >> 16);
        }
    }
    return (long)o;
}

size_t text_b64_encode(const uint8_t *src, size_t len, char *dst)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[o++] = tbl[v >> 18];
        dst[o++] = tbl[(v >> 12) & 63];
        dst[o++] = tbl[(v >> 6) & 63];
        dst[o++] = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < len ? (uint32_t)src[i + 1] << 8 : 0);
        dst[o++] = tbl[v >> 18];
        dst[o++] = tbl[(v >> 12) & 63];
        dst[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        dst[o++] = '=';
    }
    dst[o] = '\0';
    return o;
}

bool text_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool text_ieq(const char *a, size_t a_len, const char *b)
{
    return strlen(b) == a_len && strncasecmp(a, b, a_len) == 0;
}
