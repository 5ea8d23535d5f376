/*
 * kv_log.h - minimal leveled logging to stderr.
 *
 * One line per event, prefixed with the level and the module. Thread-safe
 * (each line is written with a single fprintf). Not a metrics channel: counts
 * go to /metrics, not the log.
 */
#ifndef KV_LOG_H
#define KV_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { KV_LOG_DEBUG, KV_LOG_INFO, KV_LOG_WARN, KV_LOG_ERROR } kv_log_level_t;

void kv_log_set_level(kv_log_level_t level);

__attribute__((format(printf, 3, 4))) void kv_log(kv_log_level_t level, const char *module,
                                                  const char *fmt, ...);

#define KV_LOG_DEBUG(mod, ...) kv_log(KV_LOG_DEBUG, mod, __VA_ARGS__)
#define KV_LOG_INFO(mod, ...)  kv_log(KV_LOG_INFO, mod, __VA_ARGS__)
#define KV_LOG_WARN(mod, ...)  kv_log(KV_LOG_WARN, mod, __VA_ARGS__)
#define KV_LOG_ERROR(mod, ...) kv_log(KV_LOG_ERROR, mod, __VA_ARGS__)

/* A rate limit for one kind of line that strangers can cause as often as
 * they like (a failed TLS handshake): at most one line per interval, which
 * says how many were held back. Zeroed to start. Not locked: one owner
 * thread per limit. */
typedef struct {
    uint64_t last_ms; /* when a line was last let through */
    bool any;         /* one was */
    uint64_t held;    /* events held back since */
} kv_log_limit_t;

/* An event at now_ms (the caller's millisecond clock; one seen going back
 * lets the line through rather than silence it). True: write its line,
 * with *held (may be NULL) the number of events held back since the last
 * line written. False: held back and counted. */
bool kv_log_limit(kv_log_limit_t *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *held);

#endif
