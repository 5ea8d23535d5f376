/*
 * kv_err.h - project-wide error codes.
 *
 * Every fallible edgekv function returns an int: 0 on success or a negative
 * code. Operating-system failures are passed through as -errno; edgekv's own
 * conditions live in a reserved range below KV_ERR_BASE so the two never
 * collide (the same trick LMDB uses). One X-macro table generates both the
 * enum and kv_strerror(), so a code cannot exist without its text.
 */
#ifndef KV_ERR_H
#define KV_ERR_H

#define KV_ERR_BASE (-30000)

/* XX(name, text) */
#define KV_ERR_MAP(XX)                                                                             \
    XX(NOTFOUND, "not found")                                                                      \
    XX(EXISTS, "already exists")                                                                   \
    XX(INVAL, "invalid argument")                                                                  \
    XX(STALE, "version is not newer than the stored one")                                          \
    XX(CORRUPT, "stored data is corrupt")                                                          \
    XX(IO, "storage I/O error")                                                                    \
    XX(TOOBIG, "size limit exceeded")                                                              \
    XX(LIMIT, "count limit reached")                                                               \
    XX(BADCURSOR, "invalid list cursor")                                                           \
    XX(CLOCK, "clock hint too far in the future")                                                  \
    XX(CONFIG, "invalid configuration")                                                            \
    XX(SHUTDOWN, "shutting down")                                                                  \
    XX(UNAVAILABLE, "origin unreachable")                                                          \
    XX(TIMEDOUT, "timed out")                                                                      \
    XX(HISTORY, "history changed")                                                                 \
    XX(BUSY, "overloaded, try again")                                                              \
    XX(UNAUTH, "no valid API token")                                                               \
    XX(FORBIDDEN, "API token lacks the scope")

enum {
    KV_E__FIRST = KV_ERR_BASE,
#define KV__ERR_ENUM(name, text) KV_E##name,
    KV_ERR_MAP(KV__ERR_ENUM)
#undef KV__ERR_ENUM
        KV_E__LAST
};

/* Text for any code this project returns (kv_ codes and -errno). The
 * returned string is static; never NULL. */
const char *kv_strerror(int err);

#endif
