/*
 * multipart.h - a zero-copy multipart/form-data reader (RFC 7578).
 *
 * Enough for the REST value upload: finds each part's name (from
 * Content-Disposition) and its bytes. Parts point into the body; nothing is
 * allocated or copied, so a 25 MiB file part costs nothing extra.
 */
#ifndef NODE_MULTIPART_H
#define NODE_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_PARTS 8

typedef struct {
    const char *name; /* form field name (not NUL-terminated) */
    size_t name_len;
    const uint8_t *data;
    size_t len;
    bool is_file; /* the part had a filename= */
} mp_part_t;

/* True when the Content-Type names multipart/form-data. */
bool mp_is_multipart(const char *ct, size_t ct_len);

/* Split `body` by the boundary of content type `ct`. Returns 0 and fills
 * parts[0..*n) or -1 when the body is malformed or has more than max parts. */
int mp_parse(const char *ct, size_t ct_len, const uint8_t *body, size_t len, mp_part_t *parts,
             size_t max, size_t *n);

/* The first part named `name`, or NULL. */
const mp_part_t *mp_find(const mp_part_t *parts, size_t n, const char *name);

#endif
