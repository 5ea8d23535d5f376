/* kv_rand.c - see kv_rand.h. */
#include "kv_rand.h"

#include <errno.h>
#include <sys/random.h>

#include "kv_err.h"

int kv_random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[KV_RAND_HEX_MAX / 2];
    size_t bytes = (n + 1) / 2, got = 0;
    if (n > KV_RAND_HEX_MAX)
        return KV_EINVAL;
    while (got < bytes) { /* getrandom may return short, or be interrupted */
        ssize_t r = getrandom(buf + got, bytes - got, 0);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r > 0)
            got += (size_t)r;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = hex[(buf[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
    out[n] = '\0';
    return 0;
}
