/*
 * ha_sync.c - the standbys' record (ha_sync.h).
 */
#include "ha_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_limits.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > KV_TLS_PEER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

int ha_sync_format(char *buf, size_t size, int64_t term, const char *leader,
                   const char *const *standbys, size_t n)
{
    if (!leader || !name_ok(leader, strlen(leader)) || n > KV_REPL_SYNC_STANDBYS_MAX || term < 0)
        return KV_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!standbys[i] || !name_ok(standbys[i], strlen(standbys[i])))
            return KV_EINVAL;
    int w = snprintf(buf, size, "%" PRId64 " %s %s", term, leader, n ? "" : "-");
    if (w < 0 || (size_t)w >= size)
        return KV_ETOOBIG;
    size_t len = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(buf + len, size - len, "%s%s", i ? "," : "", standbys[i]);
        if (w < 0 || (size_t)w >= size - len)
            return KV_ETOOBIG;
        len += (size_t)w;
    }
    return 0;
}

/* The next field of a space-separated record: [*s, end) up to a space. */
static bool field(const char **s, const char **start, size_t *len)
{
    const char *p = *s, *e = strchr(p, ' ');
    if (!e)
        e = p + strlen(p);
    if (e == p)
        return false;
    *start = p;
    *len = (size_t)(e - p);
    *s = *e ? e + 1 : e;
    return true;
}

bool ha_sync_may_claim(const char *record, const char *name)
{
    const char *s = record, *f;
    size_t n, want = strlen(name);
    bool named = false;
    if (!record)
        return true;
    /* the term */
    if (!field(&s, &f, &n) || n > 19 || strspn(f, "0123456789") < n)
        return false;
    /* the leader */
    if (!field(&s, &f, &n) || !name_ok(f, n))
        return false;
    named = n == want && memcmp(f, name, n) == 0;
    /* the standbys */
    if (!field(&s, &f, &n) || *s != '\0')
        return false;
    if (n == 1 && f[0] == '-')
        return named;
    size_t count = 0;
    for (const char *p = f, *end = f + n; p < end;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t m = c ? (size_t)(c - p) : (size_t)(end - p);
        if (!name_ok(p, m) || ++count > KV_REPL_SYNC_STANDBYS_MAX)
            return false;
        named = named || (m == want && memcmp(p, name, m) == 0);
        p += m + (c ? 1 : 0);
        if (c && p == end)
            return false; /* a trailing comma */
    }
    return named;
}
