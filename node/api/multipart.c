/* multipart.c - the multipart/form-data reader of multipart.h. */
#include "multipart.h"

#include <string.h>
#include <strings.h>

#define MP_BOUNDARY_MAX 200 /* RFC 2046 allows 70; be generous */

bool mp_is_multipart(const char *ct, size_t ct_len)
{
    static const char mt[] = "multipart/form-data";
    return ct_len >= sizeof mt - 1 && strncasecmp(ct, mt, sizeof mt - 1) == 0;
}

static int get_boundary(const char *ct, size_t ct_len, char *out, size_t *out_len)
{
    const char *end = ct + ct_len, *p = ct;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        p = semi ? semi + 1 : end;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) > 9 && strncasecmp(p, "boundary=", 9) == 0) {
            const char *v = p + 9, *ve;
            if (v >= end)
                return -1;
            if (*v == '"') {
                v++;
                ve = memchr(v, '"', (size_t)(end - v));
                if (!ve)
                    return -1;
            } else {
                ve = memchr(v, ';', (size_t)(end - v));
                if (!ve)
                    ve = end;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
            }
            if (ve == v || (size_t)(ve - v) > MP_BOUNDARY_MAX)
                return -1;
            memcpy(out, v, (size_t)(ve - v));
            *out_len = (size_t)(ve - v);
            return 0;
        }
    }
    return -1;
}

/* Parse the part headers in [p, hend): name and filename of the disposition. */
static void part_headers(const char *p, const char *hend, mp_part_t *part)
{
    while (p < hend) {
        const char *eol = memmem(p, (size_t)(hend - p), "\r\n", 2);
        const char *le = eol ? eol : hend;
        if ((size_t)(le - p) > 20 && strncasecmp(p, "content-disposition:", 20) == 0) {
            const char *n = memmem(p, (size_t)(le - p), "name=\"", 6);
            while (n && n > p && (n[-1] != ' ' && n[-1] != ';'))
                n = memmem(n + 1, (size_t)(le - n - 1), "name=\"", 6);
            if (n) {
                const char *q = memchr(n + 6, '"', (size_t)(le - n - 6));
                if (q) {
                    part->name = n + 6;
                    part->name_len = (size_t)(q - n - 6);
                }
            }
            part->is_file = memmem(p, (size_t)(le - p), "filename=", 9) != NULL;
        }
        p = le + 2;
    }
}

int mp_parse(const char *ct, size_t ct_len, const uint8_t *body, size_t len, mp_part_t *parts,
             size_t max, size_t *n)
{
    char delim[MP_BOUNDARY_MAX + 4];
    size_t blen, dlen;
    const char *p = (const char *)body, *end;

    *n = 0;
    if (!body) /* no body at all (NULL): no delimiter, and no p + 0 on NULL */
        return -1;
    end = p + len;
    delim[0] = '\r', delim[1] = '\n', delim[2] = '-', delim[3] = '-';
    if (get_boundary(ct, ct_len, delim + 4, &blen) != 0)
        return -1;
    dlen = blen + 4;
    /* The first delimiter may come without the leading CRLF. */
    if ((size_t)(end - p) < dlen - 2 || memcmp(p, delim + 2, dlen - 2) != 0)
        return -1;
    p += dlen - 2;
    for (;;) {
        const char *hend, *next;
        mp_part_t part = {0};
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* close delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return -1;
        p += 2;
        hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return -1;
        part_headers(p, hend + 2, &part);
        p = hend + 4;
        next = memmem(p, (size_t)(end - p), delim, dlen);
        if (!next || *n == max)
            return -1;
        part.data = (const uint8_t *)p;
        part.len = (size_t)(next - p);
        parts[(*n)++] = part;
        p = next + dlen;
    }
}

const mp_part_t *mp_find(const mp_part_t *parts, size_t n, const char *name)
{
    size_t nl = strlen(name), i;
    for (i = 0; i < n; i++)
        if (parts[i].name_len == nl && (nl == 0 || memcmp(parts[i].name, name, nl) == 0))
            return &parts[i];
    return NULL;
}
